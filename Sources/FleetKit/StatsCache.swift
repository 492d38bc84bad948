import Foundation
import GRDB

/// fleetctl's copy of what the relays' own databases say (migration `0003_stats_cache`): their
/// 15-minute bandwidth bins and their last health report, keyed by RSA fingerprint so the
/// history follows an identity across restarts, migrations and retirement. A refresh asks each
/// host only for bins from the newest one cached onwards (that bin again: it may have grown).
public enum StatsCache {
    /// How far back a relay with nothing cached is read: relaynode keeps 90 days.
    public static let initialLookback: TimeInterval = 90 * 86_400

    /// What one refresh got from one relay.
    public struct Outcome: Sendable {
        public var nickname: String
        public var host: String
        public var rsaFingerprint: String?
        /// Bins written to the cache (new ones and the latest one again).
        public var bins: Int = 0
        /// Why the relay could not be read; its cached numbers stay as they were.
        public var problem: String?
    }

    /// One bin as relaynode reported it.
    struct Bin: Equatable, Sendable {
        var start: Int64
        var seconds: Int64
        var traffic: TrafficSummary
    }

    /// The health report fields the cache keeps.
    struct Status: Sendable {
        var running: Bool
        var startedAt: Int64?
        var listed: Bool?
        var flags: [String]
        var signingExpires: Int64?
        var problems: [String]
    }

    /// Reads every relay with an identity (hosts in parallel) and stores what it got in one
    /// transaction per relay. A relay that cannot be read keeps its cached numbers and is
    /// reported with its problem; the others are not held up.
    @discardableResult
    public static func refresh(database: FleetDatabase, now: Date = Date()) throws -> [Outcome] {
        let relays = try database.relays().filter { $0.identity != nil && $0.relay.desiredState != .retired }
        let cursors = try database.read("reading the statistics cache") { db in
            try [String: Int64](uniqueKeysWithValues: Row.fetchAll(db, sql: """
                SELECT rsa_fingerprint, max(start) FROM bandwidth_bin GROUP BY rsa_fingerprint
                """).map { ($0[0] as String, $0[1] as Int64) })
        }
        let fetched = perHost(relays) { v -> (Outcome, [Bin], Status?) in
            let fp = v.identity!.rsaFingerprint
            var outcome = Outcome(nickname: v.relay.nickname, host: v.host.name, rsaFingerprint: fp)
            let layout = RelayLayout(host: v.host, nickname: v.relay.nickname)
            let from = cursors[fp].map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? now - initialLookback
            let transport = v.host.makeTransport()
            do {
                let r = try transport.check(
                    v.host.relaynode() + ["stats", "--json", "--bin", "15m", "--since", isoSeconds(from), "--until", "now",
                     "--data-directory", layout.dataDirectory], timeout: 60, "reading the statistics of \(v.relay.nickname)")
                guard let bins = parseBins(r.stdout) else {
                    outcome.problem = "relaynode stats printed no bins"
                    return (outcome, [], nil)
                }
                // Exit status 1 means unhealthy and still prints the report.
                let h = try transport.run(v.host.relaynode() + ["health", "--json", "--events", "0",
                                           "--data-directory", layout.dataDirectory], timeout: 60)
                guard let status = parseStatus(h.stdout, expecting: fp) else {
                    outcome.problem = "relaynode health failed (exit \(h.status)): \(h.lastErrorLine)"
                    return (outcome, bins, nil)
                }
                return (outcome, bins, status)
            } catch {
                outcome.problem = "\(error)"
                return (outcome, [], nil)
            }
        }
        let at = Int64(now.timeIntervalSince1970)
        var outcomes: [Outcome] = []
        for (outcome, bins, status) in fetched {
            var o = outcome
            if let fp = o.rsaFingerprint, !bins.isEmpty || status != nil {
                try database.write("caching the statistics of \(o.nickname)") { db in
                    for b in bins {
                        try db.execute(sql: """
                            INSERT OR REPLACE INTO bandwidth_bin (rsa_fingerprint, start, seconds, read, written, dir_read,
                                dir_written, max_read_rate, max_write_rate, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """, arguments: [fp, b.start, b.seconds, Int64(clamping: b.traffic.read), Int64(clamping: b.traffic.written),
                                             Int64(clamping: b.traffic.dirRead), Int64(clamping: b.traffic.dirWritten),
                                             Int64(clamping: b.traffic.peakReadRate), Int64(clamping: b.traffic.peakWriteRate), at])
                    }
                    if let s = status {
                        try db.execute(sql: """
                            INSERT OR REPLACE INTO relay_status (rsa_fingerprint, fetched_at, running, started_at, listed, flags,
                                signing_expires, problems) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """, arguments: [fp, at, s.running ? 1 : 0, s.startedAt, s.listed.map { $0 ? 1 : 0 },
                                             s.flags.joined(separator: " "), s.signingExpires, s.problems.joined(separator: "\n")])
                    }
                }
                o.bins = bins.count
            }
            outcomes.append(o)
        }
        return outcomes
    }

    static func isoSeconds(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: d.timeIntervalSince1970.rounded(.down)))
    }

    /// The `bins` of `relaynode stats --json --bin 15m`.
    static func parseBins(_ json: [UInt8]) -> [Bin]? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
              let width = (o["bin_seconds"] as? NSNumber)?.int64Value, width > 0,
              let rows = o["bins"] as? [[String: Any]] else { return nil }
        var out: [Bin] = []
        for row in rows {
            func n(_ k: String) -> UInt64? { (row[k] as? NSNumber)?.uint64Value }
            guard let start = (row["start_unix"] as? NSNumber)?.int64Value, let r = n("read"), let w = n("written") else { return nil }
            var t = TrafficSummary()
            t.read = r; t.written = w; t.dirRead = n("dir_read") ?? 0; t.dirWritten = n("dir_written") ?? 0
            t.peakReadRate = n("max_read_rate") ?? 0; t.peakWriteRate = n("max_write_rate") ?? 0
            out.append(Bin(start: start, seconds: width, traffic: t))
        }
        return out
    }

    /// `relaynode health --json`, when it reports on the expected identity.
    static func parseStatus(_ json: [UInt8], expecting fingerprint: String) -> Status? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return nil }
        var problems = (o["problems"] as? [String]) ?? []
        if let fp = o["rsa_fingerprint"] as? String, fp != fingerprint {
            problems.append("host serves identity \(fp), the inventory says \(fingerprint)")
        }
        let started = (o["started"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
        return Status(running: (o["running"] as? Bool) ?? false,
                      startedAt: started.map { Int64($0.timeIntervalSince1970) },
                      listed: o["consensus_listed"] as? Bool,
                      flags: (o["consensus_flags"] as? [String]) ?? [],
                      signingExpires: (o["signing_cert_expires_unix"] as? NSNumber)?.int64Value,
                      problems: problems)
    }
}

extension FleetDatabase {
    /// Cached bins of one relay with `from <= start < to`, oldest first.
    func cachedBins(_ fingerprint: String, from: Int64, to: Int64) throws -> [StatsCache.Bin] {
        try read("reading the statistics cache") { db in
            try Row.fetchAll(db, sql: """
                SELECT start, seconds, read, written, dir_read, dir_written, max_read_rate, max_write_rate
                FROM bandwidth_bin WHERE rsa_fingerprint = ? AND start >= ? AND start < ? ORDER BY start
                """, arguments: [fingerprint, from, to]).map { row in
                var t = TrafficSummary()
                t.read = UInt64(row[2] as Int64); t.written = UInt64(row[3] as Int64)
                t.dirRead = UInt64(row[4] as Int64); t.dirWritten = UInt64(row[5] as Int64)
                t.peakReadRate = UInt64(row[6] as Int64); t.peakWriteRate = UInt64(row[7] as Int64)
                return StatsCache.Bin(start: row[0], seconds: row[1], traffic: t)
            }
        }
    }

    /// Everything ever cached for one relay, summed (the all-time counters of serve-metrics).
    func cachedTotal(_ fingerprint: String) throws -> TrafficSummary {
        try read("reading the statistics cache") { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT coalesce(sum(read), 0), coalesce(sum(written), 0), coalesce(sum(dir_read), 0), coalesce(sum(dir_written), 0),
                       coalesce(max(max_read_rate), 0), coalesce(max(max_write_rate), 0)
                FROM bandwidth_bin WHERE rsa_fingerprint = ?
                """, arguments: [fingerprint])!
            var t = TrafficSummary()
            t.read = UInt64(row[0] as Int64); t.written = UInt64(row[1] as Int64)
            t.dirRead = UInt64(row[2] as Int64); t.dirWritten = UInt64(row[3] as Int64)
            t.peakReadRate = UInt64(row[4] as Int64); t.peakWriteRate = UInt64(row[5] as Int64)
            return t
        }
    }

    /// The last health report cached for one relay.
    func cachedStatus(_ fingerprint: String) throws -> (fetchedAt: Int64, status: StatsCache.Status)? {
        try read("reading the statistics cache") { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT fetched_at, running, started_at, listed, flags, signing_expires, problems
                FROM relay_status WHERE rsa_fingerprint = ?
                """, arguments: [fingerprint]) else { return nil }
            let flags = (row[4] as String).split(separator: " ").map(String.init)
            let problems = (row[6] as String).split(separator: "\n").map(String.init)
            let listed: Int64? = row[3]
            return (row[0], StatsCache.Status(running: (row[1] as Int64) == 1, startedAt: row[2], listed: listed.map { $0 == 1 },
                                              flags: flags, signingExpires: row[5], problems: problems))
        }
    }
}
