import Logging
import NIOCore
import RelayCore
import ServiceLifecycle
import TorProtocol

/// Serves `MetricsPort` (Prometheus text) on every configured address until shutdown.
struct MetricsPortService: Service {
    let listeners: [ORPortConfig]
    let policy: ExitPolicy
    let metrics: RelayMetrics
    let group: any EventLoopGroup
    let logger: Logger

    func run() async throws {
        var servers = [MetricsServer]()
        for l in listeners {
            let s = try await MetricsServer.bind(host: l.host, port: l.port, group: group, policy: policy, metrics: metrics, logger: logger)
            servers.append(s)
            logger.notice("MetricsPort listening", metadata: [
                "address": "\(s.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?")",
            ])
        }
        if policy.isExit == false {
            logger.warning("MetricsPort has no MetricsPortPolicy accept rule: every scrape is refused")
        }
        try? await gracefulShutdown()
        for s in servers { try? await s.close() }
    }
}
