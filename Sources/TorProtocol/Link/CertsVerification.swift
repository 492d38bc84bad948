import Foundation
import TorCrypto

/// The checks CTor applies to a peer's CERTS cell (`or_handshake_certs_ed25519_ok`;
/// reference/tor-relay-checklist.md §3.4). Only Ed25519 link authentication is supported: a
/// peer without Ed25519 certificates is refused.
public enum CertsVerification {
    /// An X.509 certificate up to this long expired is still accepted; one not yet valid for up
    /// to 30 days too (CTor's slop for clock skew).
    static let expiredSlop: TimeInterval = 2 * 86_400
    static let notYetValidSlop: TimeInterval = 30 * 86_400

    /// What verifying an authenticating initiator's CERTS yields: its identity and the key its
    /// AUTHENTICATE cell must be signed with.
    public struct Initiator: Sendable {
        public let identity: PeerIdentity
        public let authKey: Ed25519PublicKey
    }

    /// As the initiator: checks the responder's CERTS against the TLS certificate it presented.
    public static func verifyResponder(_ certs: [CertsCell.Certificate], peerTLSCertificateDER: [UInt8], now: Date) throws -> PeerIdentity {
        let map = try index(certs)
        let (identity, signing) = try verifyCommon(map, now: now)
        let link = try parseEd(map, .ed25519SigningToTLSLink)
        let verified = try link.verify(signedBy: signing, now: now)
        guard verified.certType == .signingToTLSLink else {
            throw fail("type-5 certificate has Ed25519 cert type \(verified.certType)")
        }
        // Old CTors put key type 1 here (tor bug 40124); accept both, as CTor does.
        guard link.keyType == .sha256OfX509 || link.keyType == .ed25519 else {
            throw fail("type-5 certificate certifies an unexpected key type \(link.keyType.rawValue)")
        }
        guard link.certifiedKey == Digest.sha256(peerTLSCertificateDER) else {
            throw fail("type-5 certificate does not certify the TLS certificate the peer presented")
        }
        return identity
    }

    /// As the responder: checks an authenticating initiator's CERTS.
    public static func verifyInitiator(_ certs: [CertsCell.Certificate], now: Date) throws -> Initiator {
        let map = try index(certs)
        let (identity, signing) = try verifyCommon(map, now: now)
        let auth = try parseEd(map, .ed25519SigningToLinkAuth).verify(signedBy: signing, now: now)
        guard auth.certType == .signingToLinkAuth, let key = auth.certifiedEd25519Key else {
            throw fail("type-6 certificate is not a signing→link-auth certificate for an Ed25519 key")
        }
        return Initiator(identity: identity, authKey: key)
    }

    static func index(_ certs: [CertsCell.Certificate]) throws -> [CertsCell.CertType: [UInt8]] {
        var map = [CertsCell.CertType: [UInt8]]()
        for c in certs {
            guard map[c.type] == nil else { throw fail("CERTS cell has two certificates of type \(c.type.rawValue)") }
            map[c.type] = c.body
        }
        return map
    }

    /// Types 2, 4 and 7: returns the peer identity and its KP_relaysign_ed.
    static func verifyCommon(_ map: [CertsCell.CertType: [UInt8]], now: Date) throws -> (PeerIdentity, Ed25519PublicKey) {
        let signingCert = try parseEd(map, .ed25519IdentityToSigning)
        guard signingCert.embeddedSigningKey != nil else {
            throw fail("type-4 certificate lacks the signed-with-ed25519-key extension")
        }
        let v4: VerifiedEd25519Cert
        do { v4 = try signingCert.verify(signedBy: nil, now: now) } catch let e as TorProtocolError {
            throw fail("type-4 certificate: \(e.context)")
        }
        guard v4.certType == .identityToSigning, let signingKey = v4.certifiedEd25519Key else {
            throw fail("type-4 certificate is not an identity→signing certificate")
        }
        let edIdentity = v4.signingKey

        guard let idDER = map[.rsaIdentityX509] else { throw fail("CERTS cell lacks the RSA identity certificate (type 2)") }
        let idCert: X509Certificate
        do { idCert = try X509Certificate(der: idDER) } catch { throw fail("type-2 certificate does not parse: \(error)") }
        let rsa: RSAPublicKey
        do { rsa = try idCert.publicKey } catch { throw fail("type-2 certificate does not hold an RSA key") }
        guard rsa.bits == 1024 else { throw fail("RSA identity key has \(rsa.bits) bits, expected 1024") }
        guard idCert.isSignedBy(rsa) else { throw fail("type-2 certificate is not self-signed by its key") }
        guard now <= idCert.notAfter + expiredSlop, now >= idCert.notBefore - notYetValidSlop else {
            throw fail("type-2 certificate is outside its validity period")
        }

        guard let crossBytes = map[.rsaEd25519CrossCert] else { throw fail("CERTS cell lacks the RSA→Ed25519 cross-certificate (type 7)") }
        let cross: RSAEd25519CrossCert
        do { cross = try RSAEd25519CrossCert(parsing: crossBytes) } catch let e as TorProtocolError {
            throw fail("type-7 certificate: \(e.context)")
        }
        guard cross.ed25519Key == edIdentity else {
            throw fail("type-7 cross-certificate vouches for a different Ed25519 identity")
        }
        do { try cross.verify(identity: rsa, now: now) } catch let e as TorProtocolError {
            throw fail("type-7 certificate: \(e.context)")
        }
        return (PeerIdentity(rsa: rsa, ed25519: edIdentity), signingKey)
    }

    static func parseEd(_ map: [CertsCell.CertType: [UInt8]], _ type: CertsCell.CertType) throws -> UncheckedEd25519Cert {
        guard let b = map[type] else { throw fail("CERTS cell lacks a certificate of type \(type.rawValue)") }
        do { return try UncheckedEd25519Cert(parsing: b) } catch let e as TorProtocolError {
            throw fail("type-\(type.rawValue) certificate: \(e.context)")
        }
    }

    static func fail(_ why: String) -> TorProtocolError { TorProtocolError(.badCertificate, why) }
}
