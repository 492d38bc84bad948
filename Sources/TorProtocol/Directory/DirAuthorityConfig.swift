import Foundation

/// One `DirAuthority` line: `[nickname] [flags] address:dirport fingerprint`, flags being
/// `orport=N`, `v3ident=HEX`, `no-v2`, `ipv6=[addr]:port`, `weight=N`, `bridge`, `hs`
/// (CTor's syntax; the fingerprint may be 40 hex digits or 10 groups of 4).
public struct DirAuthorityConfig: Sendable, Equatable {
    public var nickname: String?
    public var address: String
    public var dirPort: Int
    public var orPort: Int?
    /// The authority's v3 identity (SHA-1 of its authority identity key), 20 bytes.
    public var v3Identity: [UInt8]?
    /// The authority's relay identity (RSA fingerprint).
    public var fingerprint: RSAFingerprint

    /// `name` or `address:dirport`, for logs and health records.
    public var label: String { nickname ?? "\(address):\(dirPort)" }

    public init(parsing value: String, _ here: String) throws {
        var words = value.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        func bad(_ why: String) -> TorProtocolError {
            TorProtocolError(.malformed, "\(here): DirAuthority \(why) (expected '[nickname] [orport=N] [v3ident=HEX] ADDRESS:DIRPORT FINGERPRINT')")
        }
        // The fingerprint is the trailing 40 hex digits, spaced or not.
        var hex = ""
        while let last = words.last, hex.count < 40, last.count <= 40, last.allSatisfy(\.isHexDigit) {
            hex = last + hex
            words.removeLast()
        }
        guard hex.count == 40, let fp = try? RSAFingerprint(text: hex) else { throw bad("lacks a 40-digit fingerprint") }
        fingerprint = fp
        guard let addrPort = words.popLast(), let colon = addrPort.lastIndex(of: ":"),
              let port = Int(addrPort[addrPort.index(after: colon)...]), (1...65535).contains(port),
              IPv4Address(String(addrPort[..<colon])) != nil else {
            throw bad("lacks an IPv4 ADDRESS:DIRPORT")
        }
        address = String(addrPort[..<colon])
        dirPort = port
        if let first = words.first, !first.contains("="), first != "no-v2", first != "bridge", first != "hs", first != "v3" {
            guard RelayConfig.isValidNickname(first) else { throw bad("nickname '\(first)' is not valid") }
            nickname = first
            words.removeFirst()
        }
        for flag in words {
            if flag.hasPrefix("orport=") {
                guard let p = Int(flag.dropFirst(7)), (1...65535).contains(p) else { throw bad("has a bad orport '\(flag)'") }
                orPort = p
            } else if flag.hasPrefix("v3ident=") {
                let h = String(flag.dropFirst(8))
                guard h.count == 40, let id = try? RSAFingerprint(text: h) else { throw bad("has a bad v3ident '\(flag)'") }
                v3Identity = id.bytes
            } else if ["no-v2", "v3", "hs", "no-hs", "bridge"].contains(flag) || flag.hasPrefix("weight=") || flag.hasPrefix("ipv6=") {
                continue
            } else {
                throw bad("has an unknown flag '\(flag)'")
            }
        }
        guard v3Identity != nil else { throw bad("lacks v3ident=: relaynode needs each authority's v3 identity to check consensus signatures") }
    }
}
