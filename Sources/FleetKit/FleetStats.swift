import Foundation
import Prometheus
import TorProtocol

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
}

/// `fleetctl stats`: every relay's bandwidth and health from fleetctl's cache of the relays' own
/// databases (refreshed first through each host's transport, see `StatsCache`), aggregated per
/// relay, host, family and for the fleet over a period. A relay that cannot be read this time
/// keeps counting with what was cached before, and is listed with its problem.
public struct FleetStats: Sendable {
    public struct RelayLine: Sendable {
        public var nickname: String
        public var host: String
        public var family: String?
        public var rsaFingerprint: String?
        /// The period's traffic from the cache; nil when nothing was ever read from the relay.
        public var traffic: TrafficSummary?
        /// Everything cached for the identity, all time (counters that survive relay restarts).
        public var allTime = TrafficSummary()
        /// Read this time (false: the numbers are what an earlier refresh cached).
        public var fresh = false
        /// When the cache last heard from the relay (Unix seconds).
        public var fetchedAt: Int64?
        public var running: Bool?
        public var uptimeSeconds: Int64?
        public var listed: Bool?
        public var flags: [String] = []
        public var signingExpires: Int64?
        /// Why fleetctl could not read the relay this time (an unreachable host, say).
        public var problems: [String] = []
        /// What the relay's own health check reports (not running, expired certificate, …).
        public var health: [String] = []

        /// fleetctl's problems in one line, or nil when the relay was read.
        public var problem: String? { problems.isEmpty ? nil : problems.joined(separator: "; ") }
    }

    /// A sum over several relays.
    public struct Group: Sendable {
        public var name: String
        public var traffic = TrafficSummary()
        public var allTime = TrafficSummary()
        /// Relays with numbers in the cache.
        public var relays = 0
    }

    public var since: Date
    public var until: Date
    public var relays: [RelayLine]

    public var seconds: Double { until.timeIntervalSince(since) }

    private func groups(_ key: (RelayLine) -> String?) -> [Group] {
        var sums: [String: Group] = [:]
        for r in relays {
            guard let k = key(r) else { continue }
            var g = sums[k] ?? Group(name: k)
            if let t = r.traffic { g.traffic.add(t); g.allTime.add(r.allTime); g.relays += 1 }
            sums[k] = g
        }
        return sums.keys.sorted().map { sums[$0]! }
    }

    public var hosts: [Group] { groups { $0.host } }
    public var families: [Group] { groups { $0.family } }

    public var fleet: TrafficSummary {
        relays.compactMap(\.traffic).reduce(into: TrafficSummary()) { $0.add($1) }
    }

    public var fleetAllTime: TrafficSummary {
        relays.filter { $0.traffic != nil }.map(\.allTime).reduce(into: TrafficSummary()) { $0.add($1) }
    }

    /// Refreshes the cache, then aggregates `since`…`until` (ISO 8601, a date, an age such as
    /// 24h, or now).
    public static func collect(database: FleetDatabase, since: String, until: String, refresh: Bool = true,
                               now: Date = Date()) throws -> FleetStats {
        let from = try parseTime(since, now: now, option: "--since")
        let to = try parseTime(until, now: now, option: "--until")
        guard from < to else { throw FleetError(.invalid, "--since must be before --until") }
        let outcomes = refresh ? try StatsCache.refresh(database: database, now: now) : []
        return try fromCache(database: database, from: from, to: to, outcomes: outcomes, now: now)
    }

    /// A time as the statistics commands take it: ISO 8601, a date, an age such as 24h, or now.
    public static func parseTime(_ text: String, now: Date, option: String) throws -> Date {
        guard let d = TimeSpec.parse(text, now: now) else { throw FleetError(.invalid, "\(option) must be \(TimeSpec.expected); got '\(text)'") }
        return d
    }

    /// Aggregates what the cache holds; `outcomes` (of a refresh just made) mark relays fresh
    /// or add the reason they could not be read.
    public static func fromCache(database: FleetDatabase, from: Date, to: Date, outcomes: [StatsCache.Outcome] = [],
                                 now: Date = Date()) throws -> FleetStats {
        let lo = BandwidthBin.start(of: Int64(from.timeIntervalSince1970))
        let hi = Int64(to.timeIntervalSince1970.rounded(.up))
        var lines: [RelayLine] = []
        for v in try database.relays() where v.relay.desiredState != .retired {
            var line = RelayLine(nickname: v.relay.nickname, host: v.host.name, family: v.relay.family,
                                 rsaFingerprint: v.identity?.rsaFingerprint)
            let outcome = outcomes.first { $0.nickname == v.relay.nickname }
            if let p = outcome?.problem { line.problems.append(p) }
            line.fresh = outcome != nil && outcome?.problem == nil
            guard let fp = v.identity?.rsaFingerprint else {
                line.problems.append("no identity recorded")
                lines.append(line)
                continue
            }
            if let (at, status) = try database.cachedStatus(fp) {
                line.fetchedAt = at
                line.running = status.running
                line.uptimeSeconds = status.running ? status.startedAt.map { max(0, Int64(now.timeIntervalSince1970) - $0) } : nil
                line.listed = status.listed
                line.flags = status.flags
                line.signingExpires = status.signingExpires
                line.health = status.problems
                if !line.fresh, outcome != nil {
                    line.problems.append("numbers as cached at \(StatsCache.isoSeconds(Date(timeIntervalSince1970: TimeInterval(at))))")
                }
            }
            let bins = try database.cachedBins(fp, from: lo, to: hi)
            if line.fetchedAt != nil || !bins.isEmpty {
                line.traffic = bins.reduce(into: TrafficSummary()) { $0.add($1.traffic) }
                line.allTime = try database.cachedTotal(fp)
            }
            lines.append(line)
        }
        return FleetStats(since: from, until: to, relays: lines)
    }

    /// Each relay's traffic per bin of `width` seconds over the period (for plots): bin starts
    /// and, per relay with numbers, (read, written) bytes per bin.
    public func series(database: FleetDatabase, width: Int64) throws -> (starts: [Int64], relays: [(String, [(UInt64, UInt64)])]) {
        let lo = (BandwidthBin.start(of: Int64(since.timeIntervalSince1970)) / width) * width
        let hi = Int64(until.timeIntervalSince1970.rounded(.up))
        let starts = Array(stride(from: lo, to: hi, by: Int(width)))
        var out: [(String, [(UInt64, UInt64)])] = []
        for r in relays where r.traffic != nil {
            guard let fp = r.rsaFingerprint else { continue }
            var values = Array(repeating: (UInt64(0), UInt64(0)), count: starts.count)
            for b in try database.cachedBins(fp, from: lo, to: hi) {
                let i = Int((b.start - lo) / width)
                guard values.indices.contains(i) else { continue }
                values[i].0 += b.traffic.read
                values[i].1 += b.traffic.written
            }
            out.append((r.nickname, values))
        }
        return (starts, out)
    }
}

extension FleetStats {
    /// Prometheus text exposition (swift-prometheus renders it):
    /// - the period's bytes and peak rates per relay (`tor_relay_fleet_*_bytes{relay,host,family}`),
    ///   per host (`tor_relay_fleet_host_*{host}`) and for the fleet (`tor_relay_fleet_total_*`);
    /// - all-time counters from the cache, which do not fall back when a relay restarts, moves or
    ///   its host is briefly unreachable (`tor_relay_fleet_traffic_bytes_total{relay,host,family,direction}`);
    /// - per relay: `tor_relay_fleet_up` (1 when read in this refresh), `..._running`,
    ///   `..._uptime_seconds`, `..._signing_cert_expiry_timestamp`, `..._consensus_flag{flag}`,
    ///   `..._problems` and `..._cache_age_seconds`.
    public func prometheusText(now: Date = Date()) -> String {
        let registry = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
            let g = labels.isEmpty ? registry.makeGauge(name: name, help: help) : registry.makeGauge(name: name, labels: labels, help: help)
            g.set(value)
        }
        let period: [(String, String, (TrafficSummary) -> UInt64)] = [
            ("read_bytes", "Bytes read in the period", \.read),
            ("written_bytes", "Bytes written in the period", \.written),
            ("dir_read_bytes", "Directory bytes read in the period", \.dirRead),
            ("dir_written_bytes", "Directory bytes written in the period", \.dirWritten),
            ("peak_read_rate_bytes", "Highest 10-second read rate in the period, bytes per second", \.peakReadRate),
            ("peak_write_rate_bytes", "Highest 10-second write rate in the period, bytes per second", \.peakWriteRate),
        ]
        func relayLabels(_ r: RelayLine) -> [(String, String)] { [("relay", r.nickname), ("host", r.host), ("family", r.family ?? "")] }
        for (suffix, help, value) in period {
            for r in relays { if let t = r.traffic { gauge("tor_relay_fleet_" + suffix, help + " (per relay)", relayLabels(r), Double(value(t))) } }
            for h in hosts { gauge("tor_relay_fleet_host_" + suffix, help + " (per host)", [("host", h.name)], Double(value(h.traffic))) }
            for f in families { gauge("tor_relay_fleet_family_" + suffix, help + " (per family)", [("family", f.name)], Double(value(f.traffic))) }
            gauge("tor_relay_fleet_total_" + suffix, help + " (whole fleet)", [], Double(value(fleet)))
        }
        gauge("tor_relay_fleet_period_seconds", "Length of the period the period gauges cover", [], seconds)
        for r in relays where r.traffic != nil {
            for (direction, v) in [("read", r.allTime.read), ("written", r.allTime.written)] {
                let c = registry.makeCounter(name: "tor_relay_fleet_traffic_bytes_total", labels: relayLabels(r) + [("direction", direction)],
                                             help: "Bytes the relay's identity moved, all time, from fleetctl's cache")
                c.increment(by: Int64(clamping: v))
            }
        }
        let nowUnix = Int64(now.timeIntervalSince1970)
        for r in relays {
            let l = [("relay", r.nickname), ("host", r.host)]
            gauge("tor_relay_fleet_up", "1 when the relay's numbers were read from its host in this refresh", l, r.fresh ? 1 : 0)
            if r.fetchedAt != nil {
                gauge("tor_relay_fleet_healthy", "1 when the relay's own health check reported no problem", l, r.health.isEmpty ? 1 : 0)
            }
            if let running = r.running { gauge("tor_relay_fleet_running", "1 when the relay process runs", l, running ? 1 : 0) }
            if let u = r.uptimeSeconds { gauge("tor_relay_fleet_uptime_seconds", "Seconds since the relay process started", l, Double(u)) }
            if let e = r.signingExpires {
                gauge("tor_relay_fleet_signing_cert_expiry_timestamp", "When the relay's Ed25519 signing certificate expires", l, Double(e))
            }
            if let at = r.fetchedAt { gauge("tor_relay_fleet_cache_age_seconds", "Seconds since fleetctl last read the relay", l, Double(max(0, nowUnix - at))) }
            for flag in r.flags {
                gauge("tor_relay_fleet_consensus_flag", "Consensus flags the relay was last listed with", l + [("flag", flag)], 1)
            }
        }
        return registry.emitToString()
    }

    /// CSV: one line per relay, then per host, per family and the fleet (`scope` says which).
    public func csv() -> String {
        var lines = ["scope,name,host,read,written,dir_read,dir_written,peak_read_rate,peak_write_rate,mean_read_rate,mean_write_rate,"
                     + "uptime_seconds,flags,signing_expires,problem"]
        func q(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        func row(_ scope: String, _ name: String, _ host: String, _ t: TrafficSummary?, _ r: RelayLine? = nil) -> String {
            var n = t.map { [$0.read, $0.written, $0.dirRead, $0.dirWritten, $0.peakReadRate, $0.peakWriteRate].map(String.init) }
                ?? Array(repeating: "", count: 6)
            let mean = t?.meanRates(over: seconds)
            n += [mean.map { String(format: "%.0f", $0.read) } ?? "", mean.map { String(format: "%.0f", $0.written) } ?? ""]
            let tail = [r?.uptimeSeconds.map(String.init) ?? "", r?.flags.joined(separator: " ") ?? "",
                        r?.signingExpires.map(String.init) ?? "", q(((r?.problems ?? []) + (r?.health ?? [])).joined(separator: "; "))]
            return ([scope, q(name), q(host)] + n + tail).joined(separator: ",")
        }
        for r in relays { lines.append(row("relay", r.nickname, r.host, r.traffic, r)) }
        for h in hosts { lines.append(row("host", h.name, h.name, h.traffic)) }
        for f in families { lines.append(row("family", f.name, "", f.traffic)) }
        lines.append(row("fleet", "fleet", "", fleet))
        return lines.joined(separator: "\n") + "\n"
    }
}
