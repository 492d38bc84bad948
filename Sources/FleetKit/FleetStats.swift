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
