import Foundation

/// `fleetctl health`: every relay's own verdict (`relaynode health --json` run on its host,
/// which checks the process there and a link handshake to the ORPort), plus a check that the
/// host serves the identity the inventory recorded.
public struct RelayHealth: Sendable {
    public var nickname: String
    public var host: String
    public var healthy: Bool
    public var running: Bool?
    public var uptimeSeconds: Int64?
    public var signingExpires: Int64?
    public var problems: [String]

    public static func collect(database: FleetDatabase) throws -> [RelayHealth] {
        try perHost(database.relays().filter { $0.relay.desiredState != .retired }) { v in
            let layout = RelayLayout(host: v.host, nickname: v.relay.nickname)
            var h = RelayHealth(nickname: v.relay.nickname, host: v.host.name, healthy: false, problems: [])
            do {
                // Exit status 1 means unhealthy and still prints the JSON report.
                let r = try v.host.makeTransport().run(v.host.relaynode() + ["health", "--json", "--config", layout.torrc], timeout: 60)
                guard let o = try? JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any] else {
                    h.problems = ["relaynode health failed (exit \(r.status)): \(r.lastErrorLine)"]
                    return h
                }
                h.healthy = (o["healthy"] as? Bool) ?? false
                h.running = o["running"] as? Bool
                h.uptimeSeconds = (o["uptime_seconds"] as? NSNumber)?.int64Value
                h.signingExpires = (o["signing_cert_expires_unix"] as? NSNumber)?.int64Value
                h.problems = (o["problems"] as? [String]) ?? []
                if let fp = o["rsa_fingerprint"] as? String, let want = v.identity?.rsaFingerprint, fp != want {
                    h.healthy = false
                    h.problems.append("host serves identity \(fp), the inventory says \(want)")
                }
            } catch {
                h.problems = ["\(error)"]
            }
            return h
        }
    }
}
