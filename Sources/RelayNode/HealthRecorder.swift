import Foundation
import Logging
import RelayCore
import RelayStore
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// Records the daemon's start and stop, notes a previous run that ended without a stop
/// (killed or crashed), and samples links, circuits, queued cells, onionskin drops, memory
/// and descriptors every `sampleInterval` seconds; overload seen between two samples becomes
/// an event. The only writer of `health_sample`.
struct HealthRecorder: Service {
    let database: NodeDatabase
    let links: LinkStats
    let relay: RelayContext
    /// BandwidthRate's buckets, when configured: stalls become overload_ratelimits events.
    var limiter: BandwidthLimiter?
    var sampleInterval: Double = 60
    let logger: Logger
    var clock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

    func run() async {
        let pid = getpid()
        record {
            if let last = try database.lastStartOrStop(), last.kind == .start {
                let sample = try database.latestHealthSample()
                try database.recordHealthEvent(.crashRecovered, at: now, pid: last.pid, detail:
                    "the run started at \(isoTime(last.at))\(last.pid.map { " (pid \($0))" } ?? "") ended without a clean stop"
                    + (sample.map { "; its last sample was at \(isoTime($0.at))" } ?? ""))
            }
            try database.recordHealthEvent(.start, at: now, pid: pid, detail: "relaynode \(RelayNodeCommand.version)")
        }
        var previous = sample()
        var stalls = limiter?.stalls ?? (0, 0)
        record { try database.recordHealthSample(previous) }
        var lastPrune = clock()
        while await sleepUntilNextBoundary(of: sampleInterval, clock: clock) {
            let current = sample()
            record {
                try database.recordHealthSample(current)
                try noteOverload(from: previous, to: current)
            }
            if let now = limiter?.stalls, now.read + now.write > stalls.0 + stalls.1 {
                record {
                    try database.recordHealthEvent(.overloadRateLimits, at: self.now,
                                                   detail: "BandwidthRate reached: links waited for tokens \(now.read - stalls.0) times reading, \(now.write - stalls.1) times writing")
                }
                stalls = now
            }
            previous = current
            if clock() - lastPrune >= 3600 {
                record { try database.pruneHealth(now: now) }
                lastPrune = clock()
            }
        }
        record {
            try database.recordHealthSample(sample())
            try database.recordHealthEvent(.stop, at: now, pid: pid)
        }
    }

    private var now: Date { Date(timeIntervalSince1970: clock()) }

    private func sample() -> HealthSample {
        let circuits = relay.stats.snapshot
        return HealthSample(at: now, linksOpen: links.snapshot.openLinks, circuitsOpen: circuits.circuitsOpen,
                            queuedCells: max(0, relay.queued.current),
                            onionskinDrops: relay.workers.counterSnapshot.dropped.values.reduce(0, +),
                            rssBytes: ProcessResources.residentBytes(), openFDs: ProcessResources.openDescriptors())
    }

    /// Onionskin drops and circuits killed for memory since the previous sample.
    private func noteOverload(from a: HealthSample, to b: HealthSample) throws {
        if b.onionskinDrops > a.onionskinDrops {
            try database.recordHealthEvent(.overloadOnionskin, at: now,
                                           detail: "\(b.onionskinDrops - a.onionskinDrops) CREATE cells dropped: onionskin queue full")
        }
    }

    private func record(_ body: () throws -> Void) {
        do { try body() } catch { logger.error("could not write health record", metadata: ["error": "\(error)"]) }
    }

    private func isoTime(_ t: Int64) -> String { iso(Date(timeIntervalSince1970: TimeInterval(t))) }
}

/// This process's memory and descriptors, from /proc on Linux (nil elsewhere).
enum ProcessResources {
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func openDescriptors() -> Int? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        return max(0, entries.count - 1)  // less the descriptor used to list the directory
    }
}
