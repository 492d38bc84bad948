import Foundation
import TorCrypto
#if canImport(Glibc)
import Glibc
#endif

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

    /// `ORPort`: where relays and clients connect (bind address and port).
    public var orPorts: [ORPortConfig] = []
    /// `Address`: the IPv4 address this relay advertises (NETINFO, descriptors).
    public var address: String?
    /// `NumCPUs`: event loops to run; 0 means one per core.
    public var numCPUs = 0

    /// `ExitRelay`: nil is `auto` (an exit only if an ExitPolicy is configured), as in CTor.
    public var exitRelay: Bool?
    /// `ExitPolicy` values in order.
    public var exitPolicyLines: [String] = []
    /// `ExitPolicyRejectPrivate` (default 1).
    public var exitPolicyRejectPrivate = true
    /// `MetricsPort` and `MetricsPortPolicy` (RelayConfig+Metrics.swift).
    public var metrics = MetricsPortConfig()
    public var control = ControlPortConfig()
    /// Relay bandwidth, logging and heartbeat options (RelayConfig+Operations.swift).
    public var operations = OperationsConfig()

    /// `DirAuthority` lines: where descriptors are uploaded and the consensus is fetched.
    public var dirAuthorities: [DirAuthorityConfig] = []
    /// `TestingTorNetwork 1`: a private test network (allows private addresses in descriptors).
    public var testingTorNetwork = false
    /// `AssumeReachable 1`: publish without waiting for the reachability self-test.
    public var assumeReachable = false
    /// `PublishServerDescriptor 0` keeps the relay out of the directory (a private bridge-like relay).
    public var publishServerDescriptor = true
    /// `BandwidthRate` / `BandwidthBurst` in bytes per second (CTor's defaults: 1 GByte).
    public var bandwidthRate = 1 << 30
    public var bandwidthBurst = 1 << 30
    /// `MyFamily`: the other relays of this operator, as `$FINGERPRINT`.
    public var myFamily: [String] = []
    /// `FamilyId` (proposal 321, repeatable): the family keys this relay proves membership
    /// with, as unpadded base64 Ed25519 public keys. Each needs its secret key in the node
    /// database (`relaynode keys family-install`); the descriptor carries one `family-cert` per id.
    public var familyIds: [String] = []

    public static let supportedOptions = ["DataDirectory", "Nickname", "ContactInfo", "OfflineMasterKey", "SigningKeyLifetime",
                                          "ORPort", "Address", "NumCPUs", "ExitRelay", "ExitPolicy", "ExitPolicyRejectPrivate",
                                          "DirAuthority", "TestingTorNetwork", "AssumeReachable", "PublishServerDescriptor",
                                          "BandwidthRate", "BandwidthBurst", "MyFamily", "FamilyId"]
        + metricsOptions + controlOptions + operationsOptions

    /// The exit policy this relay enforces.
    public func effectiveExitPolicy() throws -> ExitPolicy {
        let isExit = exitRelay ?? !exitPolicyLines.isEmpty
        guard isExit else { return .rejectAll }
        let own = [address.flatMap(IPv4Address.bytes)].compactMap { $0 }
        return try ExitPolicy.effective(configured: exitPolicyLines, rejectPrivate: exitPolicyRejectPrivate, ownAddresses: own)
    }

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
            case "ORPort":
                orPorts.append(try ORPortConfig(parsing: line.value, here))
            case "Address":
                guard IPv4Address(line.value) != nil else {
                    throw TorProtocolError(.malformed, "\(here): Address must be an IPv4 address (host names are not supported), got '\(line.value)'")
                }
                address = line.value
            case "ExitRelay":
                switch line.value.lowercased() {
                case "auto": exitRelay = nil
                default: exitRelay = try Self.parseBool(line.value, here, option)
                }
            case "ExitPolicy":
                _ = try ExitPolicy.parse(line.value, here: here)  // validate now, with the line
                exitPolicyLines.append(line.value)
            case "ExitPolicyRejectPrivate":
                exitPolicyRejectPrivate = try Self.parseBool(line.value, here, option)
            case "NumCPUs":
                guard let n = Int(line.value), (0...1024).contains(n) else {
                    throw TorProtocolError(.malformed, "\(here): NumCPUs must be a number from 0 (all cores) to 1024")
                }
                numCPUs = n
            case "DirAuthority":
                dirAuthorities.append(try DirAuthorityConfig(parsing: line.value, here))
            case "TestingTorNetwork":
                testingTorNetwork = try Self.parseBool(line.value, here, option)
            case "AssumeReachable":
                assumeReachable = try Self.parseBool(line.value, here, option)
            case "PublishServerDescriptor":
                publishServerDescriptor = try Self.parseBool(line.value, here, option)
            case "BandwidthRate":
                bandwidthRate = try Self.parseBandwidth(line.value, here, option)
            case "BandwidthBurst":
                bandwidthBurst = try Self.parseBandwidth(line.value, here, option)
            case "MyFamily":
                for item in line.value.split(whereSeparator: { $0 == "," || $0 == " " }) {
                    let hex = item.hasPrefix("$") ? String(item.dropFirst().prefix(40)) : String(item)
                    guard let fp = try? RSAFingerprint(text: hex) else {
                        throw TorProtocolError(.malformed, "\(here): MyFamily entries must be relay fingerprints ($ and 40 hex digits), got '\(item)'")
                    }
                    myFamily.append(fp.dollarHex)
                }
            case "FamilyId":
                let text = line.value.trimmingCharacters(in: .whitespaces)
                guard let key = try? Ed25519PublicKey(base64: String(text.reversed().drop(while: { $0 == "=" }).reversed())) else {
                    throw TorProtocolError(.malformed, "\(here): FamilyId must be a family key's public id (43 characters of base64, as 'relaynode keys family-generate' or 'tor --keygen-family' print it), got '\(text)'")
                }
                if !familyIds.contains(key.base64) { familyIds.append(key.base64) }
            case _ where Self.metricsOptions.contains(option):
                try metrics.parse(option, line.value, here)
            case _ where Self.controlOptions.contains(option):
                try control.parse(option, line.value, here)
            case _ where Self.operationsOptions.contains(option):
                try operations.parse(option, line.value, here)
            default:
                preconditionFailure("unhandled supported option \(option)")
            }
        }
        guard bandwidthBurst >= bandwidthRate else {
            throw TorProtocolError(.malformed, "BandwidthBurst (\(bandwidthBurst)) must be at least BandwidthRate (\(bandwidthRate))")
        }
        try checkControl()
        try checkOperations()
    }

    /// CTor's bandwidth syntax: a number and a unit (bytes, KBytes, MBytes, GBytes, TBytes,
    /// or bits: kbits, mbits, gbits, tbits; KB/MB/GB/TB as bytes). Bits are divided by 8.
    static func parseBandwidth(_ value: String, _ here: String, _ option: String, limit: Double = Double(Int32.max) * 1024) throws -> Int {
        let parts = value.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = parts.first, let n = Double(first), n >= 0, parts.count <= 2 else {
            throw TorProtocolError(.malformed, "\(here): \(option) needs a number and a unit such as 'KBytes' or 'MBytes', got '\(value)'")
        }
        let unit = parts.count == 2 ? parts[1].lowercased() : "bytes"
        let factor: Double
        switch unit {
        case "b", "byte", "bytes": factor = 1
        case "kb", "kbyte", "kbytes", "kilobyte", "kilobytes": factor = 1024
        case "mb", "mbyte", "mbytes", "megabyte", "megabytes": factor = 1_048_576
        case "gb", "gbyte", "gbytes", "gigabyte", "gigabytes": factor = 1_073_741_824
        case "tb", "tbyte", "tbytes", "terabyte", "terabytes": factor = Double(1 << 40)
        case "bit", "bits": factor = 1.0 / 8
        case "kbit", "kbits", "kilobit", "kilobits": factor = 1000.0 / 8
        case "mbit", "mbits", "megabit", "megabits": factor = 1_000_000.0 / 8
        case "gbit", "gbits", "gigabit", "gigabits": factor = 1_000_000_000.0 / 8
        case "tbit", "tbits", "terabit", "terabits": factor = 1_000_000_000_000.0 / 8
        default: throw TorProtocolError(.malformed, "\(here): \(option) has unknown unit '\(unit)'")
        }
        let bytes = n * factor
        guard bytes >= 1, bytes < limit else {
            throw TorProtocolError(.malformed, "\(here): \(option) must be at least 1 byte per second, got '\(value)'")
        }
        return Int(bytes)
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

/// One `ORPort` line: `PORT`, `ADDR:PORT` or `[IPV6]:PORT`. Flags are not supported yet.
public struct ORPortConfig: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init(parsing value: String, _ here: String) throws {
        let words = value.split(separator: " ")
        guard words.count == 1, let spec = words.first else {
            throw TorProtocolError(.unsupported, "\(here): ORPort flags (\(words.dropFirst().joined(separator: " "))) are not supported yet")
        }
        var host = "0.0.0.0"
        var portText = String(spec)
        if spec.hasPrefix("["), let close = spec.firstIndex(of: "]") {
            host = String(spec[spec.index(after: spec.startIndex)..<close])
            let rest = spec[spec.index(after: close)...]
            guard rest.hasPrefix(":") else { throw TorProtocolError(.malformed, "\(here): ORPort '\(value)' lacks a port") }
            portText = String(rest.dropFirst())
            guard IPv6Address(host) != nil else { throw TorProtocolError(.malformed, "\(here): '\(host)' is not an IPv6 address") }
        } else if let colon = spec.lastIndex(of: ":") {
            host = String(spec[..<colon])
            portText = String(spec[spec.index(after: colon)...])
            guard IPv4Address(host) != nil else { throw TorProtocolError(.malformed, "\(here): '\(host)' is not an IPv4 address") }
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw TorProtocolError(.malformed, "\(here): ORPort needs a port from 0 to 65535, got '\(value)'")
        }
        self.host = host
        self.port = port
    }
}

/// Minimal numeric address checks (no name resolution: these are config values).
public enum IPv4Address {
    public init?(_ s: String) {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ p in UInt8(p) != nil && (p == "0" || !p.hasPrefix("0")) }) else { return nil }
        self = .valid
    }
    case valid

    /// The 4 bytes of a dotted-quad address.
    public static func bytes(_ s: String) -> [UInt8]? {
        guard IPv4Address(s) != nil else { return nil }
        return s.split(separator: ".").map { UInt8($0)! }
    }
}

public enum IPv6Address {
    public init?(_ s: String) {
        var addr = in6_addr()
        guard inet_pton(AF_INET6, s, &addr) == 1 else { return nil }
        self = .valid
    }
    case valid
}
