import TorProtocol

/// Turns samples of ever-growing byte counters into 15-minute bins with their highest
/// 10-second rates, between flushes to the database. Pure: times are passed in.
///
/// Bytes between two samples go to the bin holding the middle of that window (samples are
/// taken on 10-second boundaries, which bins share, so a window never straddles two bins).
/// A rate is measured only over windows of at least `minRateWindow` seconds, so an extra
/// sample (the one taken just before a flush) never makes a burst look faster than it was.
/// CTor measures its maxima over a sliding 10-second window at 1-second steps
/// (`NUM_SECS_ROLLING_MEASURE` in bwhist.c); consecutive 10-second windows can read up to
/// that much lower.
public struct BandwidthAccumulator: Sendable {
    public var minRateWindow: Double

    private var last: (time: Double, totals: TrafficTotals)?
    private var rateBase: (time: Double, totals: TrafficTotals)?
    private var pending: [Int64: BandwidthBin] = [:]

    /// Windows longer than this are a clock step, not a measurement window.
    static let maxWindow: Double = 120

    public init(minRateWindow: Double = 9) {
        self.minRateWindow = minRateWindow
    }

    /// Adds the counters as read at `time` (Unix seconds). The first sample only sets the base.
    /// A clock that went backwards starts a new base without counting a rate; one that jumped
    /// forward puts the window's bytes in the bin of the new time.
    public mutating func sample(_ totals: TrafficTotals, at time: Double) {
        defer { last = (time, totals) }
        guard let last else {
            rateBase = (time, totals)
            return
        }
        let delta = totals.since(last.totals)
        // A window far longer than the sampling interval means the clock stepped (or the
        // process was suspended): its bytes go to the bin of the time they were seen.
        let middle = time >= last.time && time - last.time <= Self.maxWindow ? (last.time + time) / 2 : time
        let binStart = BandwidthBin.start(of: Int64(middle.rounded(.down)))
        var bin = pending[binStart] ?? BandwidthBin(start: binStart, bytes: TrafficTotals())
        bin.bytes = bin.bytes + delta
        if let base = rateBase {
            let elapsed = time - base.time
            if elapsed < 0 {
                rateBase = (time, totals)
            } else if elapsed >= minRateWindow {
                let window = totals.since(base.totals)
                bin.maxReadRate = max(bin.maxReadRate, UInt64(Double(window.read) / elapsed))
                bin.maxWriteRate = max(bin.maxWriteRate, UInt64(Double(window.written) / elapsed))
                rateBase = (time, totals)
            }
        }
        if !delta.isZero || bin.maxReadRate > 0 || bin.maxWriteRate > 0 || pending[binStart] != nil {
            pending[binStart] = bin
        }
    }

    /// True when there is something to write.
    public var hasPending: Bool { !pending.isEmpty }

    /// The bins gathered since the last drain, oldest first; the accumulator forgets them.
    public mutating func drain() -> [BandwidthBin] {
        defer { pending = [:] }
        return pending.values.sorted { $0.start < $1.start }
    }

    /// Puts back bins whose write failed, so the next flush retries them.
    public mutating func restore(_ bins: [BandwidthBin]) {
        for b in bins {
            if var existing = pending[b.start] {
                existing.merge(b)
                pending[b.start] = existing
            } else {
                pending[b.start] = b
            }
        }
    }
}
