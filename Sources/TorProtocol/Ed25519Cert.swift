import Foundation
import NIOCore
import TorCrypto

/// CERT_TYPE of a Tor Ed25519 certificate (cert-spec §A.1). Open: unknown values stay representable.
public struct Ed25519CertType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// KP_relayid_ed → KP_relaysign_ed
    public static let identityToSigning = Ed25519CertType(rawValue: 0x04)
    /// KP_relaysign_ed → SHA256 of the TLS link certificate
    public static let signingToTLSLink = Ed25519CertType(rawValue: 0x05)
    /// KP_relaysign_ed → KP_link_ed (link authentication key)
    public static let signingToLinkAuth = Ed25519CertType(rawValue: 0x06)
    /// ntor onion key (as Ed25519) → KP_relayid_ed
    public static let ntorOnionCrossCert = Ed25519CertType(rawValue: 0x0A)
    /// family key → KP_relayid_ed (proposal 321)
    public static let familyMembership = Ed25519CertType(rawValue: 0x0C)
    public var description: String { String(format: "0x%02X", rawValue) }
}

/// CERT_KEY_TYPE: what CERTIFIED_KEY holds.
public struct Ed25519CertKeyType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let ed25519 = Ed25519CertKeyType(rawValue: 0x01)
    public static let sha256OfRSA = Ed25519CertKeyType(rawValue: 0x02)
    public static let sha256OfX509 = Ed25519CertKeyType(rawValue: 0x03)
}

public struct Ed25519CertExtension: Hashable, Sendable {
    public static let signedWithEd25519Key: UInt8 = 0x04
    public static let flagAffectsValidation: UInt8 = 0x01
    public let type: UInt8
    public let flags: UInt8
    public let data: [UInt8]
    public init(type: UInt8, flags: UInt8, data: [UInt8]) {
        self.type = type
        self.flags = flags
        self.data = data
    }
}

/// A certificate as received: parsed, nothing about it checked yet.
public struct UncheckedEd25519Cert: Hashable, Sendable {
    public let certType: Ed25519CertType
    /// EXPIRATION: hours since the Unix epoch.
    public let expirationHours: UInt32
    public let keyType: Ed25519CertKeyType
    public let certifiedKey: [UInt8]
    public let extensions: [Ed25519CertExtension]
    public let signature: [UInt8]
    /// The exact bytes as received.
    public let encoded: [UInt8]

    public var expiration: Date { Date(timeIntervalSince1970: TimeInterval(expirationHours) * 3600) }

    /// The key in a signed-with-ed25519-key extension, if present.
    public var embeddedSigningKey: Ed25519PublicKey? {
        extensions.first { $0.type == Ed25519CertExtension.signedWithEd25519Key }
            .flatMap { try? Ed25519PublicKey(bytes: $0.data) }
    }

    public init(parsing bytes: [UInt8]) throws {
        var buf = ByteBuffer(bytes: bytes)
        func need(_ n: Int, _ what: String) throws {
            guard buf.readableBytes >= n else {
                throw TorProtocolError(.truncated, "Ed25519 certificate truncated in \(what)")
            }
        }
        try need(40, "header")
        let version = buf.readInteger(as: UInt8.self)!
        guard version == 1 else {
            throw TorProtocolError(.unsupported, "Ed25519 certificate version \(version), expected 1")
        }
        certType = Ed25519CertType(rawValue: buf.readInteger()!)
        expirationHours = buf.readInteger()!
        keyType = Ed25519CertKeyType(rawValue: buf.readInteger()!)
        certifiedKey = buf.readBytes(length: 32)!
        let n = Int(buf.readInteger(as: UInt8.self)!)
        var exts = [Ed25519CertExtension]()
        for i in 0..<n {
            try need(4, "extension \(i) header")
            let len = Int(buf.readInteger(as: UInt16.self)!)
            let type = buf.readInteger(as: UInt8.self)!
            let flags = buf.readInteger(as: UInt8.self)!
            try need(len, "extension \(i) data")
            let data = buf.readBytes(length: len)!
            if type == Ed25519CertExtension.signedWithEd25519Key {
                guard len == 32 else {
                    throw TorProtocolError(.malformed, "signed-with-ed25519-key extension has \(len) bytes, expected 32")
                }
                guard !exts.contains(where: { $0.type == type }) else {
                    throw TorProtocolError(.malformed, "duplicate signed-with-ed25519-key extension")
                }
            } else if flags & Ed25519CertExtension.flagAffectsValidation != 0 {
                throw TorProtocolError(.unsupported, "unknown extension type \(type) marked as affecting validation")
            }
            exts.append(Ed25519CertExtension(type: type, flags: flags, data: data))
        }
        extensions = exts
        try need(64, "signature")
        signature = buf.readBytes(length: 64)!
        guard buf.readableBytes == 0 else {
            throw TorProtocolError(.malformed, "\(buf.readableBytes) trailing bytes after Ed25519 certificate")
        }
        encoded = bytes
    }

    /// True if the signature verifies under `key`; expiry is not considered. For certificates
    /// read back from our own store, whose expiry is reported rather than refused.
    public func signatureIsValid(signedBy key: Ed25519PublicKey) -> Bool {
        if let e = embeddedSigningKey, e != key { return false }
        return key.isValidSignature(signature, for: Array(encoded.dropLast(64)))
    }

    /// Checks the signature with `key` (or, when nil, the key in the signed-with-key
    /// extension) and the expiry against `now`. `key` and an embedded key must agree.
    public func verify(signedBy key: Ed25519PublicKey?, now: Date) throws -> VerifiedEd25519Cert {
        let signer: Ed25519PublicKey
        switch (key, embeddedSigningKey) {
        case (nil, nil):
            throw TorProtocolError(.malformed, "certificate \(certType) names no signing key and none was given")
        case let (k?, e?) where k != e:
            throw TorProtocolError(.keyMismatch, "certificate \(certType) is signed by \(e), expected \(k)")
        case let (k?, _): signer = k
        case let (nil, e?): signer = e
        }
        guard signer.isValidSignature(signature, for: Array(encoded.dropLast(64))) else {
            throw TorProtocolError(.badSignature, "certificate \(certType) signature does not verify")
        }
        guard now <= expiration else {
            throw TorProtocolError(.expired, "certificate \(certType) expired at \(expiration)")
        }
        return VerifiedEd25519Cert(unchecked: self, signingKey: signer)
    }
}

/// A certificate whose signature and expiry were checked.
public struct VerifiedEd25519Cert: Hashable, Sendable {
    public let unchecked: UncheckedEd25519Cert
    public let signingKey: Ed25519PublicKey

    public var certType: Ed25519CertType { unchecked.certType }
    public var expiration: Date { unchecked.expiration }
    public var encoded: [UInt8] { unchecked.encoded }
    public var certifiedKey: [UInt8] { unchecked.certifiedKey }

    /// CERTIFIED_KEY as an Ed25519 key, when the key type says it is one.
    public var certifiedEd25519Key: Ed25519PublicKey? {
        unchecked.keyType == .ed25519 ? try? Ed25519PublicKey(bytes: unchecked.certifiedKey) : nil
    }

    /// Signs a new certificate. EXPIRATION is rounded up to the next hour, as CTor does.
    public static func issue(
        type: Ed25519CertType,
        keyType: Ed25519CertKeyType = .ed25519,
        certifiedKey: [UInt8],
        expiration: Date,
        signer: Ed25519SecretKey,
        includeSignerKey: Bool
    ) throws -> VerifiedEd25519Cert {
        guard certifiedKey.count == 32 else {
            throw TorProtocolError(.malformed, "certified key must be 32 bytes, got \(certifiedKey.count)")
        }
        let hours = (expiration.timeIntervalSince1970 / 3600).rounded(.up)
        guard hours >= 0, hours <= Double(UInt32.max) else {
            throw TorProtocolError(.malformed, "expiration \(expiration) out of range")
        }
        var buf = ByteBuffer()
        buf.writeInteger(UInt8(1))
        buf.writeInteger(type.rawValue)
        buf.writeInteger(UInt32(hours))
        buf.writeInteger(keyType.rawValue)
        buf.writeBytes(certifiedKey)
        if includeSignerKey {
            buf.writeInteger(UInt8(1))
            buf.writeInteger(UInt16(32))
            buf.writeInteger(Ed25519CertExtension.signedWithEd25519Key)
            buf.writeInteger(UInt8(0))
            buf.writeBytes(signer.publicKey.bytes)
        } else {
            buf.writeInteger(UInt8(0))
        }
        var body = buf.readBytes(length: buf.readableBytes)!
        body += signer.sign(body)
        let unchecked = try UncheckedEd25519Cert(parsing: body)
        return VerifiedEd25519Cert(unchecked: unchecked, signingKey: signer.publicKey)
    }
}
