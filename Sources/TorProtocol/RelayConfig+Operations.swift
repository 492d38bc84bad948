/// Operator options around bandwidth, logging and the heartbeat, with C tor's syntax and
/// defaults (tor(1)): `RelayBandwidthRate`/`RelayBandwidthBurst` (0: off), `MaxAdvertisedBandwidth`
/// (1 GByte), `SafeLogging 0|1|relay` (1), `HeartbeatPeriod` (6 hours; 0 turns it off, otherwise
/// at least 30 minutes unless TestingTorNetwork), and `Log SEVERITY[-SEVERITY] stderr|stdout|file PATH`.
public struct OperationsConfig: Sendable, Equatable {
    public enum Severity: Int, Sendable, Comparable, CaseIterable {
        case debug, info, notice, warn, err
        public static func < (a: Severity, b: Severity) -> Bool { a.rawValue < b.rawValue }
    }

    public enum Destination: Sendable, Equatable {
        case stderr, stdout
        case file(String)
    }

    /// One `Log` line: messages from `min` to `max` severity go to `destination`.
    public struct LogTarget: Sendable, Equatable {
        public var min: Severity
        public var max: Severity
        public var destination: Destination
    }

    public var relayBandwidthRate = 0
    public var relayBandwidthBurst = 0
    public var maxAdvertisedBandwidth = 1 << 30
    public var safeLogging = true
    public var heartbeatPeriod: Double = 6 * 3600
    public var logs: [LogTarget] = []
    public var accounting = AccountingConfig()

    public init() {}

    mutating func parse(_ option: String, _ value: String, _ here: String) throws {
        switch option {
        case "RelayBandwidthRate":
            relayBandwidthRate = value == "0" ? 0 : try RelayConfig.parseBandwidth(value, here, option)
        case "RelayBandwidthBurst":
            relayBandwidthBurst = value == "0" ? 0 : try RelayConfig.parseBandwidth(value, here, option)
        case "MaxAdvertisedBandwidth":
            maxAdvertisedBandwidth = try RelayConfig.parseBandwidth(value, here, option)
        case "SafeLogging":
            switch value.lowercased() {
            case "1", "relay": safeLogging = true
            case "0": safeLogging = false
            default: throw TorProtocolError(.malformed, "\(here): SafeLogging must be 0, 1 or relay, got '\(value)'")
            }
        case "HeartbeatPeriod":
            heartbeatPeriod = try RelayConfig.parseInterval(value, here, option)
        case "Log":
            logs.append(try Self.parseLog(value, here))
        case "AccountingMax":
            accounting.max = value == "0" ? 0 : UInt64(try RelayConfig.parseBandwidth(value, here, option, limit: Double(1 << 60)))
        case "AccountingStart":
            (accounting.period, accounting.startDay, accounting.startMinute) = try AccountingConfig.parseStart(value, here)
        case "AccountingRule":
            guard let r = AccountingConfig.Rule(rawValue: value.lowercased()) else {
                throw TorProtocolError(.malformed, "\(here): AccountingRule must be sum, max, in or out, got '\(value)'")
            }
            accounting.rule = r
        default:
            preconditionFailure("not an operations option: \(option)")
        }
    }

    static func severity(_ s: Substring, _ here: String) throws -> Severity {
        switch s.lowercased() {
        case "debug": return .debug
        case "info": return .info
        case "notice": return .notice
        case "warn": return .warn
        case "err": return .err
        default: throw TorProtocolError(.malformed, "\(here): Log severity '\(s)' is not debug, info, notice, warn or err")
        }
    }

    static func parseLog(_ value: String, _ here: String) throws -> LogTarget {
        let words = value.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard words.count >= 2 else {
            throw TorProtocolError(.malformed, "\(here): Log needs a severity and a destination (stderr, stdout or file PATH), got '\(value)'")
        }
        let range = words[0].split(separator: "-", maxSplits: 1)
        guard let lo = range.first else { throw TorProtocolError(.malformed, "\(here): Log needs a severity") }
        if words[0].contains("[") {
            throw TorProtocolError(.unsupported, "\(here): Log domains ([...]) are not supported")
        }
        let min = try severity(lo, here), max = range.count == 2 ? try severity(range[1], here) : .err
        guard min <= max else { throw TorProtocolError(.malformed, "\(here): Log severity range '\(words[0])' runs backwards") }
        let destination: Destination
        switch words[1].lowercased() {
        case "stderr": destination = .stderr
        case "stdout": destination = .stdout
        case "file":
            guard words.count == 3, words[2].hasPrefix("/") else {
                throw TorProtocolError(.malformed, "\(here): Log ... file needs an absolute path, got '\(value)'")
            }
            destination = .file(String(words[2]))
        case "syslog", "journald", "android":
            throw TorProtocolError(.unsupported, "\(here): Log \(words[1]) is not supported: use stderr, stdout or file PATH")
        default:
            throw TorProtocolError(.malformed, "\(here): Log destination '\(words[1])' is not stderr, stdout or file PATH")
        }
        if words.count == 3, destination != .file(String(words[2])) {
            throw TorProtocolError(.malformed, "\(here): unexpected '\(words[2])' after the Log destination")
        }
        return LogTarget(min: min, max: max, destination: destination)
    }
}

extension RelayConfig {
    static let operationsOptions = ["RelayBandwidthRate", "RelayBandwidthBurst", "MaxAdvertisedBandwidth", "SafeLogging",
                                    "HeartbeatPeriod", "Log", "AccountingMax", "AccountingStart", "AccountingRule"]

    /// The rate the token buckets enforce: BandwidthRate, lowered by RelayBandwidthRate when set
    /// (relaynode carries only relayed traffic: it has no client ports).
    public var effectiveBandwidthRate: Int {
        operations.relayBandwidthRate > 0 ? min(bandwidthRate, operations.relayBandwidthRate) : bandwidthRate
    }

    public var effectiveBandwidthBurst: Int {
        operations.relayBandwidthBurst > 0 ? min(bandwidthBurst, operations.relayBandwidthBurst) : bandwidthBurst
    }

    /// The descriptor's advertised rate, as C tor computes it: BandwidthRate, capped by
    /// MaxAdvertisedBandwidth and by RelayBandwidthRate when set.
    public var advertisedBandwidthRate: Int { min(effectiveBandwidthRate, operations.maxAdvertisedBandwidth) }

    func checkOperations() throws {
        let h = operations.heartbeatPeriod
        if h != 0 && h < 30 * 60 && !testingTorNetwork {
            throw TorProtocolError(.malformed, "HeartbeatPeriod must be 0 (off) or at least 30 minutes")
        }
        if operations.relayBandwidthRate > 0, operations.relayBandwidthBurst > 0, operations.relayBandwidthBurst < operations.relayBandwidthRate {
            throw TorProtocolError(.malformed, "RelayBandwidthBurst (\(operations.relayBandwidthBurst)) must be at least RelayBandwidthRate (\(operations.relayBandwidthRate))")
        }
    }
}
