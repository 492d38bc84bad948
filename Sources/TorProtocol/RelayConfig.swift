import Foundation

/// The relay options this build understands, read from a `Torrc`. Every option that is not
/// supported yet is an error naming it and its line: nothing is silently ignored.
public struct RelayConfig: Sendable, Equatable {
    public var dataDirectory: String?
    public var nickname: String = "Unnamed"
    public var contactInfo: String?
    /// `OfflineMasterKey 1`: the Ed25519 master secret is not kept on this host.
    public var offlineMasterKey = false
    /// `SigningKeyLifetime`: lifetime of the KP_relaysign_ed certificate.
    public var signingKeyLifetime: TimeInterval = 30 * 86_400

    public static let supportedOptions = ["DataDirectory", "Nickname", "ContactInfo", "OfflineMasterKey", "SigningKeyLifetime"]

    public init() {}

    public init(torrc: Torrc) throws {
        for line in torrc.lines {
            guard let option = Self.supportedOptions.first(where: { $0.caseInsensitiveCompare(line.key) == .orderedSame }) else {
                throw TorProtocolError(.unsupported, "\(line.file):\(line.line): option '\(line.key)' is not supported by this relaynode")
            }
            let here = "\(line.file):\(line.line)"
            switch option {
            case "DataDirectory":
                guard !line.value.isEmpty else { throw TorProtocolError(.malformed, "\(here): DataDirectory needs a path") }
                dataDirectory = line.value
            case "Nickname":
                guard Self.isValidNickname(line.value) else {
                    throw TorProtocolError(.malformed, "\(here): Nickname '\(line.value)' must be 1-19 letters or digits")
                }
                nickname = line.value
            case "ContactInfo":
                contactInfo = line.value
            case "OfflineMasterKey":
                offlineMasterKey = try Self.parseBool(line.value, here, option)
            case "SigningKeyLifetime":
                signingKeyLifetime = try Self.parseInterval(line.value, here, option)
                guard signingKeyLifetime >= 86_400 * 2 else {
                    throw TorProtocolError(.malformed, "\(here): SigningKeyLifetime must be at least 2 days")
                }
            default:
                preconditionFailure("unhandled supported option \(option)")
            }
        }
    }

    public static func isValidNickname(_ s: String) -> Bool {
        (1...19).contains(s.count) && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
    }

    static func parseBool(_ value: String, _ here: String, _ option: String) throws -> Bool {
        switch value {
        case "1": return true
        case "0": return false
        default: throw TorProtocolError(.malformed, "\(here): \(option) must be 0 or 1, got '\(value)'")
        }
    }

    /// CTor interval syntax: a number and an optional unit (default seconds).
    static func parseInterval(_ value: String, _ here: String, _ option: String) throws -> TimeInterval {
        let parts = value.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = parts.first, let n = Double(first), n >= 0, parts.count <= 2 else {
            throw TorProtocolError(.malformed, "\(here): \(option) needs a number and a unit, got '\(value)'")
        }
        let unit = parts.count == 2 ? parts[1].lowercased() : "seconds"
        let seconds: Double
        switch unit {
        case "second", "seconds", "sec", "secs": seconds = 1
        case "minute", "minutes", "min", "mins": seconds = 60
        case "hour", "hours": seconds = 3600
        case "day", "days": seconds = 86_400
        case "week", "weeks": seconds = 7 * 86_400
        case "month", "months": seconds = 30 * 86_400
        default: throw TorProtocolError(.malformed, "\(here): \(option) has unknown unit '\(unit)'")
        }
        return n * seconds
    }
}
