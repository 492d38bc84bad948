import Testing
@testable import TorProtocol

/// Extra-info history lines and observed bandwidth from constructed 15-minute bins. Expected
/// lines follow dir-spec §2.1.2 and the rules of CTor 0.4.9's `bwhist.c`
/// (`bwhist_get_one_bandwidth_line`, `bwhist_fill_bandwidth_history`, `find_largest_max`).
struct BandwidthHistoryTests {
    static let day: Int64 = 86_400
    /// 2025-06-10 00:00:00 UTC.
    static let d0: Int64 = 1_749_513_600
    /// 2025-06-10 12:34:56 UTC.
    static let now = d0 + 12 * 3600 + 34 * 60 + 56

    static func bin(_ dayOffset: Int64, hour: Int64 = 13, _ bytes: TrafficTotals, maxRead: UInt64 = 0, maxWrite: UInt64 = 0) -> BandwidthBin {
        BandwidthBin(start: d0 + dayOffset * day + hour * 3600, bytes: bytes, maxReadRate: maxRead, maxWriteRate: maxWrite)
    }

    /// Seven days of history (day −3 with the relay down), IPv6 traffic on days −4 and −2 only,
    /// no directory requests, and traffic today that is not published yet.
    static let week: [BandwidthBin] = [
        bin(-7, TrafficTotals(read: 1000, written: 1000)),
        bin(-6, TrafficTotals(read: 2000, written: 2000)),
        bin(-5, TrafficTotals(read: 1_048_575, written: 1_048_575)),
        bin(-4, hour: 1, TrafficTotals(read: 5_000_000_000, written: 5_312_345_678, ipv6Read: 4000, ipv6Written: 7000)),
        bin(-4, hour: 23, TrafficTotals(read: 312_345_678, written: 0)),
        bin(-2, TrafficTotals(read: 3000, written: 3000, ipv6Read: 9999, ipv6Written: 9999)),
        bin(-1, TrafficTotals(read: 7000, written: 9999)),
        bin(0, hour: 1, TrafficTotals(read: 123_456_789, written: 123_456_789)),
    ]

    @Test func linesForAWeekOfBins() {
        #expect(BandwidthHistory.extraInfoLines(bins: Self.week, now: Self.now) == [
            // Five completed days, oldest first, ending today at midnight; day −3 (down) is 0.
            "write-history 2025-06-10 00:00:00 (86400 s) 1047552,5312345088,0,2048,9216",
            "read-history 2025-06-10 00:00:00 (86400 s) 1047552,5312345088,0,2048,6144",
            // IPv6 saw its last byte on day −2, so (as CTor's per-family arrays) its history
            // only advanced to the start of day −2.
            "ipv6-write-history 2025-06-08 00:00:00 (86400 s) 0,6144,0",
            "ipv6-read-history 2025-06-08 00:00:00 (86400 s) 0,3072,0",
        ])
    }

    @Test func aFreshRelayPublishesNoLines() {
        let today = [Self.bin(0, hour: 1, TrafficTotals(read: 5000, written: 5000, dirRead: 10, dirWritten: 10))]
        #expect(BandwidthHistory.extraInfoLines(bins: today, now: Self.now).isEmpty)
        #expect(BandwidthHistory.extraInfoLines(bins: [], now: Self.now).isEmpty)
    }

    @Test func oneCompletedDayAndDirectoryBytes() {
        let bins = [
            Self.bin(-1, hour: 22, TrafficTotals(read: 10_000, written: 20_000, dirRead: 1500, dirWritten: 90_000)),
            Self.bin(0, hour: 1, TrafficTotals(read: 1, written: 1, dirRead: 1, dirWritten: 1)),
        ]
        #expect(BandwidthHistory.extraInfoLines(bins: bins, now: Self.now) == [
            "write-history 2025-06-10 00:00:00 (86400 s) 19456",
            "read-history 2025-06-10 00:00:00 (86400 s) 9216",
            "dirreq-write-history 2025-06-10 00:00:00 (86400 s) 89088",
            "dirreq-read-history 2025-06-10 00:00:00 (86400 s) 1024",
        ])
    }

    @Test func relayBandwidthRateCapsEachValue() {
        // RelayBandwidthRate 100 bytes/s: no interval may claim more than 8640000 bytes.
        let lines = BandwidthHistory.extraInfoLines(bins: Self.week, now: Self.now, relayBandwidthRate: 100)
        #expect(lines.first == "write-history 2025-06-10 00:00:00 (86400 s) 1047552,8640000,0,2048,9216")
    }

    @Test func observedBandwidthIsTheSmallerOfTheHighestReadAndWriteRates() {
        let bins = [
            Self.bin(-6, TrafficTotals(read: 1, written: 1), maxRead: 999_999, maxWrite: 999_999),  // older than 5 days
            Self.bin(-3, TrafficTotals(read: 1, written: 1), maxRead: 50_000, maxWrite: 10_000),
            Self.bin(-2, TrafficTotals(read: 1, written: 1), maxRead: 20_000, maxWrite: 30_000),
            Self.bin(0, hour: 1, TrafficTotals(read: 1, written: 1), maxRead: 400_000, maxWrite: 400_000),
        ]
        // Completed intervals only: max read 50000, max write 30000 (not in the same bin).
        #expect(BandwidthHistory.observedBandwidth(bins: bins, now: Self.now) == 30_000)
        // Test networks (TestingMinTimeToReportBandwidth 0) count today as well.
        #expect(BandwidthHistory.observedBandwidth(bins: bins, now: Self.now, includeCurrentInterval: true) == 400_000)
        #expect(BandwidthHistory.observedBandwidth(bins: [], now: Self.now) == 0)
        #expect(BandwidthHistory.observedBandwidth(bins: [bins[3]], now: Self.now) == 0, "nothing completed yet")
    }

    @Test func binBoundaries() {
        #expect(BandwidthBin.start(of: Self.now) == Self.d0 + 12 * 3600 + 30 * 60)
        #expect(BandwidthBin.start(of: -1) == -900)
    }
}
