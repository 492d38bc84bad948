import Foundation
import Logging
import NIOConcurrencyHelpers
import RelayCore
import RelayStore
import ServiceLifecycle
import TorCrypto
import TorProtocol

/// What GETINFO accounting/* reports.
final class AccountingStatus: Sendable {
    struct Snapshot: Sendable {
        var enabled = false
        var state = AccountingConfig.State.awake
        var read: UInt64 = 0
        var written: UInt64 = 0
        var max: UInt64 = 0
        var rule = AccountingConfig.Rule.max
        var start: Date?
        var wake: Date?
        var end: Date?
    }
    private let box = NIOLockedValueBox(Snapshot())
    var snapshot: Snapshot { box.withLockedValue { $0 } }
    func update(_ s: Snapshot) { box.withLockedValue { $0 = s } }
}

/// AccountingMax: counts the bytes of the current interval into the node database every few
/// seconds, and moves the relay between awake, soft hibernation (no new connections or
/// circuits) and hard hibernation (every link closed) as C tor does; a new interval wakes it.
/// The descriptor says `hibernating 1` while it is not awake.
struct AccountingService: Service {
    let config: AccountingConfig
    let database: NodeDatabase
    let traffic: TrafficCounters
    let relay: RelayContext
    /// Makes the wake time differ per relay (C tor hashes its identity key with the interval).
    let identity: [UInt8]
    let status: AccountingStatus
    let tick: Double
    let logger: Logger

    func run() async throws {
        guard config.enabled else {
            try? await gracefulShutdown()
            return
        }
        var last = await traffic.snapshot()
        var plan = try Plan(self, now: Date())
        var state = AccountingConfig.State.awake
        func apply(_ s: AccountingConfig.State, _ why: String) {
            guard s != state else { return }
            state = s
            relay.setHibernation(s)
            logger.notice("accounting: \(s == .awake ? "awake" : "hibernating (\(s.rawValue))")", metadata: [
                "why": "\(why)", "used": "\(plan.usage)", "max": "\(config.max)",
            ])
            try? database.recordHealthEvent(.hibernation, ok: s == .awake, detail: "\(s.rawValue): \(why)")
        }
        apply(plan.state(Date()), "at start")
        publish(plan, state)
        while await sleepUntilNextBoundary(of: tick, clock: { Date().timeIntervalSince1970 }) {
            let now = Date()
            let snap = await traffic.snapshot()
            if now >= plan.end {
                try? database.saveAccounting(plan.record)
                plan = try Plan(self, now: now)
                apply(plan.state(now), "a new accounting interval began")
            }
            plan.add(read: snap.read &- last.read, written: snap.written &- last.written, now: now)
            last = snap
            apply(plan.state(now), plan.usage >= config.max ? "AccountingMax reached" : plan.usage >= plan.soft ? "near AccountingMax" : "wake time")
            try? database.saveAccounting(plan.record)
            publish(plan, state)
        }
        let snap = await traffic.snapshot()
        plan.add(read: snap.read &- last.read, written: snap.written &- last.written, now: Date())
        try? database.saveAccounting(plan.record)
    }

    func publish(_ plan: Plan, _ state: AccountingConfig.State) {
        status.update(.init(enabled: true, state: state, read: plan.record.read, written: plan.record.written, max: config.max,
                            rule: config.rule, start: plan.start, wake: plan.wake, end: plan.end))
    }

    /// One interval: its counts, soft limit and wake time.
    struct Plan {
        let config: AccountingConfig
        let start: Date, end: Date
        var record: AccountingRecord
        let soft: UInt64
        let wake: Date

        init(_ s: AccountingService, now: Date) throws {
            config = s.config
            (start, end) = s.config.interval(containing: now)
            let from = Int64(start.timeIntervalSince1970)
            record = try s.database.accounting(intervalStart: from)
                ?? AccountingRecord(intervalStart: from, intervalEnd: Int64(end.timeIntervalSince1970))
            // The rate expected from the last interval counted (bytes per minute): up to where it
            // hit the soft limit, else over the whole interval.
            var expected: UInt64 = 0
            if let prev = try s.database.accounting(before: from) {
                if let at = prev.softLimitAt, let bytes = prev.bytesAtSoft, at > prev.intervalStart {
                    expected = bytes / UInt64(max(1, (at - prev.intervalStart) / 60))
                } else {
                    expected = s.config.usage(read: prev.read, written: prev.written) / UInt64(max(1, (prev.intervalEnd - prev.intervalStart) / 60))
                }
            }
            soft = s.config.softLimit(expectedBytesPerMinute: expected)
            wake = s.config.wakeTime(start: start, end: end, expectedBytesPerMinute: expected,
                                     seed: Digest.sha1(Array("\(from)".utf8) + s.identity))
        }

        var usage: UInt64 { config.usage(read: record.read, written: record.written) }

        mutating func add(read: UInt64, written: UInt64, now: Date) {
            record.read &+= read
            record.written &+= written
            if record.softLimitAt == nil, usage >= soft {
                record.softLimitAt = Int64(now.timeIntervalSince1970)
                record.bytesAtSoft = usage
            }
        }

        func state(_ now: Date) -> AccountingConfig.State {
            config.state(usage: usage, softLimit: soft, now: now, wake: wake)
        }
    }
}
