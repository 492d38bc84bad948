import ArgumentParser
import Foundation
import Logging
import NIOPosix
import RelayCore
import RelayStore
import ServiceLifecycle

/// Intervals of the statistics services. Hidden: operators keep the defaults; tests shorten them.
struct OperationsOptions: ParsableArguments {
    @Option(help: .hidden) var bandwidthSampleInterval: Double = 10
    @Option(help: .hidden) var bandwidthFlushInterval: Double = 60
    @Option(help: .hidden) var healthSampleInterval: Double = 60

    func validate() throws {
        for (name, v) in [("--bandwidth-sample-interval", bandwidthSampleInterval),
                          ("--bandwidth-flush-interval", bandwidthFlushInterval),
                          ("--health-sample-interval", healthSampleInterval)] where !(v >= 0.05 && v <= 86_400) {
            throw ValidationError("\(name) must be between 0.05 and 86400 seconds")
        }
    }
}

/// Sleeps until the next multiple of `interval` seconds of wall-clock time (so samples fall on
/// the same boundaries as the 15-minute bins), or until graceful shutdown. False on shutdown.
func sleepUntilNextBoundary(of interval: Double, clock now: () -> Double) async -> Bool {
    let t = now()
    let next = ((t / interval).rounded(.down) + 1) * interval
    do {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(next - t)) }
        return !Task.isCancelled
    } catch {
        return false
    }
}

extension OperationsOptions {
    /// The statistics services `run` starts before the ORPort (and stops after it).
    func services(_ prepared: PreparedRelay, _ env: LinkEnvironment, _ group: MultiThreadedEventLoopGroup,
                  _ logger: Logger) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let database = prepared.database
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: HealthRecorder(database: database, links: env.stats, relay: env.relay, limiter: env.limiter,
                                          sampleInterval: healthSampleInterval, logger: logger)),
            .init(service: BandwidthRecorder(traffic: env.traffic, database: database, sampleInterval: bandwidthSampleInterval,
                                             flushInterval: bandwidthFlushInterval, logger: logger)),
        ]
        let metricsPort = prepared.config.metrics
        if !metricsPort.listeners.isEmpty {
            let expiry = prepared.keys.signingCertExpiration
            let metrics = RelayMetrics(sources: .init(traffic: env.traffic, links: env.stats, relay: env.relay,
                                                      eventLoops: group.makeIterator().map { _ in 1 }.count,
                                                      signingCertExpiry: { expiry }))
            services.append(.init(service: MetricsPortService(listeners: metricsPort.listeners, policy: try metricsPort.policy(),
                                                              metrics: metrics, group: group, logger: logger)))
        }
        return services
    }
}

extension NodeDatabase {
    /// Key rotations done at start, as health events.
    func recordKeyHealthEvents(_ events: [KeyEvent]) throws {
        for e in events {
            switch e.kind {
            case .rotated: try recordHealthEvent(.onionRotated, at: Date(timeIntervalSince1970: TimeInterval(e.at)), detail: e.detail)
            case .renewed: try recordHealthEvent(.signingRenewed, at: Date(timeIntervalSince1970: TimeInterval(e.at)), detail: e.detail)
            default: break
            }
        }
    }
}
