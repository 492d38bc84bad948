import Foundation
import TorCrypto

/// `HashedControlPassword` values: C tor's `16:` + hex of an 8-byte salt, a 1-byte count
/// specifier and the 20-byte digest of the OpenPGP iterated-and-salted S2K (RFC 4880 §3.7.1.3,
/// SHA-1): salt ‖ password repeated until `(16 + (c & 15)) << ((c >> 4) + 6)` bytes are hashed.
/// (Facts from control-spec §5.1 and RFC 4880; `tor --hash-password` makes them.)
public struct HashedControlPassword: Sendable, Equatable {
    public let salt: [UInt8]
    public let countSpecifier: UInt8
    public let digest: [UInt8]

    /// C tor's default count specifier (96: 65,536 bytes hashed).
    public static let defaultCountSpecifier: UInt8 = 96

    public init(parsing text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard t.hasPrefix("16:"), let raw = [UInt8](hex: t.dropFirst(3)), raw.count == 29 else {
            throw TorProtocolError(.malformed, "HashedControlPassword must be '16:' and 58 hex digits (from tor --hash-password or relaynode hash-password)")
        }
        salt = Array(raw[0..<8])
        countSpecifier = raw[8]
        digest = Array(raw[9...])
    }

    /// A new hash of `password` with a random salt (what `tor --hash-password` prints).
    public static func make<R: RandomSource>(password: [UInt8], using rng: inout R) -> HashedControlPassword {
        let salt = rng.bytes(8)
        return HashedControlPassword(salt: salt, countSpecifier: defaultCountSpecifier,
                                     digest: s2k(password: password, salt: salt, countSpecifier: defaultCountSpecifier))
    }

    init(salt: [UInt8], countSpecifier: UInt8, digest: [UInt8]) {
        self.salt = salt
        self.countSpecifier = countSpecifier
        self.digest = digest
    }

    public var text: String { "16:" + (salt + [countSpecifier] + digest).upperHexString }

    /// True when `password` hashes to this value (compared in constant time).
    public func matches(_ password: [UInt8]) -> Bool {
        ControlAuth.constantTimeEqual(Self.s2k(password: password, salt: salt, countSpecifier: countSpecifier), digest)
    }

    static func s2k(password: [UInt8], salt: [UInt8], countSpecifier c: UInt8) -> [UInt8] {
        let count = (16 + Int(c & 15)) << (Int(c >> 4) + 6)
        let unit = salt + password
        let ctx = DigestContext(.sha1)
        var left = max(count, unit.count)
        while left > 0 {
            let n = min(left, unit.count)
            ctx.update(Array(unit[0..<n]))
            left -= n
        }
        return ctx.peek()
    }
}

/// The cookie and SAFECOOKIE computations of the control protocol (control-spec §3.24).
public enum ControlAuth {
    public static let cookieLength = 32
    public static let nonceLength = 32
    static let serverKey = Array("Tor safe cookie authentication server-to-controller hash".utf8)
    static let controllerKey = Array("Tor safe cookie authentication controller-to-server hash".utf8)

    /// SERVERHASH of AUTHCHALLENGE.
    public static func serverHash(cookie: [UInt8], clientNonce: [UInt8], serverNonce: [UInt8]) -> [UInt8] {
        HMAC.sha256(key: serverKey, data: cookie + clientNonce + serverNonce)
    }

    /// What the controller's AUTHENTICATE must carry after AUTHCHALLENGE.
    public static func controllerHash(cookie: [UInt8], clientNonce: [UInt8], serverNonce: [UInt8]) -> [UInt8] {
        HMAC.sha256(key: controllerKey, data: cookie + clientNonce + serverNonce)
    }

    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var d: UInt8 = 0
        for i in a.indices { d |= a[i] ^ b[i] }
        return d == 0
    }
}
