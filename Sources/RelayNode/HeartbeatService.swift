import Foundation
import Logging
import RelayCore
import ServiceLifecycle

/// The heartbeat line C tor operators know from their logs (`HeartbeatPeriod`, `SIGNAL
/// HEARTBEAT`): uptime, open links and circuits, and the bytes read and written so far.
struct Heartbeat: Sendable {
    let env: LinkEnvironment
    let started: Date
    let logger: Logger

    func beat() async {
        let t = await env.traffic.snapshot()
        let up = Int(Date().timeIntervalSince(started))
        logger.notice("Heartbeat: relaynode has been up for \(up / 86_400) days \(up % 86_400 / 3600):\(String(format: "%02d", up % 3600 / 60)) hours, with \(env.stats.snapshot.openLinks) links and \(env.relay.stats.snapshot.circuitsOpen) circuits open; it has read \(Self.mb(t.read)) and written \(Self.mb(t.written)).")
    }

    static func mb(_ n: UInt64) -> String { String(format: "%.2f MB", Double(n) / 1_048_576) }
}

/// Logs a heartbeat every `period` seconds until shutdown.
struct HeartbeatService: Service {
    let heartbeat: Heartbeat
    let period: Double

    func run() async throws {
        while true {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(period)) }
            } catch {
                return
            }
            if Task.isCancelled { return }
            await heartbeat.beat()
        }
    }
}
