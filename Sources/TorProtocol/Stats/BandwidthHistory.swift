import Foundation

/// What a relay publishes about its own bandwidth, computed from 15-minute bins: the
/// extra-info `*-history` lines and the descriptor's observed bandwidth.
///
/// Format and rules follow dir-spec §2.1.2 ("read-history"/"write-history") and CTor 0.4.9's
/// `src/feature/stats/bwhist.c` (read, not copied):
/// - 24-hour intervals (`NUM_SECS_BW_SUM_INTERVAL`), at most 5 of them (`NUM_TOTALS`),
///   oldest first; only completed intervals are published, and the time is the end of the
///   most recent one.
/// - each value is rounded down to a multiple of 1024 and capped at `RelayBandwidthRate` ×
///   86400 when that option is set.
/// - a family's history only moves forward when bytes of that family are noted (`add_obs`),
///   so a family that never saw a byte (IPv6 on an IPv4-only relay, dirreq on a relay that
///   serves no directory requests) has no line, and a family's last interval is the last
///   one that ended before its latest byte.
/// - lines in CTor's order: write, read, ipv6-write, ipv6-read, dirreq-write, dirreq-read.
///
/// Differences from CTor, by design: intervals are aligned to UTC midnight (CTor aligns them
/// to when its history began, carried in the state file's `BWHistory*Ends`), so the first
/// interval after a relay's first start may be partial; and a family whose last byte is older
/// than the 5 intervals is dropped (CTor drops such history only when loading its state file).
public enum BandwidthHistory {
    /// Seconds per published interval (CTor `NUM_SECS_BW_SUM_INTERVAL`).
    public static let interval: Int64 = 86_400
    /// Published intervals at most (CTor `NUM_TOTALS` = 5 days / 1 day).
    public static let maxIntervals = 5
    /// Seconds of one rate-measuring window (CTor `NUM_SECS_ROLLING_MEASURE`).
    public static let rateWindow: Int64 = 10

    /// One of the six families.
    public struct Family: Sendable, Hashable {
        public let keyword: String
        let bytes: @Sendable (TrafficTotals) -> UInt64

        public static func == (a: Family, b: Family) -> Bool { a.keyword == b.keyword }
        public func hash(into h: inout Hasher) { h.combine(keyword) }

        public static let write = Family(keyword: "write-history") { $0.written }
        public static let read = Family(keyword: "read-history") { $0.read }
        public static let ipv6Write = Family(keyword: "ipv6-write-history") { $0.ipv6Written }
        public static let ipv6Read = Family(keyword: "ipv6-read-history") { $0.ipv6Read }
        public static let dirreqWrite = Family(keyword: "dirreq-write-history") { $0.dirWritten }
        public static let dirreqRead = Family(keyword: "dirreq-read-history") { $0.dirRead }

        /// In the order CTor emits them (`bwhist_get_bandwidth_lines`).
        public static let all: [Family] = [.write, .read, .ipv6Write, .ipv6Read, .dirreqWrite, .dirreqRead]
    }

    /// A family's published history: the end of its latest completed interval and the
    /// per-interval byte counts, oldest first.
    public struct Series: Sendable, Equatable {
        public var end: Int64
        public var values: [UInt64]
    }

    /// The completed intervals of `family` as of `now`; nil when there is none to publish.
    public static func series(_ family: Family, bins: [BandwidthBin], now: Int64) -> Series? {
        let current = floorDiv(now, interval) * interval
        guard let first = bins.map(\.start).min(),
              let lastActive = bins.filter({ family.bytes($0.bytes) > 0 && $0.start < now }).map(\.start).max()
        else { return nil }
        // The last interval that ended at or before the family's latest byte.
        let end = min(floorDiv(lastActive, interval) * interval, current)
        let historyStart = floorDiv(first, interval) * interval
        let oldest = max(historyStart, end - Int64(maxIntervals) * interval, current - Int64(maxIntervals) * interval)
        guard end > oldest else { return nil }
        var values = [UInt64]()
        var t = oldest
        while t < end {
            let upper = t + interval
            values.append(bins.filter { $0.start >= t && $0.start < upper }.reduce(UInt64(0)) { $0 &+ family.bytes($1.bytes) })
            t = upper
        }
        return Series(end: end, values: values)
    }

    /// The extra-info lines, e.g. `write-history 2025-06-01 00:00:00 (86400 s) 5312345088,5219876864`.
    /// `relayBandwidthRate`: the `RelayBandwidthRate` option in bytes/s, if set.
    public static func extraInfoLines(bins: [BandwidthBin], now: Int64, relayBandwidthRate: UInt64? = nil) -> [String] {
        let cap = relayBandwidthRate.map { $0.multipliedReportingOverflow(by: UInt64(interval)) }
            .map { $0.overflow ? UInt64.max : $0.partialValue } ?? UInt64.max
        return Family.all.compactMap { family in
            guard let s = series(family, bins: bins, now: now) else { return nil }
            let values = s.values.map { min($0 & ~UInt64(0x3ff), cap) }
            return "\(family.keyword) \(NetDoc.formatTime(Date(timeIntervalSince1970: TimeInterval(s.end)))) (\(interval) s) \(values.map(String.init).joined(separator: ","))"
        }
    }

    /// The descriptor's observed bandwidth (bytes/s), as CTor's `bwhist_bandwidth_assess`:
    /// the smaller of the highest 10-second read rate and the highest 10-second write rate,
    /// each over the family's completed intervals (up to 5 days). `includeCurrentInterval`:
    /// also count the interval still in progress — CTor does so only when
    /// `TestingMinTimeToReportBandwidth` (1 day, 0 in test networks) has passed in it.
    public static func observedBandwidth(bins: [BandwidthBin], now: Int64, includeCurrentInterval: Bool = false) -> Int {
        let current = floorDiv(now, interval) * interval
        func highest(_ family: Family, _ rate: (BandwidthBin) -> UInt64) -> UInt64 {
            let range: Range<Int64>
            if includeCurrentInterval {
                range = (current - Int64(maxIntervals) * interval)..<(now + 1)
            } else if let s = series(family, bins: bins, now: now) {
                range = (s.end - Int64(s.values.count) * interval)..<s.end
            } else {
                return 0
            }
            return bins.filter { range.contains($0.start) }.map(rate).max() ?? 0
        }
        let r = highest(.read, \.maxReadRate)
        let w = highest(.write, \.maxWriteRate)
        return Int(clamping: min(r, w))
    }
}
