import ArgumentParser
import FleetKit
import Foundation

struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Every relay's health as relaynode judges it on its host; exit status 1 when any relay is unhealthy.")
    @OptionGroup var fleet: FleetOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingErrors {
            let rows = try RelayHealth.collect(database: fleet.openDatabase())
            if json {
                printJSON(rows.map { r -> [String: Any] in
                    ["nickname": r.nickname, "host": r.host, "healthy": r.healthy, "running": r.running ?? NSNull(),
                     "uptime_seconds": r.uptimeSeconds ?? NSNull(), "signing_cert_expires_unix": r.signingExpires ?? NSNull(),
                     "problems": r.problems]
                })
            } else {
                printTable(["RELAY", "HOST", "HEALTH", "RUNNING", "UPTIME", "PROBLEMS"], rows.map { r in
                    [r.nickname, r.host, r.healthy ? "healthy" : "UNHEALTHY", r.running.map { $0 ? "yes" : "no" } ?? "?",
                     r.uptimeSeconds.map(Self.duration) ?? "-", r.problems.joined(separator: "; ")]
                })
            }
            if rows.contains(where: { !$0.healthy }) { throw ExitCode(1) }
        }
    }

    static func duration(_ s: Int64) -> String {
        s >= 86_400 ? "\(s / 86_400)d \(s % 86_400 / 3600)h" : s >= 3600 ? "\(s / 3600)h \(s % 3600 / 60)m" : "\(s / 60)m \(s % 60)s"
    }
}
