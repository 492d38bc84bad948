import Foundation

/// Bandwidth totals of one relay, or summed over several, for a period.
public struct TrafficSummary: Sendable, Equatable {
    public var read: UInt64 = 0
    public var written: UInt64 = 0
    public var dirRead: UInt64 = 0
    public var dirWritten: UInt64 = 0
    /// The highest 10-second rates (bytes/s) seen in the period by any relay counted here.
    public var peakReadRate: UInt64 = 0
    public var peakWriteRate: UInt64 = 0

    public init() {}

    public mutating func add(_ o: TrafficSummary) {
        read += o.read; written += o.written; dirRead += o.dirRead; dirWritten += o.dirWritten
        peakReadRate = max(peakReadRate, o.peakReadRate); peakWriteRate = max(peakWriteRate, o.peakWriteRate)
    }

    /// Mean rates over `seconds` (bytes/s).
    public func meanRates(over seconds: Double) -> (read: Double, written: Double) {
        seconds > 0 ? (Double(read) / seconds, Double(written) / seconds) : (0, 0)
    }

    /// Reads the `total` object of `relaynode stats --json`.
    static func fromNodeStats(_ json: [UInt8]) -> TrafficSummary? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
              let t = o["total"] as? [String: Any] else { return nil }
        func n(_ k: String) -> UInt64? { (t[k] as? NSNumber)?.uint64Value }
        guard let r = n("read"), let w = n("written") else { return nil }
        var s = TrafficSummary()
        s.read = r; s.written = w; s.dirRead = n("dir_read") ?? 0; s.dirWritten = n("dir_written") ?? 0
        s.peakReadRate = n("max_read_rate") ?? 0; s.peakWriteRate = n("max_write_rate") ?? 0
        return s
    }
}

/// `fleetctl stats`: each relay's bandwidth from its own node database (through the transport,
/// `relaynode stats --json`), summed per host and for the fleet. A relay that cannot be read is
/// listed with its problem and left out of the sums.
public struct FleetStats: Sendable {
    public struct RelayLine: Sendable {
        public var nickname: String
        public var host: String
        public var traffic: TrafficSummary?
        public var problem: String?
    }

    public var since: String
    public var until: String
    public var relays: [RelayLine]

    public var hosts: [(name: String, traffic: TrafficSummary, relays: Int)] {
        var order: [String] = []
        var sums: [String: (TrafficSummary, Int)] = [:]
        for r in relays {
            if sums[r.host] == nil { order.append(r.host); sums[r.host] = (TrafficSummary(), 0) }
            if let t = r.traffic { sums[r.host]!.0.add(t); sums[r.host]!.1 += 1 }
        }
        return order.sorted().map { ($0, sums[$0]!.0, sums[$0]!.1) }
    }

    public var fleet: TrafficSummary {
        relays.compactMap(\.traffic).reduce(into: TrafficSummary()) { $0.add($1) }
    }

    /// Collects every relay's stats for `since`…`until` (relaynode's syntax: ISO 8601 or an age).
    public static func collect(database: FleetDatabase, since: String, until: String) throws -> FleetStats {
        let lines = try perHost(database.relays()) { v -> RelayLine in
            let layout = RelayLayout(host: v.host, nickname: v.relay.nickname)
            do {
                let r = try v.host.makeTransport().check(
                    [v.host.relaynodePath, "stats", "--json", "--bin", "1d", "--since", since, "--until", until,
                     "--data-directory", layout.dataDirectory], timeout: 60, "reading the statistics of \(v.relay.nickname)")
                guard let t = TrafficSummary.fromNodeStats(r.stdout) else {
                    return RelayLine(nickname: v.relay.nickname, host: v.host.name, problem: "relaynode stats printed no totals")
                }
                return RelayLine(nickname: v.relay.nickname, host: v.host.name, traffic: t)
            } catch {
                return RelayLine(nickname: v.relay.nickname, host: v.host.name, problem: "\(error)")
            }
        }
        return FleetStats(since: since, until: until, relays: lines)
    }
}

extension FleetStats {
    /// Prometheus text exposition: `tor_relay_fleet_*` gauges per relay (labels relay, host),
    /// per host (label host), and for the fleet (no label), plus one `..._up` per relay (1 when
    /// its numbers could be read).
    public func prometheusText() -> String {
        var out: [String] = []
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
        }
        let metrics: [(String, String, (TrafficSummary) -> UInt64)] = [
            ("tor_relay_fleet_read_bytes", "Bytes read in the period (relaynode stats).", \.read),
            ("tor_relay_fleet_written_bytes", "Bytes written in the period.", \.written),
            ("tor_relay_fleet_dir_read_bytes", "Directory bytes read in the period.", \.dirRead),
            ("tor_relay_fleet_dir_written_bytes", "Directory bytes written in the period.", \.dirWritten),
            ("tor_relay_fleet_peak_read_rate_bytes", "Highest 10-second read rate in the period, bytes/s.", \.peakReadRate),
            ("tor_relay_fleet_peak_write_rate_bytes", "Highest 10-second write rate in the period, bytes/s.", \.peakWriteRate),
        ]
        for (name, help, value) in metrics {
            out.append("# HELP \(name) \(help)")
            out.append("# TYPE \(name) gauge")
            for r in relays { if let t = r.traffic { out.append("\(name){relay=\"\(esc(r.nickname))\",host=\"\(esc(r.host))\"} \(value(t))") } }
            for h in hosts { out.append("\(name){host=\"\(esc(h.name))\"} \(value(h.traffic))") }
            out.append("\(name) \(value(fleet))")
        }
        out.append("# HELP tor_relay_fleet_up 1 when the relay's statistics could be read from its host.")
        out.append("# TYPE tor_relay_fleet_up gauge")
        for r in relays { out.append("tor_relay_fleet_up{relay=\"\(esc(r.nickname))\",host=\"\(esc(r.host))\"} \(r.traffic == nil ? 0 : 1)") }
        return out.joined(separator: "\n") + "\n"
    }

    /// CSV: one line per relay, then per host and the fleet (`scope` says which).
    public func csv() -> String {
        var lines = ["scope,name,host,read,written,dir_read,dir_written,peak_read_rate,peak_write_rate,problem"]
        func q(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        func row(_ scope: String, _ name: String, _ host: String, _ t: TrafficSummary?, _ problem: String?) -> String {
            let n = t.map { [$0.read, $0.written, $0.dirRead, $0.dirWritten, $0.peakReadRate, $0.peakWriteRate].map(String.init) }
                ?? Array(repeating: "", count: 6)
            return ([scope, q(name), q(host)] + n + [q(problem ?? "")]).joined(separator: ",")
        }
        for r in relays { lines.append(row("relay", r.nickname, r.host, r.traffic, r.problem)) }
        for h in hosts { lines.append(row("host", h.name, h.name, h.traffic, nil)) }
        lines.append(row("fleet", "fleet", "", fleet, nil))
        return lines.joined(separator: "\n") + "\n"
    }
}
