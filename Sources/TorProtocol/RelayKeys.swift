import Foundation
import TorCrypto

/// A pair of onion keys used together: KP_ntor (handshakes) and the TAP key CTor 0.4.9
/// authorities still require in descriptors.
public struct OnionKeys: Sendable {
    public let ntor: Curve25519SecretKey
    public let tap: RSAPrivateKey
    public let createdAt: Date

    public init(ntor: Curve25519SecretKey, tap: RSAPrivateKey, createdAt: Date) {
        self.ntor = ntor
        self.tap = tap
        self.createdAt = createdAt
    }

    public static func generate(now: Date, using rng: inout some RandomSource) throws -> OnionKeys {
        OnionKeys(ntor: .generate(using: &rng), tap: try RSAPrivateKey.generate(bits: 1024), createdAt: now)
    }
}

/// A family key (proposal 321) with its name.
public struct FamilyKey: Sendable {
    public let name: String
    public let key: Ed25519SecretKey
    public let createdAt: Date
    public init(name: String, key: Ed25519SecretKey, createdAt: Date) {
        self.name = name
        self.key = key
        self.createdAt = createdAt
    }
}

/// Every long-lived key a relay holds (reference/tor-relay-checklist.md §2.1) and the rules
/// that tie them together. Pure: time and randomness are passed in.
public struct RelayKeys: Sendable {
    /// KP_relayid_rsa (RSA-1024): the relay's legacy identity.
    public let rsaIdentity: RSAPrivateKey
    public let rsaIdentityCreated: Date
    /// KP_relayid_ed: the relay's identity.
    public let masterPublic: Ed25519PublicKey
    /// KS_relayid_ed, nil when the master key is kept offline.
    public private(set) var masterSecret: Ed25519SecretKey?
    public let masterCreated: Date
    /// KP_relaysign_ed and its type-4 certificate from the master key.
    public private(set) var signingKey: Ed25519SecretKey
    public private(set) var signingCert: UncheckedEd25519Cert
    public private(set) var signingCreated: Date
    public private(set) var onionCurrent: OnionKeys
    /// The rotated-out onion keys, accepted until `onionPreviousExpires`.
    public private(set) var onionPrevious: OnionKeys?
    public private(set) var onionPreviousExpires: Date?
    public private(set) var family: [FamilyKey]

    public var rsaFingerprint: RSAFingerprint { RSAFingerprint(identity: rsaIdentity.publicKey) }
    public var signingCertExpiration: Date { signingCert.expiration }

    /// Assembles keys loaded from storage, checking they belong together: the signing
    /// certificate must be a type-4 certificate, certify `signingKey`, and carry a valid
    /// signature from the master key (its expiry is reported, not refused).
    public init(
        rsaIdentity: RSAPrivateKey, rsaIdentityCreated: Date,
        masterPublic: Ed25519PublicKey, masterSecret: Ed25519SecretKey?, masterCreated: Date,
        signingKey: Ed25519SecretKey, signingCert: UncheckedEd25519Cert, signingCreated: Date,
        onionCurrent: OnionKeys, onionPrevious: OnionKeys?, onionPreviousExpires: Date?,
        family: [FamilyKey]
    ) throws {
        guard rsaIdentity.bits == 1024, rsaIdentity.publicKey.publicExponent == 65537 else {
            throw TorProtocolError(.malformed, "RSA identity key must be 1024 bits with exponent 65537, got \(rsaIdentity.bits) bits")
        }
        if let masterSecret, masterSecret.publicKey != masterPublic {
            throw TorProtocolError(.keyMismatch, "Ed25519 master secret key does not match the master public key")
        }
        try Self.checkSigningCert(signingCert, key: signingKey.publicKey, master: masterPublic)
        self.rsaIdentity = rsaIdentity
        self.rsaIdentityCreated = rsaIdentityCreated
        self.masterPublic = masterPublic
        self.masterSecret = masterSecret
        self.masterCreated = masterCreated
        self.signingKey = signingKey
        self.signingCert = signingCert
        self.signingCreated = signingCreated
        self.onionCurrent = onionCurrent
        self.onionPrevious = onionPrevious
        self.onionPreviousExpires = onionPreviousExpires
        self.family = family
    }

    /// A complete new identity.
    public static func generate(now: Date, lifetimes: KeyLifetimes, using rng: inout some RandomSource) throws -> RelayKeys {
        let master = Ed25519SecretKey.generate(using: &rng)
        let signing = Ed25519SecretKey.generate(using: &rng)
        let cert = try VerifiedEd25519Cert.issue(
            type: .identityToSigning, certifiedKey: signing.publicKey.bytes,
            expiration: now + lifetimes.signingKey, signer: master, includeSignerKey: true)
        return try RelayKeys(
            rsaIdentity: RSAPrivateKey.generate(bits: 1024), rsaIdentityCreated: now,
            masterPublic: master.publicKey, masterSecret: master, masterCreated: now,
            signingKey: signing, signingCert: cert.unchecked, signingCreated: now,
            onionCurrent: OnionKeys.generate(now: now, using: &rng), onionPrevious: nil, onionPreviousExpires: nil,
            family: [])
    }

    static func checkSigningCert(_ cert: UncheckedEd25519Cert, key: Ed25519PublicKey, master: Ed25519PublicKey) throws {
        guard cert.certType == .identityToSigning, cert.keyType == .ed25519 else {
            throw TorProtocolError(.wrongType, "signing certificate has type \(cert.certType), expected 0x04 with an Ed25519 key")
        }
        guard cert.certifiedKey == key.bytes else {
            throw TorProtocolError(.keyMismatch, "signing certificate certifies a different key than the signing key")
        }
        guard cert.embeddedSigningKey != nil else {
            throw TorProtocolError(.malformed, "signing certificate lacks the signed-with-ed25519-key extension CTor requires")
        }
        guard cert.signatureIsValid(signedBy: master) else {
            throw TorProtocolError(.badSignature, "signing certificate is not signed by this relay's master identity key \(master)")
        }
    }

    // MARK: changes

    /// Makes the current onion keys previous (accepted for `lifetimes.onionKeyGrace` more)
    /// and generates new current ones. The older previous keys are dropped.
    public mutating func rotateOnionKeys(now: Date, lifetimes: KeyLifetimes, using rng: inout some RandomSource) throws {
        let fresh = try OnionKeys.generate(now: now, using: &rng)
        onionPrevious = onionCurrent
        onionPreviousExpires = now + lifetimes.onionKeyGrace
        onionCurrent = fresh
    }

    /// Drops previous onion keys whose grace period has ended. Returns true if any were.
    public mutating func expireOldOnionKeys(now: Date) -> Bool {
        guard let exp = onionPreviousExpires, now >= exp else { return false }
        onionPrevious = nil
        onionPreviousExpires = nil
        return true
    }

    public func onionRotationDue(now: Date, lifetimes: KeyLifetimes) -> Bool {
        now >= onionCurrent.createdAt + lifetimes.onionKeyRotation
    }

    public func signingRenewalDue(now: Date, lifetimes: KeyLifetimes) -> Bool {
        now >= signingCert.expiration - lifetimes.signingKeyRenewBefore
    }

    /// Issues a new signing key and certificate with the master key held here.
    public mutating func renewSigningKey(now: Date, lifetimes: KeyLifetimes, using rng: inout some RandomSource) throws {
        guard let masterSecret else {
            throw TorProtocolError(.unsupported, "the master identity key is offline: issue a signing certificate where it is kept and install it")
        }
        let (key, cert) = try Self.issueSigningKey(master: masterSecret, now: now, lifetime: lifetimes.signingKey, using: &rng)
        try installSigningKey(key, cert: cert.unchecked, now: now)
    }

    /// A new KP_relaysign_ed and its type-4 certificate from `master` (the offline operation
    /// `tor --keygen` performs).
    public static func issueSigningKey(master: Ed25519SecretKey, now: Date, lifetime: TimeInterval, using rng: inout some RandomSource) throws -> (Ed25519SecretKey, VerifiedEd25519Cert) {
        let key = Ed25519SecretKey.generate(using: &rng)
        let cert = try VerifiedEd25519Cert.issue(type: .identityToSigning, certifiedKey: key.publicKey.bytes,
                                                 expiration: now + lifetime, signer: master, includeSignerKey: true)
        return (key, cert)
    }

    /// Installs a signing key and certificate produced elsewhere. It must certify `key`, be
    /// signed by this relay's master key, and not be expired at `now`.
    public mutating func installSigningKey(_ key: Ed25519SecretKey, cert: UncheckedEd25519Cert, now: Date) throws {
        try Self.checkSigningCert(cert, key: key.publicKey, master: masterPublic)
        _ = try cert.verify(signedBy: masterPublic, now: now)
        signingKey = key
        signingCert = cert
        signingCreated = now
    }

    /// Forgets the master secret (after it was exported to offline storage).
    public mutating func removeMasterSecret() {
        masterSecret = nil
    }

    public mutating func setFamilyKey(_ key: FamilyKey) {
        family.removeAll { $0.name == key.name }
        family.append(key)
    }

    /// The `FamilyId`s (unpadded base64) among `ids` whose secret key this relay lacks.
    public func missingFamilyKeys(_ ids: [String]) -> [String] {
        ids.filter { id in !family.contains { $0.key.publicKey.base64 == id } }
    }
}
