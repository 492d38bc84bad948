import Foundation

/// C tor's bandwidth history as its DataDirectory `state` file keeps it, so a relay adopted
/// from C tor keeps its history. Facts from C tor's `src/feature/stats/bwhist.c` (0.4.x):
/// six series (`BWHistoryRead…`, `Write`, `IPv6Read`, `IPv6Write`, `DirRead`, `DirWrite`), each
/// `…Ends` (UTC `YYYY-MM-DD HH:MM:SS`, the end of the period in progress), `…Interval` (86400
/// seconds for relays), `…Values` (bytes per interval, oldest first, the last one the period in
/// progress; rounded down to 1 KiB) and `…Maxima` (per interval, the highest 10-second average
/// rate in bytes/s). The period in progress ends at `LastWritten`, when the file was saved.
public struct CTorBandwidthState: Sendable, Equatable {
    public struct Series: Sendable, Equatable {
        public var ends: Int64
        public var interval: Int64
        public var values: [UInt64]
        public var maxima: [UInt64]
    }

    /// By series name: Read, Write, IPv6Read, IPv6Write, DirRead, DirWrite.
    public var series: [String: Series]
    /// `LastWritten`: when C tor saved the file (Unix seconds), if it says.
    public var lastWritten: Int64?

    public static let seriesNames = ["Read", "Write", "IPv6Read", "IPv6Write", "DirRead", "DirWrite"]

    /// Parses the BWHistory lines of a state file; other lines are ignored. A series with a
    /// malformed line is an error naming the line; a file without any series is empty.
    public init(stateText: String, source: String = "state") throws {
        var fields: [String: String] = [:]
        for raw in stateText.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard line.hasPrefix("BWHistory") || line.hasPrefix("LastWritten") else { continue }
            let parts = line.split(separator: " ", maxSplits: 1)
            fields[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        func time(_ key: String) throws -> Int64? {
            guard let text = fields[key] else { return nil }
            guard let t = NetDoc.parseTime(text).map({ Int64($0.timeIntervalSince1970) }) else {
                throw TorProtocolError(.malformed, "\(source): \(key) '\(text)' is not a 'YYYY-MM-DD HH:MM:SS' time")
            }
            return t
        }
        func numbers(_ key: String) throws -> [UInt64]? {
            guard let text = fields[key] else { return nil }
            if text.isEmpty { return [] }
            return try text.split(separator: ",").map {
                guard let v = UInt64($0) else { throw TorProtocolError(.malformed, "\(source): \(key) has '\($0)', not a byte count") }
                return v
            }
        }
        lastWritten = try time("LastWritten")
        var series: [String: Series] = [:]
        for name in Self.seriesNames {
            guard let values = try numbers("BWHistory\(name)Values"), !values.isEmpty else { continue }
            guard let ends = try time("BWHistory\(name)Ends") else {
                throw TorProtocolError(.malformed, "\(source): BWHistory\(name)Values without BWHistory\(name)Ends")
            }
            let intervalText = fields["BWHistory\(name)Interval"] ?? "86400"
            guard let interval = Int64(intervalText), (60...7 * 86_400).contains(interval) else {
                throw TorProtocolError(.malformed, "\(source): BWHistory\(name)Interval '\(intervalText)' is not a number of seconds from 60 to 604800")
            }
            guard values.count <= 64 else {
                throw TorProtocolError(.malformed, "\(source): BWHistory\(name)Values has \(values.count) entries; C tor keeps at most a few days")
            }
            var maxima = try numbers("BWHistory\(name)Maxima") ?? []
            // As C tor: maxima that do not pair with the values are not used.
            if maxima.count != values.count { maxima = [] }
            series[name] = Series(ends: ends, interval: interval, values: values, maxima: maxima)
        }
        self.series = series
    }

    /// The history as 15-minute bins. Each interval's bytes are spread evenly over the seconds
    /// it covers (the period in progress up to `LastWritten`, or `now` when the file does not
    /// say) — C tor itself reloads its history as a per-second average — so every interval's
    /// total is kept exactly; each bin's highest rates are its interval's maxima. Intervals
    /// that end after `now` are cut there.
    public func bins(now: Int64) -> [BandwidthBin] {
        var out: [Int64: BandwidthBin] = [:]
        for (name, s) in series {
            let start = s.ends - s.interval * Int64(s.values.count)
            for (i, value) in s.values.enumerated() where value > 0 {
                let from = start + Int64(i) * s.interval
                var to = from + s.interval
                if i == s.values.count - 1, let w = lastWritten { to = min(to, max(w, from + 1)) }
                to = min(to, max(now, from + 1))
                let maxRate = s.maxima.isEmpty ? value / UInt64(s.interval) : s.maxima[i]
                let span = UInt64(to - from)
                var given: UInt64 = 0
                var t = BandwidthBin.start(of: from)
                while t < to {
                    let overlap = UInt64(min(to, t + BandwidthBin.length) - max(from, t))
                    // The bytes up to the end of this bin, so rounding never loses or adds any.
                    let upTo = UInt64(min(to, t + BandwidthBin.length) - from)
                    let share = value.multipliedFullWidth(by: upTo)
                    let cumulative = span.dividingFullWidth((share.high, share.low)).quotient
                    let bytes = cumulative - given
                    given = cumulative
                    if overlap > 0 {
                        var bin = out[t] ?? BandwidthBin(start: t, bytes: TrafficTotals())
                        switch name {
                        case "Read": bin.bytes.read += bytes; bin.maxReadRate = max(bin.maxReadRate, maxRate)
                        case "Write": bin.bytes.written += bytes; bin.maxWriteRate = max(bin.maxWriteRate, maxRate)
                        case "IPv6Read": bin.bytes.ipv6Read += bytes
                        case "IPv6Write": bin.bytes.ipv6Written += bytes
                        case "DirRead": bin.bytes.dirRead += bytes
                        default: bin.bytes.dirWritten += bytes
                        }
                        out[t] = bin
                    }
                    t += BandwidthBin.length
                }
            }
        }
        return out.values.sorted { $0.start < $1.start }
    }
}
