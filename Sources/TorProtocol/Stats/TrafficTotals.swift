/// Byte counts by kind: all link bytes read and written (IPv4 and IPv6), the IPv6 part of
/// them, and directory-request bytes (kept apart; see `TrafficCounters.addDirectory`).
/// The six families of CTor's bandwidth history (`bwhist.c`: read, write, IPv6 read/write,
/// dirreq read/write).
public struct TrafficTotals: Sendable, Equatable, Codable {
    public var read: UInt64
    public var written: UInt64
    public var ipv6Read: UInt64
    public var ipv6Written: UInt64
    public var dirRead: UInt64
    public var dirWritten: UInt64

    public init(read: UInt64 = 0, written: UInt64 = 0, ipv6Read: UInt64 = 0, ipv6Written: UInt64 = 0,
                dirRead: UInt64 = 0, dirWritten: UInt64 = 0) {
        self.read = read
        self.written = written
        self.ipv6Read = ipv6Read
        self.ipv6Written = ipv6Written
        self.dirRead = dirRead
        self.dirWritten = dirWritten
    }

    public static func + (a: TrafficTotals, b: TrafficTotals) -> TrafficTotals {
        TrafficTotals(read: a.read &+ b.read, written: a.written &+ b.written,
                      ipv6Read: a.ipv6Read &+ b.ipv6Read, ipv6Written: a.ipv6Written &+ b.ipv6Written,
                      dirRead: a.dirRead &+ b.dirRead, dirWritten: a.dirWritten &+ b.dirWritten)
    }

    /// What was added between `earlier` and `self` (counters only grow; a counter that went
    /// backwards — a restarted source — counts from zero).
    public func since(_ earlier: TrafficTotals) -> TrafficTotals {
        func d(_ now: UInt64, _ then: UInt64) -> UInt64 { now >= then ? now - then : now }
        return TrafficTotals(read: d(read, earlier.read), written: d(written, earlier.written),
                             ipv6Read: d(ipv6Read, earlier.ipv6Read), ipv6Written: d(ipv6Written, earlier.ipv6Written),
                             dirRead: d(dirRead, earlier.dirRead), dirWritten: d(dirWritten, earlier.dirWritten))
    }

    public var isZero: Bool { self == TrafficTotals() }
}
