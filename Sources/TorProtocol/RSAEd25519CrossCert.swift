import Foundation
import NIOCore
import TorCrypto

/// The RSA→Ed25519 cross-certificate (CERTS cell type 7; cert-spec §2.3): KP_relayid_rsa
/// vouches for KP_relayid_ed.
public struct RSAEd25519CrossCert: Hashable, Sendable {
    static let prefix = Array("Tor TLS RSA/Ed25519 cross-certificate".utf8)

    public let ed25519Key: Ed25519PublicKey
    public let expirationHours: UInt32
    public let signature: [UInt8]
    public let encoded: [UInt8]

    public var expiration: Date { Date(timeIntervalSince1970: TimeInterval(expirationHours) * 3600) }

    public init(parsing bytes: [UInt8]) throws {
        var buf = ByteBuffer(bytes: bytes)
        guard buf.readableBytes >= 37 else {
            throw TorProtocolError(.truncated, "RSA→Ed25519 cross-certificate shorter than 37 bytes")
        }
        ed25519Key = try Ed25519PublicKey(bytes: buf.readBytes(length: 32)!)
        expirationHours = buf.readInteger()!
        let sigLen = Int(buf.readInteger(as: UInt8.self)!)
        guard buf.readableBytes == sigLen else {
            throw TorProtocolError(.malformed, "RSA→Ed25519 cross-certificate signature length \(sigLen) but \(buf.readableBytes) bytes follow")
        }
        signature = buf.readBytes(length: sigLen)!
        encoded = bytes
    }

    private static func digest(_ key: Ed25519PublicKey, _ hours: UInt32) -> [UInt8] {
        Digest.sha256(prefix + key.bytes + withUnsafeBytes(of: hours.bigEndian, Array.init))
    }

    public static func issue(identity: RSAPrivateKey, ed25519Key: Ed25519PublicKey, expiration: Date) throws -> RSAEd25519CrossCert {
        let hours = UInt32((expiration.timeIntervalSince1970 / 3600).rounded(.up))
        let sig = try identity.signRaw(digest(ed25519Key, hours))
        let bytes = ed25519Key.bytes + withUnsafeBytes(of: hours.bigEndian, Array.init) + [UInt8(sig.count)] + sig
        return try RSAEd25519CrossCert(parsing: bytes)
    }

    /// Checks the RSA signature and the expiry.
    public func verify(identity: RSAPublicKey, now: Date) throws {
        guard identity.isValidRawSignature(signature, of: Self.digest(ed25519Key, expirationHours)) else {
            throw TorProtocolError(.badSignature, "RSA→Ed25519 cross-certificate signature does not verify")
        }
        guard now <= expiration else {
            throw TorProtocolError(.expired, "RSA→Ed25519 cross-certificate expired at \(expiration)")
        }
    }
}
