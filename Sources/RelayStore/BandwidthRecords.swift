import Foundation
import GRDB
import TorProtocol

/// One row of `bandwidth_bin`.
struct BandwidthBinRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "bandwidth_bin"
    var start: Int64
    var read: Int64
    var written: Int64
    var ipv6Read: Int64
    var ipv6Written: Int64
    var dirRead: Int64
    var dirWritten: Int64
    var maxReadRate: Int64
    var maxWriteRate: Int64

    enum CodingKeys: String, CodingKey {
        case start, read, written
        case ipv6Read = "ipv6_read", ipv6Written = "ipv6_written"
        case dirRead = "dir_read", dirWritten = "dir_written"
        case maxReadRate = "max_read_rate", maxWriteRate = "max_write_rate"
    }

    init(_ b: BandwidthBin) {
        func i(_ v: UInt64) -> Int64 { Int64(clamping: v) }
        start = b.start
        read = i(b.bytes.read)
        written = i(b.bytes.written)
        ipv6Read = i(b.bytes.ipv6Read)
        ipv6Written = i(b.bytes.ipv6Written)
        dirRead = i(b.bytes.dirRead)
        dirWritten = i(b.bytes.dirWritten)
        maxReadRate = i(b.maxReadRate)
        maxWriteRate = i(b.maxWriteRate)
    }

    var bin: BandwidthBin {
        func u(_ v: Int64) -> UInt64 { UInt64(max(0, v)) }
        return BandwidthBin(start: start,
                            bytes: TrafficTotals(read: u(read), written: u(written), ipv6Read: u(ipv6Read),
                                                 ipv6Written: u(ipv6Written), dirRead: u(dirRead), dirWritten: u(dirWritten)),
                            maxReadRate: u(maxReadRate), maxWriteRate: u(maxWriteRate))
    }
}
