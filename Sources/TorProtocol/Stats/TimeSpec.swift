import Foundation

/// Points in time as operators type them on a command line (`relaynode stats`, `fleetctl
/// stats`): ISO 8601 (`2025-06-01T12:00:00Z`), a UTC date (`2025-06-01`), an age before `now`
/// (`30s`, `90m`, `24h`, `7d`, `2w`), or `now`. Pure: the caller passes the clock's reading.
public enum TimeSpec {
    /// Bin widths the statistics commands aggregate into, by their command-line names.
    public static let binWidths: [String: Int64] = ["15m": 900, "1h": 3600, "1d": 86_400]

    /// What the accepted forms are, for error messages.
    public static let expected = "ISO 8601 (2025-06-01 or 2025-06-01T12:00:00Z), an age such as 24h, or 'now'"

    /// The time `text` names, or nil when it is none of the accepted forms.
    public static func parse(_ text: String, now: Date) -> Date? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t == "now" { return now }
        if let last = t.last, let unit = ["s": 1.0, "m": 60, "h": 3600, "d": 86_400, "w": 604_800][String(last)],
           let n = Double(t.dropLast()), n >= 0, n.isFinite {
            return now - n * unit
        }
        let full = ISO8601DateFormatter()
        if let d = full.date(from: t) { return d }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: t)
    }
}
