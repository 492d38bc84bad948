import Foundation

/// `AccountingMax`, `AccountingStart`, `AccountingRule` (tor(1), C tor's hibernate.c): a byte
/// budget per day, week or month. Near the budget the relay hibernates softly (no new
/// connections or circuits; those it carries go on), at the budget hard (every link closed),
/// until the next interval. Pure: the caller passes the clock and the counts. Intervals are in
/// UTC (C tor uses local time).
public struct AccountingConfig: Sendable, Equatable {
    public enum Period: String, Sendable, Equatable { case day, week, month }
    public enum Rule: String, Sendable, Equatable { case sum, max, `in`, out }

    /// The budget in bytes; 0: accounting off.
    public var max: UInt64 = 0
    public var period: Period = .month
    /// Day of the month (1–28) or of the week (1 = Monday … 7); unused for `day`.
    public var startDay = 1
    /// Minutes after midnight the interval starts.
    public var startMinute = 0
    public var rule: Rule = .max

    public init() {}

    public var enabled: Bool { max > 0 }

    static var utc: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }

    /// The interval holding `now`: [start, end).
    public func interval(containing now: Date) -> (start: Date, end: Date) {
        let cal = Self.utc
        func at(_ day: Date) -> Date { cal.date(byAdding: .minute, value: startMinute, to: cal.startOfDay(for: day))! }
        switch period {
        case .day:
            var start = at(now)
            if start > now { start = cal.date(byAdding: .day, value: -1, to: start)! }
            return (start, cal.date(byAdding: .day, value: 1, to: start)!)
        case .week:
            // Calendar weekday: 1 = Sunday … 7 = Saturday; ours: 1 = Monday … 7 = Sunday.
            let weekday = cal.component(.weekday, from: now)
            let ours = (weekday + 5) % 7 + 1
            var start = at(cal.date(byAdding: .day, value: -(ours - startDay + 7) % 7, to: now)!)
            if start > now { start = cal.date(byAdding: .day, value: -7, to: start)! }
            return (start, cal.date(byAdding: .day, value: 7, to: start)!)
        case .month:
            var comps = cal.dateComponents([.year, .month], from: now)
            comps.day = startDay
            var start = at(cal.date(from: comps)!)
            if start > now { start = at(cal.date(byAdding: .month, value: -1, to: cal.date(from: comps)!)!) }
            return (start, cal.date(byAdding: .month, value: 1, to: start)!)
        }
    }

    /// The bytes that count against the budget.
    public func usage(read: UInt64, written: UInt64) -> UInt64 {
        switch rule {
        case .sum: read &+ written
        case .max: Swift.max(read, written)
        case .in: read
        case .out: written
        }
    }

    /// Where soft hibernation begins (C tor's rule): at 95% of the budget, raised so that no
    /// more than 500 MiB, or three hours' worth of the expected rate, is held back.
    public func softLimit(expectedBytesPerMinute: UInt64) -> UInt64 {
        var soft = UInt64(Double(max) * 0.95)
        let keep: UInt64 = 500 << 20
        if max > keep, max - keep > soft { soft = max - keep }
        let expected = expectedBytesPerMinute &* 180
        if expectedBytesPerMinute > 0, max > expected, max - expected > soft { soft = max - expected }
        return soft
    }

    /// When to wake in the interval (C tor's idea): early enough that the expected rate spends
    /// the budget by the end; deterministic per relay and interval (`seed`), spread over the
    /// slack. Without an estimate, at the start.
    public func wakeTime(start: Date, end: Date, expectedBytesPerMinute: UInt64, seed: [UInt8]) -> Date {
        guard expectedBytesPerMinute > 0 else { return start }
        let exhaust = Double(max / expectedBytesPerMinute) * 60
        let slack = end.timeIntervalSince(start) - exhaust
        guard slack > 1 else { return start }
        let r = seed.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return start + TimeInterval(UInt64(r) % UInt64(slack))
    }

    public enum State: String, Sendable { case awake, soft, hard }

    /// The hibernation state for `usage` at `now`.
    public func state(usage: UInt64, softLimit: UInt64, now: Date, wake: Date) -> State {
        guard enabled else { return .awake }
        if usage >= max { return .hard }
        if now < wake { return .soft }   // before the wake time: not accepting (C tor sleeps then)
        if usage >= softLimit { return .soft }
        return .awake
    }

    /// Parses `AccountingStart day|week|month [DAY] HH:MM`.
    static func parseStart(_ value: String, _ here: String) throws -> (Period, Int, Int) {
        let w = value.split(separator: " ", omittingEmptySubsequences: true)
        guard let p = w.first.flatMap({ Period(rawValue: $0.lowercased()) }) else {
            throw TorProtocolError(.malformed, "\(here): AccountingStart must be 'day HH:MM', 'week DAY HH:MM' or 'month DAY HH:MM', got '\(value)'")
        }
        var day = 1
        var rest = w.dropFirst()
        if p != .day {
            guard let d = rest.first.flatMap({ Int($0) }), p == .month ? (1...28).contains(d) : (1...7).contains(d) else {
                throw TorProtocolError(.malformed, "\(here): AccountingStart \(p.rawValue) needs a day (\(p == .month ? "1-28" : "1-7, 1 is Monday")), got '\(value)'")
            }
            day = d
            rest = rest.dropFirst()
        }
        guard rest.count == 1, let time = rest.first else {
            throw TorProtocolError(.malformed, "\(here): AccountingStart needs a time of day HH:MM, got '\(value)'")
        }
        let hm = time.split(separator: ":")
        guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...23).contains(h), (0...59).contains(m) else {
            throw TorProtocolError(.malformed, "\(here): AccountingStart time must be HH:MM, got '\(time)'")
        }
        return (p, day, h * 60 + m)
    }
}
