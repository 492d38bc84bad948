import TorCrypto

/// A relay's RSA identity fingerprint: SHA-1 of the PKCS#1 DER of KP_relayid_rsa.
public struct RSAFingerprint: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let bytes: [UInt8]

    public init(identity: RSAPublicKey) {
        bytes = Digest.sha1(identity.pkcs1DER)
    }

    public init(bytes: [UInt8]) throws {
        guard bytes.count == 20 else {
            throw TorProtocolError(.malformed, "RSA fingerprint must be 20 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Accepts every form CTor prints or takes: `ABCD…` (40 hex), `$ABCD…`, and the spaced
    /// `ABCD EF01 …` form.
    public init(text: String) throws {
        var s = text.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("$") { s.removeFirst() }
        s.removeAll { $0 == " " }
        guard s.count == 40, let b = [UInt8](hex: s) else {
            throw TorProtocolError(.malformed, "'\(text)' is not an RSA fingerprint (40 hex digits)")
        }
        bytes = b
    }

    /// `ABCD…` (40 upper-case hex): the `fingerprint` file, `$`-less torrc form.
    public var hex: String { bytes.upperHexString }
    /// `$ABCD…`: how torrc options and control-port replies name relays.
    public var dollarHex: String { "$" + hex }
    /// `ABCD EF01 …`: `tor --list-fingerprint` and the descriptor `fingerprint` line.
    public var spaced: String {
        let h = Array(hex)
        return stride(from: 0, to: 40, by: 4).map { String(h[$0..<$0 + 4]) }.joined(separator: " ")
    }
    /// SHA-1 of the fingerprint bytes: the `hashed-fingerprint` CTor writes (bridges publish this).
    public var hashed: RSAFingerprint { try! RSAFingerprint(bytes: Digest.sha1(bytes)) }

    public var description: String { hex }
    public static func < (a: RSAFingerprint, b: RSAFingerprint) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// SHA-256 of the PKCS#1 DER of an RSA identity key: how link authentication (AUTHENTICATE
/// CID/SID) names a relay.
public func rsaIdentitySHA256(_ key: RSAPublicKey) -> [UInt8] { Digest.sha256(key.pkcs1DER) }

import Foundation
