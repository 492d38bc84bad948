import ArgumentParser
import FleetKit
import Foundation

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Bandwidth per relay, per host and for the fleet, read from each relay's database on its host.",
        discussion: "--since/--until take what relaynode stats takes: ISO 8601 or an age such as 24h or 7d.")
    @OptionGroup var fleet: FleetOptions
    @Option(help: "Start of the period.") var since: String = "24h"
    @Option(help: "End of the period.") var until: String = "now"
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print CSV.") var csv = false
    @Flag(help: "Print Prometheus text exposition (tor_relay_fleet_* gauges).") var prometheus = false

    func run() throws {
        try reportingErrors {
            guard [json, csv, prometheus].filter({ $0 }).count <= 1 else {
                throw FleetError(.invalid, "choose one of --json, --csv and --prometheus")
            }
            let stats = try FleetStats.collect(database: fleet.openDatabase(), since: since, until: until)
            if csv {
                print(stats.csv(), terminator: "")
            } else if prometheus {
                print(stats.prometheusText(), terminator: "")
            } else if json {
                func obj(_ t: TrafficSummary) -> [String: Any] {
                    ["read": t.read, "written": t.written, "dir_read": t.dirRead, "dir_written": t.dirWritten,
                     "peak_read_rate": t.peakReadRate, "peak_write_rate": t.peakWriteRate]
                }
                printJSON([
                    "since": since, "until": until,
                    "relays": stats.relays.map { r -> [String: Any] in
                        var o: [String: Any] = ["nickname": r.nickname, "host": r.host, "problem": r.problem ?? NSNull()]
                        if let t = r.traffic { o.merge(obj(t)) { a, _ in a } }
                        return o
                    },
                    "hosts": stats.hosts.map { h in obj(h.traffic).merging(["name": h.name, "relays_counted": h.relays]) { a, _ in a } },
                    "fleet": obj(stats.fleet),
                ])
            } else {
                func cells(_ label: String, _ scope: String, _ t: TrafficSummary?) -> [String] {
                    guard let t else { return [label, scope, "-", "-", "-", "-"] }
                    return [label, scope, bytes(t.read), bytes(t.written), bytes(t.peakReadRate) + "/s", bytes(t.peakWriteRate) + "/s"]
                }
                var rows = stats.relays.map { cells($0.nickname, $0.host, $0.traffic) }
                rows += stats.hosts.map { cells("host total", $0.name, $0.traffic) }
                rows.append(cells("fleet total", "\(stats.relays.filter { $0.traffic != nil }.count) relays", stats.fleet))
                printTable(["RELAY", "HOST", "READ", "WRITTEN", "PEAK READ", "PEAK WRITE"], rows)
                for r in stats.relays where r.problem != nil { print("\(r.nickname): \(r.problem!)") }
            }
            if stats.relays.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
        }
    }

    func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024, i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }
}
