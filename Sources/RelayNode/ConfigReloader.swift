import Foundation
import Logging
import NIOConcurrencyHelpers
import RelayCore
import ServiceLifecycle
import TorProtocol
import UnixSignals

/// The configuration in force, which SIGHUP (or the control port's SIGNAL RELOAD) may change.
final class LiveConfig: Sendable {
    private let box: NIOLockedValueBox<RelayConfig>
    init(_ config: RelayConfig) { box = NIOLockedValueBox(config) }
    var current: RelayConfig { box.withLockedValue { $0 } }
    func replace(_ config: RelayConfig) { box.withLockedValue { $0 = config } }
}

/// On SIGHUP, reads the torrc again. A file that doesn't parse changes nothing (the error, with
/// its file and line, is logged). Otherwise what can change while running takes effect — the
/// bandwidth limits, the exit policy, and what the descriptor says (nickname, contact,
/// family, advertised bandwidth; the publisher notices and republishes) — and options that need
/// a restart are named in the log and keep their running value.
struct ConfigReloader: Service {
    let load: @Sendable () throws -> RelayConfig
    let live: LiveConfig
    let relay: RelayContext
    let limiter: BandwidthLimiter?
    let logger: Logger
    /// SIGHUPs (from `SighupFanout`).
    let sighups: AsyncStream<Void>

    func run() async throws {
        let signals = sighups
        await withTaskGroup(of: Void.self) { g in
            g.addTask {
                for await _ in signals { reload() }
            }
            g.addTask { try? await gracefulShutdown() }
            await g.next()
            g.cancelAll()
        }
    }

    /// What a reload applies, and what it reports as needing a restart.
    struct Outcome: Equatable {
        var applied: [String] = []
        var needsRestart: [String] = []
    }

    @discardableResult
    func reload() -> Outcome? {
        let new: RelayConfig
        do {
            new = try load()
        } catch let e as TorProtocolError {
            logger.error("SIGHUP: the configuration has an error; keeping the running configuration", metadata: ["error": "\(e.context)"])
            return nil
        } catch {
            logger.error("SIGHUP: cannot read the configuration; keeping the running configuration", metadata: ["error": "\(error)"])
            return nil
        }
        let old = live.current
        let (merged, outcome) = Self.merge(old: old, new: new)
        if merged.effectiveBandwidthRate != old.effectiveBandwidthRate || merged.effectiveBandwidthBurst != old.effectiveBandwidthBurst {
            if let limiter {
                limiter.setLimits(rate: merged.effectiveBandwidthRate, burst: max(merged.effectiveBandwidthBurst, merged.effectiveBandwidthRate))
            } else if merged.effectiveBandwidthRate < RelayConfig().bandwidthRate {
                logger.warning("SIGHUP: a bandwidth limit on a relay started without one takes effect after a restart")
            }
        }
        if let policy = try? merged.effectiveExitPolicy(), (try? old.effectiveExitPolicy()) != policy {
            relay.setExitPolicy(policy)
        }
        live.replace(merged)
        logger.notice("SIGHUP: configuration reloaded", metadata: [
            "changed": "\(outcome.applied.isEmpty ? "nothing" : outcome.applied.joined(separator: ", "))",
        ])
        if !outcome.needsRestart.isEmpty {
            logger.warning("SIGHUP: changed options that take effect only after a restart (still running with the old values)",
                           metadata: ["options": "\(outcome.needsRestart.joined(separator: ", "))"])
        }
        return outcome
    }

    /// The running configuration with the runtime-changeable options taken from `new`.
    static func merge(old: RelayConfig, new: RelayConfig) -> (RelayConfig, Outcome) {
        var m = old
        var o = Outcome()
        func take<T: Equatable>(_ name: String, _ path: WritableKeyPath<RelayConfig, T>) {
            guard old[keyPath: path] != new[keyPath: path] else { return }
            m[keyPath: path] = new[keyPath: path]
            o.applied.append(name)
        }
        take("Nickname", \.nickname)
        take("ContactInfo", \.contactInfo)
        take("MyFamily", \.myFamily)
        take("FamilyId", \.familyIds)
        take("ExitRelay", \.exitRelay)
        take("ExitPolicy", \.exitPolicyLines)
        take("ExitPolicyRejectPrivate", \.exitPolicyRejectPrivate)
        take("BandwidthRate", \.bandwidthRate)
        take("BandwidthBurst", \.bandwidthBurst)
        take("RelayBandwidthRate", \.operations.relayBandwidthRate)
        take("RelayBandwidthBurst", \.operations.relayBandwidthBurst)
        take("MaxAdvertisedBandwidth", \.operations.maxAdvertisedBandwidth)
        func restart<T: Equatable>(_ name: String, _ path: KeyPath<RelayConfig, T>) {
            if old[keyPath: path] != new[keyPath: path] { o.needsRestart.append(name) }
        }
        restart("DataDirectory", \.dataDirectory)
        restart("ORPort", \.orPorts)
        restart("Address", \.address)
        restart("NumCPUs", \.numCPUs)
        restart("OfflineMasterKey", \.offlineMasterKey)
        restart("SigningKeyLifetime", \.signingKeyLifetime)
        restart("DirAuthority", \.dirAuthorities)
        restart("TestingTorNetwork", \.testingTorNetwork)
        restart("AssumeReachable", \.assumeReachable)
        restart("PublishServerDescriptor", \.publishServerDescriptor)
        restart("MetricsPort/MetricsPortPolicy", \.metrics)
        restart("ControlPort and its authentication", \.control)
        restart("Log", \.operations.logs)
        restart("SafeLogging", \.operations.safeLogging)
        restart("HeartbeatPeriod", \.operations.heartbeatPeriod)
        restart("AccountingMax/AccountingStart/AccountingRule", \.operations.accounting)
        return (m, o)
    }
}
