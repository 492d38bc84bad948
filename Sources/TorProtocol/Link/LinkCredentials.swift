import Foundation
import TorCrypto

/// Everything a relay presents on its links, derived from its long-term keys: the TLS key and
/// certificate, and the certificates of its CERTS cells. CTor regenerates these every few hours
/// (TLS context every 2 h; link and auth certificates live 2 days).
public struct LinkCredentials: Sendable {
    public static let tlsContextLifetime: TimeInterval = 2 * 3600
    public static let linkCertLifetime: TimeInterval = 2 * 86_400

    public let identity: RSAPrivateKey
    public let identityCert: X509Certificate
    public let tlsKey: RSAPrivateKey
    public let tlsCert: X509Certificate
    public let ed25519Identity: Ed25519PublicKey
    public let signingCert: UncheckedEd25519Cert
    public let tlsLinkCert: VerifiedEd25519Cert
    public let authKey: Ed25519SecretKey
    public let authCert: VerifiedEd25519Cert
    public let crossCert: RSAEd25519CrossCert
    public let createdAt: Date

    /// When these should be replaced (the TLS context's rotation time).
    public var rotateAt: Date { createdAt + Self.tlsContextLifetime }

    public static func generate(keys: RelayKeys, now: Date, using rng: inout some RandomSource) throws -> LinkCredentials {
        let tlsKey = try RSAPrivateKey.generate(bits: 2048)
        // CTor-style certificates: random names and serials, validity that does not reveal
        // when the key was made.
        let (tlsCert, identityCert) = try X509Certificate.issueCTorStyle(
            linkKey: tlsKey.publicKey, identityKey: keys.rsaIdentity, now: now, using: &rng)
        let linkExpiry = min(now + linkCertLifetime, keys.signingCertExpiration)
        let tlsLinkCert = try VerifiedEd25519Cert.issue(
            type: .signingToTLSLink, keyType: .sha256OfX509, certifiedKey: tlsCert.sha256Digest,
            expiration: linkExpiry, signer: keys.signingKey, includeSignerKey: false)
        let authKey = Ed25519SecretKey.generate(using: &rng)
        let authCert = try VerifiedEd25519Cert.issue(
            type: .signingToLinkAuth, certifiedKey: authKey.publicKey.bytes,
            expiration: linkExpiry, signer: keys.signingKey, includeSignerKey: false)
        let crossCert = try RSAEd25519CrossCert.issue(identity: keys.rsaIdentity, ed25519Key: keys.masterPublic,
                                                      expiration: now + KeyLifetimes().rsaCrossCert)
        return LinkCredentials(identity: keys.rsaIdentity, identityCert: identityCert, tlsKey: tlsKey, tlsCert: tlsCert,
                               ed25519Identity: keys.masterPublic, signingCert: keys.signingCert,
                               tlsLinkCert: tlsLinkCert, authKey: authKey, authCert: authCert,
                               crossCert: crossCert, createdAt: now)
    }

    /// The CERTS cell a responder sends: types 1, 2, 4, 5, 7.
    public var responderCerts: [CertsCell.Certificate] {
        [CertsCell.Certificate(type: .rsaLinkX509, body: tlsCert.der),
         CertsCell.Certificate(type: .rsaIdentityX509, body: identityCert.der),
         CertsCell.Certificate(type: .ed25519IdentityToSigning, body: signingCert.encoded),
         CertsCell.Certificate(type: .ed25519SigningToTLSLink, body: tlsLinkCert.encoded),
         CertsCell.Certificate(type: .rsaEd25519CrossCert, body: crossCert.encoded)]
    }

    /// The CERTS cell an authenticating initiator sends: types 2, 4, 6, 7.
    public var initiatorCerts: [CertsCell.Certificate] {
        [CertsCell.Certificate(type: .rsaIdentityX509, body: identityCert.der),
         CertsCell.Certificate(type: .ed25519IdentityToSigning, body: signingCert.encoded),
         CertsCell.Certificate(type: .ed25519SigningToLinkAuth, body: authCert.encoded),
         CertsCell.Certificate(type: .rsaEd25519CrossCert, body: crossCert.encoded)]
    }

    /// Who these credentials prove us to be.
    public var peerIdentity: PeerIdentity {
        PeerIdentity(rsa: identity.publicKey, ed25519: ed25519Identity)
    }
}

/// A peer's identity as proven by its link handshake.
public struct PeerIdentity: Hashable, Sendable, CustomStringConvertible {
    public let rsa: RSAPublicKey
    public let ed25519: Ed25519PublicKey
    public var rsaFingerprint: RSAFingerprint { RSAFingerprint(identity: rsa) }
    public init(rsa: RSAPublicKey, ed25519: Ed25519PublicKey) {
        self.rsa = rsa
        self.ed25519 = ed25519
    }
    public var description: String { "\(rsaFingerprint.dollarHex) \(ed25519.base64)" }
}
