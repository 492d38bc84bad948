import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exit policy in CTor's torrc syntax (`ExitPolicy accept|reject ADDR[/MASK][:PORT[-PORT]]`,
/// comma-separated or repeated; `*`, `*4`, `*6`, `private`). The first matching rule decides;
/// an address/port no rule matches is rejected.
public struct ExitPolicy: Sendable, Equatable {
    public enum Action: String, Sendable { case accept, reject }

    public struct Rule: Sendable, Equatable, CustomStringConvertible {
        public var action: Action
        /// nil: any address of the rule's family set.
        public var network: Network?
        /// Which families `*`-style rules cover.
        public var families: Set<Int>
        public var ports: ClosedRange<Int>

        public var description: String {
            let addr = network?.description ?? (families == [4, 6] ? "*" : families == [4] ? "*4" : "*6")
            let port = ports == 1...65535 ? "*" : ports.lowerBound == ports.upperBound ? "\(ports.lowerBound)" : "\(ports.lowerBound)-\(ports.upperBound)"
            return "\(action.rawValue) \(addr):\(port)"
        }
    }

    /// An address prefix, IPv4 (4 bytes) or IPv6 (16 bytes).
    public struct Network: Sendable, Equatable, CustomStringConvertible {
        public var address: [UInt8]
        public var prefixLength: Int

        public func contains(_ a: [UInt8]) -> Bool {
            guard a.count == address.count else { return false }
            var bits = prefixLength
            for i in 0..<a.count where bits > 0 {
                let mask: UInt8 = bits >= 8 ? 0xff : ~(0xff >> UInt8(bits))
                if a[i] & mask != address[i] & mask { return false }
                bits -= 8
            }
            return true
        }

        public var description: String {
            let text = address.count == 4 ? address.map(String.init).joined(separator: ".")
                : "[" + stride(from: 0, to: 16, by: 2).map { String(format: "%x", Int(address[$0]) << 8 | Int(address[$0 + 1])) }.joined(separator: ":") + "]"
            return prefixLength == address.count * 8 ? text : "\(text)/\(prefixLength)"
        }
    }

    public var rules: [Rule]

    public init(rules: [Rule]) { self.rules = rules }

    /// Reject everything: a non-exit relay.
    public static let rejectAll = ExitPolicy(rules: [Rule(action: .reject, network: nil, families: [4, 6], ports: 1...65535)])

    /// The networks `private` expands to (CTor's private_nets).
    public static let privateNetworks: [Network] = {
        ["0.0.0.0/8", "169.254.0.0/16", "127.0.0.0/8", "192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12",
         "[::]/8", "[fc00::]/7", "[fe80::]/10", "[fec0::]/10", "[::]/127"].map { try! parseNetwork($0, here: "builtin") }
    }()

    /// CTor's default exit policy tail (ports commonly abused), then `accept *:*`.
    public static let defaultRules = "reject *:25,reject *:119,reject *:135-139,reject *:445,reject *:563,reject *:1214,reject *:4661-4666,reject *:6346-6429,reject *:6699,reject *:6881-6999,accept *:*"

    /// Builds the effective policy: `reject private:*` (and our own addresses) first when
    /// `rejectPrivate`, then the configured lines, then CTor's default rules — unless the
    /// configured lines already end in a catch-all, which makes the defaults unreachable.
    public static func effective(configured: [String], rejectPrivate: Bool, ownAddresses: [[UInt8]] = [], here: String = "ExitPolicy") throws -> ExitPolicy {
        var rules = [Rule]()
        if rejectPrivate {
            for n in privateNetworks { rules.append(Rule(action: .reject, network: n, families: [n.address.count == 4 ? 4 : 6], ports: 1...65535)) }
            for a in ownAddresses {
                rules.append(Rule(action: .reject, network: Network(address: a, prefixLength: a.count * 8), families: [a.count == 4 ? 4 : 6], ports: 1...65535))
            }
        }
        for line in configured { rules += try parse(line, here: here) }
        if !(rules.last.map { $0.network == nil && $0.families == [4, 6] && $0.ports == 1...65535 } ?? false) {
            rules += try parse(defaultRules, here: "default exit policy")
        }
        return ExitPolicy(rules: rules)
    }

    /// Parses one `ExitPolicy` value: comma-separated `accept|reject PATTERN` items.
    public static func parse(_ value: String, here: String) throws -> [Rule] {
        var out = [Rule]()
        for item in value.split(separator: ",") {
            let words = item.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 2, let action = Action(rawValue: words[0].lowercased()) else {
                throw TorProtocolError(.malformed, "\(here): '\(item.trimmingCharacters(in: .whitespaces))' is not 'accept|reject ADDRESS:PORT'")
            }
            let pattern = String(words[1])
            // Split address and port at the last ':' outside brackets.
            var addrPart = pattern, portPart = "*"
            if let close = pattern.lastIndex(of: "]") {
                addrPart = String(pattern[...close])
                let rest = pattern[pattern.index(after: close)...]
                if rest.hasPrefix(":") { portPart = String(rest.dropFirst()) } else if !rest.isEmpty {
                    throw TorProtocolError(.malformed, "\(here): bad pattern '\(pattern)'")
                }
            } else if let colon = pattern.lastIndex(of: ":") {
                addrPart = String(pattern[..<colon])
                portPart = String(pattern[pattern.index(after: colon)...])
            }
            let ports = try parsePorts(portPart, here: here)
            switch addrPart {
            case "*": out.append(Rule(action: action, network: nil, families: [4, 6], ports: ports))
            case "*4": out.append(Rule(action: action, network: nil, families: [4], ports: ports))
            case "*6": out.append(Rule(action: action, network: nil, families: [6], ports: ports))
            case "private":
                for n in privateNetworks { out.append(Rule(action: action, network: n, families: [n.address.count == 4 ? 4 : 6], ports: ports)) }
            default:
                let n = try parseNetwork(addrPart, here: here)
                out.append(Rule(action: action, network: n, families: [n.address.count == 4 ? 4 : 6], ports: ports))
            }
        }
        return out
    }

    static func parsePorts(_ s: String, here: String) throws -> ClosedRange<Int> {
        if s == "*" { return 1...65535 }
        let parts = s.split(separator: "-")
        guard (1...2).contains(parts.count), let lo = Int(parts[0]), let hi = Int(parts.last!), 1 <= lo, lo <= hi, hi <= 65535 else {
            throw TorProtocolError(.malformed, "\(here): '\(s)' is not a port or port range (1-65535)")
        }
        return lo...hi
    }

    static func parseNetwork(_ s: String, here: String) throws -> Network {
        var text = s, prefix: Int?
        if let slash = s.lastIndex(of: "/") {
            text = String(s[..<slash])
            guard let p = Int(s[s.index(after: slash)...]) else { throw TorProtocolError(.malformed, "\(here): bad mask in '\(s)'") }
            prefix = p
        }
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        if let v4 = IPv4Address.bytes(text) {
            let p = prefix ?? 32
            guard (0...32).contains(p) else { throw TorProtocolError(.malformed, "\(here): mask /\(p) out of range in '\(s)'") }
            return Network(address: v4, prefixLength: p)
        }
        var a6 = in6_addr()
        guard inet_pton(AF_INET6, text, &a6) == 1 else {
            throw TorProtocolError(.malformed, "\(here): '\(text)' is not an IP address, '*', '*4', '*6' or 'private'")
        }
        let p = prefix ?? 128
        guard (0...128).contains(p) else { throw TorProtocolError(.malformed, "\(here): mask /\(p) out of range in '\(s)'") }
        return Network(address: withUnsafeBytes(of: &a6) { Array($0) }, prefixLength: p)
    }

    /// The decision for a connection to `address` (4 or 16 bytes) and `port`.
    public func allows(address: [UInt8], port: Int) -> Bool {
        let family = address.count == 4 ? 4 : 6
        for r in rules where r.families.contains(family) && r.ports.contains(port) {
            if let n = r.network, !n.contains(address) { continue }
            return r.action == .accept
        }
        return false
    }

    /// Whether any address at all could be allowed (a relay is an exit only then).
    public var isExit: Bool { rules.contains { $0.action == .accept } }
}
