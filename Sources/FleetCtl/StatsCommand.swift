import ArgumentParser
import FleetKit
import Foundation

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Bandwidth and health per relay, host, family and for the fleet.",
        discussion: """
        Each relay's numbers come from its own database on its host (relaynode stats and health, \
        through the host's transport) and are cached in the fleet database, so hosts are asked only \
        for what is new and a relay that can't be reached this time still counts with what was \
        cached (its problem is shown). --since/--until take ISO 8601, a date, or an age such as 24h \
        or 7d. Exit status 1 when some relay could not be read.
        """)
    @OptionGroup var fleet: FleetOptions
    @Option(help: "Start of the period.") var since: String = "24h"
    @Option(help: "End of the period.") var until: String = "now"
    @Flag(help: "Don't ask the hosts; report what the cache holds.") var cached = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print CSV.") var csv = false
    @Flag(help: "Print Prometheus text exposition (tor_relay_fleet_*).") var prometheus = false
    @Option(help: "Also write the period's read and written rates per relay as an SVG graph to this file.") var plot: String?

    func run() throws {
        try reportingErrors {
            guard [json, csv, prometheus].filter({ $0 }).count <= 1 else {
                throw FleetError(.invalid, "choose one of --json, --csv and --prometheus")
            }
            let db = try fleet.openDatabase()
            let stats = try FleetStats.collect(database: db, since: since, until: until, refresh: !cached)
            if csv {
                print(stats.csv(), terminator: "")
            } else if prometheus {
                print(stats.prometheusText(), terminator: "")
            } else if json {
                printJSON(Self.json(stats))
            } else {
                Self.printText(stats)
            }
            if let plot {
                let width = StatsPlot.binWidth(for: stats.seconds)
                let series = try stats.series(database: db, width: width)
                let title = "relayfleet bandwidth \(isoTime(Int64(stats.since.timeIntervalSince1970))) – \(isoTime(Int64(stats.until.timeIntervalSince1970)))"
                let svg = StatsPlot.svg(title: title, starts: series.starts, width: width, relays: series.relays)
                do {
                    try Data(svg.utf8).write(to: URL(fileURLWithPath: plot), options: .atomic)
                } catch {
                    throw FleetError(.io, "cannot write the plot to \(plot): \(error.localizedDescription)")
                }
                FileHandle.standardError.write(Data("fleetctl: wrote \(plot) (\(series.relays.count) relays, \(series.starts.count) bins)\n".utf8))
            }
            if stats.relays.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
        }
    }

    static func traffic(_ t: TrafficSummary, seconds: Double) -> [String: Any] {
        let mean = t.meanRates(over: seconds)
        return ["read": t.read, "written": t.written, "dir_read": t.dirRead, "dir_written": t.dirWritten,
                "peak_read_rate": t.peakReadRate, "peak_write_rate": t.peakWriteRate,
                "mean_read_rate": mean.read.rounded(), "mean_write_rate": mean.written.rounded()]
    }

    static func json(_ stats: FleetStats) -> [String: Any] {
        let s = stats.seconds
        func group(_ g: FleetStats.Group) -> [String: Any] {
            traffic(g.traffic, seconds: s).merging(["name": g.name, "relays_counted": g.relays,
                                                    "all_time_read": g.allTime.read, "all_time_written": g.allTime.written]) { a, _ in a }
        }
        return [
            "since": isoTime(Int64(stats.since.timeIntervalSince1970)), "until": isoTime(Int64(stats.until.timeIntervalSince1970)),
            "relays": stats.relays.map { r -> [String: Any] in
                var o: [String: Any] = ["nickname": r.nickname, "host": r.host, "family": r.family ?? NSNull(),
                                        "rsa_fingerprint": r.rsaFingerprint ?? NSNull(), "fresh": r.fresh,
                                        "problems": r.problems, "problem": r.problem ?? NSNull(), "health": r.health,
                                        "flags": r.flags]
                if let t = r.traffic {
                    o.merge(traffic(t, seconds: s)) { a, _ in a }
                    o["all_time_read"] = r.allTime.read
                    o["all_time_written"] = r.allTime.written
                }
                if let v = r.running { o["running"] = v }
                if let v = r.uptimeSeconds { o["uptime_seconds"] = v }
                if let v = r.listed { o["listed"] = v }
                if let v = r.signingExpires { o["signing_cert_expires"] = isoTime(v); o["signing_cert_expires_unix"] = v }
                if let v = r.fetchedAt { o["fetched_at"] = isoTime(v) }
                return o
            },
            "hosts": stats.hosts.map(group),
            "families": stats.families.map(group),
            "fleet": traffic(stats.fleet, seconds: s).merging(["all_time_read": stats.fleetAllTime.read,
                                                              "all_time_written": stats.fleetAllTime.written]) { a, _ in a },
        ]
    }

    static func printText(_ stats: FleetStats) {
        let s = stats.seconds
        func cells(_ label: String, _ scope: String, _ t: TrafficSummary?) -> [String] {
            guard let t else { return [label, scope, "-", "-", "-", "-", "-", "-"] }
            let mean = t.meanRates(over: s)
            return [label, scope, bytes(t.read), bytes(t.written), rate(UInt64(mean.read)), rate(UInt64(mean.written)),
                    rate(t.peakReadRate), rate(t.peakWriteRate)]
        }
        var rows = stats.relays.map { cells($0.nickname, $0.host, $0.traffic) }
        rows += stats.hosts.map { cells("host total", $0.name, $0.traffic) }
        rows += stats.families.map { cells("family total", $0.name, $0.traffic) }
        rows.append(cells("fleet total", "\(stats.relays.filter { $0.traffic != nil }.count) relays", stats.fleet))
        printTable(["RELAY", "HOST", "READ", "WRITTEN", "MEAN READ", "MEAN WRITE", "PEAK READ", "PEAK WRITE"], rows)
        print("")
        let now = Int64(Date().timeIntervalSince1970)
        printTable(["RELAY", "STATE", "UPTIME", "FLAGS", "SIGNING CERT EXPIRES", "READ AT"], stats.relays.map { r in
            [r.nickname, r.running.map { $0 ? "running" : "stopped" } ?? "-",
             r.uptimeSeconds.map(duration) ?? "-",
             r.listed == false ? "(not listed)" : r.flags.isEmpty ? "-" : r.flags.joined(separator: " "),
             r.signingExpires.map { isoTime($0) + ($0 < now ? " (EXPIRED)" : "") } ?? "-",
             r.fetchedAt.map { isoTime($0) + (r.fresh ? "" : " (cached)") } ?? "never"]
        })
        for r in stats.relays {
            for p in r.problems { print("\(r.nickname): \(p)") }
            for p in r.health { print("\(r.nickname) reports: \(p)") }
        }
    }

    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024, i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    static func rate(_ n: UInt64) -> String { bytes(n) + "/s" }

    static func duration(_ s: Int64) -> String {
        s < 3600 ? "\(s / 60)m" : s < 86_400 ? "\(s / 3600)h \(s % 3600 / 60)m" : "\(s / 86_400)d \(s % 86_400 / 3600)h"
    }
}
