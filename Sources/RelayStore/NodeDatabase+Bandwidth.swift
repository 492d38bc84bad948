import Foundation
import GRDB
import TorProtocol

extension NodeDatabase {
    /// How long bandwidth bins are kept (at least 90 days, issue #6).
    public static let bandwidthRetention: TimeInterval = 90 * 86_400

    /// Adds `bins` to what is stored in one transaction: bytes add to an existing bin (a
    /// restarted relay continues the bin it was in), maxima keep the larger value.
    public func addBandwidth(_ bins: [BandwidthBin]) throws {
        guard !bins.isEmpty else { return }
        try writing("record bandwidth") { db in
            for bin in bins {
                let r = BandwidthBinRecord(bin)
                try db.execute(sql: """
                    INSERT INTO bandwidth_bin (start, read, written, ipv6_read, ipv6_written, dir_read, dir_written,
                                               max_read_rate, max_write_rate)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (start) DO UPDATE SET
                        read = read + excluded.read, written = written + excluded.written,
                        ipv6_read = ipv6_read + excluded.ipv6_read, ipv6_written = ipv6_written + excluded.ipv6_written,
                        dir_read = dir_read + excluded.dir_read, dir_written = dir_written + excluded.dir_written,
                        max_read_rate = max(max_read_rate, excluded.max_read_rate),
                        max_write_rate = max(max_write_rate, excluded.max_write_rate)
                    """, arguments: [r.start, r.read, r.written, r.ipv6Read, r.ipv6Written, r.dirRead, r.dirWritten,
                                     r.maxReadRate, r.maxWriteRate])
            }
        }
    }

    /// Bins whose start lies in `from..<to` (Unix seconds), oldest first.
    /// Adds history recorded elsewhere (C tor's state file) in one transaction; refused when the
    /// node already has bins in that span, which would be counted twice.
    public func importBandwidth(_ bins: [BandwidthBin]) throws {
        guard let first = bins.first?.start, let last = bins.last?.start else { return }
        let overlap = try reading("read bandwidth history") { db in
            try BandwidthBinRecord.filter(Column("start") >= first && Column("start") <= last).fetchCount(db)
        }
        guard overlap == 0 else {
            throw RelayStoreError(.alreadyExists, "\(path) already holds bandwidth history between \(first) and \(last) (Unix time); importing would count it twice")
        }
        try addBandwidth(bins)
    }

    public func bandwidthBins(from: Int64 = .min, to: Int64 = .max) throws -> [BandwidthBin] {
        try reading("read bandwidth history") { db in
            try BandwidthBinRecord.filter(Column("start") >= from && Column("start") < to)
                .order(Column("start")).fetchAll(db).map(\.bin)
        }
    }

    /// Deletes bins that started before `cutoff`; returns how many.
    @discardableResult
    public func pruneBandwidth(before cutoff: Int64) throws -> Int {
        try writing("prune bandwidth history") { db in
            try BandwidthBinRecord.filter(Column("start") < cutoff).deleteAll(db)
        }
    }

    /// The extra-info history lines (`write-history`, `read-history`, `ipv6-…`, `dirreq-…`)
    /// for a descriptor published at `now`; empty when no 24-hour interval has completed.
    /// `relayBandwidthRate`: the `RelayBandwidthRate` option in bytes/s, if set.
    public func extraInfoHistoryLines(now: Date, relayBandwidthRate: UInt64? = nil) throws -> [String] {
        let t = Int64(now.timeIntervalSince1970)
        return BandwidthHistory.extraInfoLines(bins: try recentBins(now: t), now: t, relayBandwidthRate: relayBandwidthRate)
    }

    /// The descriptor's observed bandwidth in bytes/s (CTor's `bwhist_bandwidth_assess`).
    /// `includeCurrentInterval`: true in test networks (CTor's `TestingMinTimeToReportBandwidth 0`).
    public func observedBandwidth(now: Date, includeCurrentInterval: Bool = false) throws -> Int {
        let t = Int64(now.timeIntervalSince1970)
        return BandwidthHistory.observedBandwidth(bins: try recentBins(now: t), now: t, includeCurrentInterval: includeCurrentInterval)
    }

    /// Enough history for the published window: the 5 intervals before the current one, plus
    /// the earliest bin ever (where history began).
    private func recentBins(now: Int64) throws -> [BandwidthBin] {
        let windowStart = (now / BandwidthHistory.interval - Int64(BandwidthHistory.maxIntervals)) * BandwidthHistory.interval
        return try reading("read bandwidth history") { db in
            let first = try BandwidthBinRecord.order(Column("start")).limit(1).fetchOne(db).map(\.bin)
            let recent = try BandwidthBinRecord.filter(Column("start") >= windowStart && Column("start") <= now)
                .order(Column("start")).fetchAll(db).map(\.bin)
            guard let first, first.start < windowStart else { return recent }
            return [first] + recent
        }
    }
}
