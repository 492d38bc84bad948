import COpenSSL
import Foundation

extension Array where Element == UInt8 {
    /// Parses hex (either case, no separators). Returns nil on odd length or a non-hex digit.
    public init?(hex: some StringProtocol) {
        let utf8 = Array<UInt8>(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = hexNibble(utf8[i]), let lo = hexNibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self = out
    }
}

@inline(__always)
private func hexNibble(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

extension Collection where Element == UInt8 {
    /// Lower-case hex.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Upper-case hex, the form CTor prints fingerprints in.
    public var upperHexString: String { hexString.uppercased() }

    /// Base64 without trailing `=` padding, as Tor writes Ed25519 identities and digests.
    public var base64Unpadded: String {
        var s = Data(self).base64EncodedString()
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }
}

extension Array where Element == UInt8 {
    /// Decodes base64 with or without `=` padding. Returns nil on invalid input.
    public init?(base64Unpadded text: some StringProtocol) {
        var s = String(text)
        guard !s.contains("=") || s.hasSuffix("=") else { return nil }
        while s.count % 4 != 0 { s.append("=") }
        guard let d = Data(base64Encoded: s) else { return nil }
        self = Array(d)
    }
}

/// Constant-time equality for secrets and MACs.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { pa in
        b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
    }
}

/// Overwrites a secret buffer in a way the optimiser keeps.
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { p in
        if let base = p.baseAddress { OPENSSL_cleanse(base, p.count) }
    }
}
