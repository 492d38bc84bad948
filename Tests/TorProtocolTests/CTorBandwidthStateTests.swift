import Foundation
import Testing
@testable import TorProtocol

/// C tor's bandwidth history from its state file, as `relaynode keys import-ctor` takes it over.
struct CTorBandwidthStateTests {
    /// A state file written by Debian's tor 0.4.9.11 on this project's test machine: relay
    /// `ctor1` of a `scripts/privnet check` run (2026-11-22), after carrying the suite's
    /// downloads; copied unchanged except for its Guard and CircuitBuildTimeBin lines.
    static let ctorState = """
    # Tor state file last generated on 2026-11-22 08:01:31 local time
    # Other times below are in UTC
    # You *do not* need to edit this file.

    BWHistoryDirReadEnds 2026-11-23 08:00:50
    BWHistoryDirReadInterval 86400
    BWHistoryDirReadMaxima 0
    BWHistoryDirReadValues 0
    BWHistoryDirWriteEnds 2026-11-23 08:00:50
    BWHistoryDirWriteInterval 86400
    BWHistoryDirWriteMaxima 0
    BWHistoryDirWriteValues 1024
    BWHistoryIPv6ReadEnds 2026-11-23 08:00:50
    BWHistoryIPv6ReadInterval 86400
    BWHistoryIPv6ReadMaxima 0
    BWHistoryIPv6ReadValues 0
    BWHistoryIPv6WriteEnds 2026-11-23 08:00:50
    BWHistoryIPv6WriteInterval 86400
    BWHistoryIPv6WriteMaxima 0
    BWHistoryIPv6WriteValues 0
    BWHistoryReadEnds 2026-11-23 08:00:50
    BWHistoryReadInterval 86400
    BWHistoryReadMaxima 6328320
    BWHistoryReadValues 76346368
    BWHistoryWriteEnds 2026-11-23 08:00:50
    BWHistoryWriteInterval 86400
    BWHistoryWriteMaxima 6240256
    BWHistoryWriteValues 75028480
    Dormant 0
    LastRotatedOnionKey 2026-11-22 08:00:51
    LastWritten 2026-11-22 08:01:31
    TorVersion Tor 0.4.9.11
    TotalBuildTimes 12

    """

    /// 2026-11-22 08:00:50 UTC, when that period started (Ends minus one interval).
    static let periodStart: Int64 = 1_795_334_450

    @Test func ctorsOwnStateFileBecomesOneBin() throws {
        let s = try CTorBandwidthState(stateText: Self.ctorState)
        #expect(s.lastWritten == Self.periodStart + 41)
        #expect(s.series["Read"] == .init(ends: Self.periodStart + 86_400, interval: 86_400, values: [76_346_368], maxima: [6_328_320]))
        #expect(s.series["IPv6Read"]?.values == [0])
        // 41 seconds of traffic, all in the 08:00 bin; nothing lost or invented.
        let bins = s.bins(now: Self.periodStart + 3600)
        #expect(bins.count == 1)
        let b = try #require(bins.first)
        #expect(b.start == BandwidthBin.start(of: Self.periodStart) && b.start % 900 == 0)
        #expect(b.bytes == TrafficTotals(read: 76_346_368, written: 75_028_480, dirWritten: 1024))
        #expect(b.maxReadRate == 6_328_320 && b.maxWriteRate == 6_240_256)
    }

    /// Three days in C tor's format: whole days spread evenly over 96 bins each, exact totals, the
    /// period in progress only up to LastWritten; a day of zero leaves no bins.
    @Test func severalDaysSpreadWithExactTotals() throws {
        let ends: Int64 = 1_749_600_000 + 3600  // 2025-06-11 01:00:00
        let text = """
        BWHistoryReadEnds 2025-06-11 01:00:00
        BWHistoryReadInterval 86400
        BWHistoryReadValues 96000001,0,7200
        BWHistoryReadMaxima 5000,0,10
        BWHistoryWriteEnds 2025-06-11 01:00:00
        BWHistoryWriteInterval 86400
        BWHistoryWriteValues 1,2,3
        LastWritten 2025-06-10 03:00:00
        """
        let s = try CTorBandwidthState(stateText: text)
        let bins = s.bins(now: ends)
        let firstDay = ends - 3 * 86_400
        let day1 = bins.filter { $0.start >= firstDay && $0.start < firstDay + 86_400 }
        #expect(day1.count == 96)
        #expect(day1.reduce(0) { $0 + $1.bytes.read } == 96_000_001)
        #expect(Set(day1.map(\.bytes.read)).isSubset(of: [1_000_000, 1_000_001]))
        #expect(day1.allSatisfy { $0.maxReadRate == 5000 })
        #expect(bins.filter { $0.start >= firstDay + 86_400 && $0.start < firstDay + 2 * 86_400 && $0.bytes.read > 0 }.isEmpty)
        // The period in progress began at 2025-06-10 01:00 and was saved at 03:00: 8 bins.
        let today = bins.filter { $0.start >= firstDay + 2 * 86_400 && $0.bytes.read > 0 }
        #expect(today.count == 8 && today.reduce(0) { $0 + $1.bytes.read } == 7200)
        // Written has no maxima: the average rate stands in, as C tor assumes.
        #expect(bins.reduce(0) { $0 + $1.bytes.written } == 6)
    }

    @Test func malformedLinesAreErrors() throws {
        for (text, says) in [
            ("BWHistoryReadValues 12,x\nBWHistoryReadEnds 2025-06-11 01:00:00", "not a byte count"),
            ("BWHistoryReadValues 12\n", "without BWHistoryReadEnds"),
            ("BWHistoryReadValues 12\nBWHistoryReadEnds yesterday", "is not a 'YYYY-MM-DD HH:MM:SS' time"),
            ("BWHistoryReadValues 12\nBWHistoryReadEnds 2025-06-11 01:00:00\nBWHistoryReadInterval 0", "Interval"),
            ("BWHistoryReadValues -5\nBWHistoryReadEnds 2025-06-11 01:00:00", "not a byte count"),
        ] {
            #expect {
                _ = try CTorBandwidthState(stateText: text)
            } throws: { e in
                (e as? TorProtocolError)?.context.contains(says) == true
            }
        }
        // A state file with no history (a client's, or a fresh relay's) is simply empty.
        #expect(try CTorBandwidthState(stateText: "TorVersion Tor 0.4.9.11\nBWHistoryReadValues \n").series.isEmpty)
    }
}
