import ArgumentParser
import Foundation
import RelayStore
import TorProtocol

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print the relay's bandwidth history from its database (also while it runs).",
        discussion: """
        Bytes read and written on the relay's connections (below TLS, as CTor counts them), the \
        IPv6 part, directory bytes, and the highest 10-second rates, per --bin. Times are UTC. \
        --since and --until take ISO 8601 (2025-06-01, 2025-06-01T12:00:00Z) or an age (90m, 24h, 7d, 2w).
        """)

    @OptionGroup var node: NodeOptions
    @Option(help: "Start of the period: ISO 8601 or an age such as 24h.") var since: String = "24h"
    @Option(help: "End of the period: ISO 8601, an age, or 'now'.") var until: String = "now"
    @Option(help: "Aggregate into bins of 15m, 1h or 1d.") var bin: String = "1h"
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingErrors {
            let now = Date()
            let from = try TimeSpec.parse(since, now: now, option: "--since")
            let to = try TimeSpec.parse(until, now: now, option: "--until")
            guard from < to else { throw CLIError("--since (\(iso(from))) must be before --until (\(iso(to)))") }
            guard let width = TimeSpec.binWidths[bin] else { throw CLIError("--bin must be 15m, 1h or 1d, got '\(bin)'") }
            let db = try NodeDatabase(readingDataDirectory: node.resolvedDataDirectory())
            let stored = try db.bandwidthBins(from: BandwidthBin.start(of: Int64(from.timeIntervalSince1970)),
                                              to: Int64(to.timeIntervalSince1970.rounded(.up)))
            let rows = Self.aggregate(stored, width: width)
            let total = rows.reduce(BandwidthBin(start: 0, bytes: TrafficTotals())) { acc, b in var a = acc; a.merge(b); return a }
            let observed = try db.observedBandwidth(now: now)
            if json {
                try printJSON(Self.json(rows, total: total, from: from, to: to, width: width, observed: observed,
                                        lines: try db.extraInfoHistoryLines(now: now)))
            } else {
                print(Self.table(rows, total: total, width: width))
                print("observed bandwidth (descriptor): \(ByteFormat.rate(UInt64(observed)))")
            }
        }
    }

    /// Sums stored 15-minute bins into bins of `width` seconds (maxima: the highest).
    static func aggregate(_ bins: [BandwidthBin], width: Int64) -> [BandwidthBin] {
        var out = [BandwidthBin]()
        for b in bins {
            let start = (b.start / width) * width
            var moved = b
            moved.start = start
            if out.last?.start == start { out[out.count - 1].merge(moved) } else { out.append(moved) }
        }
        return out
    }

    static func table(_ rows: [BandwidthBin], total: BandwidthBin, width: Int64) -> String {
        let header = ["start (UTC)", "read", "written", "ipv6 read", "ipv6 written", "dir read", "dir written", "max read", "max write"]
        func cells(_ b: BandwidthBin, _ label: String) -> [String] {
            [label, ByteFormat.bytes(b.bytes.read), ByteFormat.bytes(b.bytes.written), ByteFormat.bytes(b.bytes.ipv6Read),
             ByteFormat.bytes(b.bytes.ipv6Written), ByteFormat.bytes(b.bytes.dirRead), ByteFormat.bytes(b.bytes.dirWritten),
             ByteFormat.rate(b.maxReadRate), ByteFormat.rate(b.maxWriteRate)]
        }
        let body = rows.map { cells($0, NetDoc.formatTime(Date(timeIntervalSince1970: TimeInterval($0.start)))) }
        guard !body.isEmpty else { return "no bandwidth recorded in this period" }
        return TextTable.render(header: header, rows: body + [cells(total, "total")])
    }

    static func json(_ rows: [BandwidthBin], total: BandwidthBin, from: Date, to: Date, width: Int64, observed: Int,
                     lines: [String]) -> [String: Any] {
        func obj(_ b: BandwidthBin) -> [String: Any] {
            ["read": b.bytes.read, "written": b.bytes.written, "ipv6_read": b.bytes.ipv6Read, "ipv6_written": b.bytes.ipv6Written,
             "dir_read": b.bytes.dirRead, "dir_written": b.bytes.dirWritten,
             "max_read_rate": b.maxReadRate, "max_write_rate": b.maxWriteRate]
        }
        return [
            "since": iso(from), "until": iso(to), "bin_seconds": width,
            "bins": rows.map { obj($0).merging(["start": iso(Date(timeIntervalSince1970: TimeInterval($0.start))),
                                                "start_unix": $0.start]) { a, _ in a } },
            "total": obj(total),
            "observed_bandwidth": observed,
            "extra_info_history": lines,
        ]
    }
}

extension TimeSpec {
    static func parse(_ text: String, now: Date, option: String) throws -> Date {
        guard let d = parse(text, now: now) else { throw CLIError("\(option) must be \(expected); got '\(text)'") }
        return d
    }
}

enum ByteFormat {
    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var v = Double(n), i = 0
        while v >= 1024, i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    static func rate(_ n: UInt64) -> String { bytes(n) + "/s" }
}

enum TextTable {
    /// Left-aligned first column, right-aligned numbers, two spaces between columns.
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { c in
                let pad = String(repeating: " ", count: widths[c] - row[c].count)
                return c == 0 ? row[c] + pad : pad + row[c]
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: data, as: UTF8.self))
}
