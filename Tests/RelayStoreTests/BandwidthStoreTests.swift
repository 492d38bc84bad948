import Foundation
import GRDB
import Testing
import TorProtocol
@testable import RelayStore

/// Bandwidth bins and health records in a real SQLite database, migrated from zero.
@Suite struct BandwidthStoreTests {
    /// 2025-06-10 00:00:00 UTC.
    static let d0: Int64 = 1_749_513_600

    static func bin(_ start: Int64, read: UInt64, written: UInt64, maxRead: UInt64 = 0, maxWrite: UInt64 = 0) -> BandwidthBin {
        BandwidthBin(start: start, bytes: TrafficTotals(read: read, written: written), maxReadRate: maxRead, maxWriteRate: maxWrite)
    }

    @Test func binsAddUpAcrossWritesAndKeepTheLargerMaxima() throws {
        let tmp = TempDirectory()
        let db = try NodeDatabase(dataDirectory: tmp.sub("d"), create: true)
        try db.addBandwidth([Self.bin(Self.d0, read: 100, written: 200, maxRead: 10, maxWrite: 50)])
        // A restarted relay continues the same bin.
        let again = try NodeDatabase(dataDirectory: tmp.sub("d"), create: false)
        try again.addBandwidth([Self.bin(Self.d0, read: 1, written: 2, maxRead: 30, maxWrite: 5),
                                Self.bin(Self.d0 + 900, read: 7, written: 8)])
        #expect(try again.bandwidthBins() == [Self.bin(Self.d0, read: 101, written: 202, maxRead: 30, maxWrite: 50),
                                              Self.bin(Self.d0 + 900, read: 7, written: 8)])
        #expect(try again.bandwidthBins(from: Self.d0 + 1) == [Self.bin(Self.d0 + 900, read: 7, written: 8)])
        #expect(try again.pruneBandwidth(before: Self.d0 + 900) == 1)
        #expect(try again.bandwidthBins().map(\.start) == [Self.d0 + 900])
    }

    @Test func schemaRefusesBinsOffTheGridAndNegativeCounts() throws {
        let tmp = TempDirectory()
        let db = try NodeDatabase(dataDirectory: tmp.sub("d"), create: true)
        #expect(throws: RelayStoreError.self) { try db.addBandwidth([Self.bin(Self.d0 + 1, read: 1, written: 1)]) }
        #expect(throws: DatabaseError.self) {
            try db.pool.write { try $0.execute(sql: "INSERT INTO bandwidth_bin (start, read) VALUES (?, -1)", arguments: [Self.d0]) }
        }
        #expect(throws: DatabaseError.self) {
            // Since schema 4 the kinds are relaynode's to check; the table still refuses what is
            // no kind name at all.
            try db.pool.write { try $0.execute(sql: "INSERT INTO health_event (at, kind) VALUES (1, 'Not a kind!')") }
        }
        #expect(try db.bandwidthBins().isEmpty)
    }

    @Test func historyLinesAndObservedBandwidthFromTheDatabase() throws {
        let tmp = TempDirectory()
        let db = try NodeDatabase(dataDirectory: tmp.sub("d"), create: true)
        let day: Int64 = 86_400
        try db.addBandwidth([
            Self.bin(Self.d0 - 100 * day, read: 5, written: 5),                  // history began long ago
            Self.bin(Self.d0 - 2 * day, read: 10_000, written: 20_000, maxRead: 900, maxWrite: 700),
            Self.bin(Self.d0 - day + 3600, read: 3000, written: 4096, maxRead: 100, maxWrite: 2000),
            Self.bin(Self.d0 + 900, read: 1, written: 1, maxRead: 99_999, maxWrite: 99_999),
        ])
        let now = Date(timeIntervalSince1970: TimeInterval(Self.d0 + 3600))
        #expect(try db.extraInfoHistoryLines(now: now) == [
            "write-history 2025-06-10 00:00:00 (86400 s) 0,0,0,19456,4096",
            "read-history 2025-06-10 00:00:00 (86400 s) 0,0,0,9216,2048",
        ])
        #expect(try db.observedBandwidth(now: now) == 900)
        #expect(try db.observedBandwidth(now: now, includeCurrentInterval: true) == 99_999)
    }

    @Test func healthEventsAndSamples() throws {
        let tmp = TempDirectory()
        let db = try NodeDatabase(dataDirectory: tmp.sub("d"), create: true)
        let t = Date(timeIntervalSince1970: TimeInterval(Self.d0))
        try db.recordHealthEvent(.start, at: t, pid: 42, detail: "relaynode 0.1.0")
        try db.recordHealthEvent(.descriptorUpload, at: t + 5, ok: false, detail: "moria1: 400 Bad descriptor")
        try db.recordHealthSample(HealthSample(at: t + 60, linksOpen: 3, circuitsOpen: 7, queuedCells: 12, onionskinDrops: 0,
                                               rssBytes: 50_000_000, openFDs: 20))
        try db.recordHealthEvent(.stop, at: t + 90, pid: 42)
        let events = try db.healthEvents()
        #expect(events.map(\.kind) == [.stop, .descriptorUpload, .start])
        #expect(events[1].ok == false && events[1].detail == "moria1: 400 Bad descriptor")
        #expect(try db.lastStartOrStop()?.kind == .stop)
        #expect(try db.latestHealthSample()?.circuitsOpen == 7)
        #expect(try db.healthEvents(kinds: [.start]).map(\.pid) == [42])
        try db.pruneHealth(now: t + NodeDatabase.healthSampleRetention + 61)
        #expect(try db.latestHealthSample() == nil)
        #expect(try db.healthEvents().count == 3)
    }

    @Test func readOnlyOpenSeesWhatTheWriterCommitted() throws {
        let tmp = TempDirectory()
        let writer = try NodeDatabase(dataDirectory: tmp.sub("d"), create: true)
        try writer.addBandwidth([Self.bin(Self.d0, read: 1, written: 2)])
        let reader = try NodeDatabase(readingDataDirectory: tmp.sub("d"))
        #expect(try reader.bandwidthBins().count == 1)
        try writer.addBandwidth([Self.bin(Self.d0 + 900, read: 1, written: 2)])
        #expect(try reader.bandwidthBins().count == 2)
        #expect(throws: RelayStoreError.self) { try reader.addBandwidth([Self.bin(Self.d0, read: 1, written: 1)]) }
        #expect(throws: RelayStoreError.self) { try NodeDatabase(readingDataDirectory: tmp.sub("missing")) }
    }

    @Test func accumulatorBinsBytesAndMeasuresTenSecondRates() {
        var acc = BandwidthAccumulator()
        let t0 = Double(Self.d0 + 900 - 20)
        acc.sample(TrafficTotals(read: 1000, written: 1000), at: t0)            // base: not counted
        acc.sample(TrafficTotals(read: 2000, written: 6000), at: t0 + 10)       // 100 B/s, 500 B/s
        acc.sample(TrafficTotals(read: 2000, written: 6000), at: t0 + 20)
        acc.sample(TrafficTotals(read: 52_000, written: 7000), at: t0 + 30)     // next bin: 5000 B/s read
        acc.sample(TrafficTotals(read: 62_000, written: 8000), at: t0 + 30.5)   // short window: bytes, no rate
        #expect(acc.drain() == [
            Self.bin(Self.d0, read: 1000, written: 5000, maxRead: 100, maxWrite: 500),
            Self.bin(Self.d0 + 900, read: 60_000, written: 2000, maxRead: 5000, maxWrite: 100),
        ])
        #expect(!acc.hasPending)
        acc.sample(TrafficTotals(read: 62_100, written: 8000), at: t0 + 40)
        let bins = acc.drain()
        #expect(bins == [Self.bin(Self.d0 + 900, read: 100, written: 0, maxRead: 1010, maxWrite: 100)])
        acc.restore(bins)
        #expect(acc.drain() == bins)
    }

    /// The wall clock stepping back an hour and then forward a day (NTP, a suspended VM): every
    /// byte is counted once, in the bin of the time it was seen; no rate comes from a negative
    /// or stretched window beyond what the bytes allow.
    @Test func clockStepsCountEveryByteOnce() {
        var acc = BandwidthAccumulator()
        let t0 = Double(Self.d0 + 100)
        acc.sample(TrafficTotals(read: 0, written: 0), at: t0)
        acc.sample(TrafficTotals(read: 10_000, written: 0), at: t0 + 10)          // 1000 B/s
        acc.sample(TrafficTotals(read: 20_000, written: 0), at: t0 - 3600)        // stepped back an hour
        acc.sample(TrafficTotals(read: 30_000, written: 0), at: t0 - 3590)        // 1000 B/s again
        acc.sample(TrafficTotals(read: 40_000, written: 0), at: t0 + 86_400)      // stepped forward a day
        let bins = acc.drain()
        #expect(bins.reduce(0) { $0 + $1.bytes.read } == 40_000)
        #expect(bins.allSatisfy { $0.maxReadRate <= 1000 }, "\(bins)")
        #expect(bins.map(\.start) == [Self.d0 - 3600, Self.d0, Self.d0 + 86_400], "\(bins)")
        #expect(bins.map(\.bytes.read) == [20_000, 10_000, 10_000])
        #expect(bins.map(\.maxReadRate) == [1000, 1000, 0])
    }
}

