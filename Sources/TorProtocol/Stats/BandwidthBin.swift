/// Bandwidth used in one 15-minute bin (`start` is a multiple of `BandwidthBin.length`, Unix
/// seconds), with the highest 10-second rates read and written seen in it.
public struct BandwidthBin: Sendable, Equatable, Codable {
    /// Bin length in seconds.
    public static let length: Int64 = 900

    public var start: Int64
    public var bytes: TrafficTotals
    /// Highest average rate over one sampling window (10 s) in the bin, bytes per second.
    public var maxReadRate: UInt64
    public var maxWriteRate: UInt64

    public init(start: Int64, bytes: TrafficTotals, maxReadRate: UInt64 = 0, maxWriteRate: UInt64 = 0) {
        self.start = start
        self.bytes = bytes
        self.maxReadRate = maxReadRate
        self.maxWriteRate = maxWriteRate
    }

    /// The start of the bin holding `time`.
    public static func start(of time: Int64) -> Int64 {
        floorDiv(time, length) * length
    }

    /// Adds `other` (same bin): bytes add, maxima take the larger.
    public mutating func merge(_ other: BandwidthBin) {
        bytes = bytes + other.bytes
        maxReadRate = max(maxReadRate, other.maxReadRate)
        maxWriteRate = max(maxWriteRate, other.maxWriteRate)
    }
}

/// Floor division that rounds toward negative infinity (times before 1970 stay in their bin).
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
