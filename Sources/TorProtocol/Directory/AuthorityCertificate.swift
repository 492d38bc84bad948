import Foundation
import TorCrypto

/// A directory authority's key certificate (dir-spec, "Creating key certificates"): its
/// long-term identity key vouches for a medium-term signing key that signs consensuses.
/// Only verified certificates are constructed.
public struct AuthorityCertificate: Sendable {
    /// SHA-1 of the identity key's DER: the authority's v3 identity (`v3ident`).
    public let v3Identity: [UInt8]
    public let identityKey: RSAPublicKey
    public let signingKey: RSAPublicKey
    /// SHA-1 of the signing key's DER, as named in `directory-signature` lines.
    public let signingKeyDigest: [UInt8]
    public let published: Date
    public let expires: Date
    /// The certificate's exact text, for serving it to others.
    public let text: [UInt8]

    /// Checks the identity fingerprint, the cross-certificate and the certification
    /// signature, and that it has not expired at `now`.
    public init(parsing bytes: [UInt8], now: Date, source: String = "authority certificate") throws {
        let doc = try NetDoc(parsing: bytes, source: source)
        guard let first = doc.items.first, first.keyword == "dir-key-certificate-version", first.arguments.first == "3" else {
            throw TorProtocolError(.malformed, "\(source): does not start with 'dir-key-certificate-version 3'")
        }
        guard let last = doc.items.last, last.keyword == "dir-key-certification", let certification = last.object else {
            throw TorProtocolError(.malformed, "\(source): does not end with 'dir-key-certification'")
        }
        func key(_ k: String) throws -> RSAPublicKey {
            guard let o = try doc.exactlyOne(k, source: source).object else { throw TorProtocolError(.malformed, "\(source): '\(k)' has no key") }
            return try RSAPublicKey(pkcs1DER: o.bytes)
        }
        func time(_ k: String) throws -> Date {
            guard let d = NetDoc.parseTime(try doc.exactlyOne(k, source: source).argumentString) else {
                throw TorProtocolError(.malformed, "\(source): bad '\(k)' time")
            }
            return d
        }
        identityKey = try key("dir-identity-key")
        signingKey = try key("dir-signing-key")
        v3Identity = Digest.sha1(identityKey.pkcs1DER)
        signingKeyDigest = Digest.sha1(signingKey.pkcs1DER)
        let fpLine = try doc.exactlyOne("fingerprint", source: source)
        guard fpLine.arguments.first.flatMap({ [UInt8](hex: $0) }) == v3Identity else {
            throw TorProtocolError(.keyMismatch, "\(source): fingerprint does not match the identity key")
        }
        published = try time("dir-key-published")
        expires = try time("dir-key-expires")
        guard expires > now else {
            throw TorProtocolError(.expired, "\(source): certificate of \(v3Identity.upperHexString) expired at \(NetDoc.formatTime(expires))")
        }
        // The signing key signs SHA-1 of the identity key (dir-key-crosscert).
        guard let cross = try doc.exactlyOne("dir-key-crosscert", source: source).object,
              signingKey.recoverSigned(cross.bytes) == v3Identity else {
            throw TorProtocolError(.badSignature, "\(source): dir-key-crosscert does not verify")
        }
        // The identity key signs SHA-1 of everything through "dir-key-certification\n".
        let signed = Array(bytes[first.range.lowerBound..<last.lineRange.upperBound])
        guard identityKey.recoverSigned(certification.bytes) == Digest.sha1(signed) else {
            throw TorProtocolError(.badSignature, "\(source): dir-key-certification does not verify")
        }
        text = Array(bytes[first.range.lowerBound..<last.range.upperBound])
    }

    /// Splits a concatenation of certificates (the answer to `/tor/keys/...`) and verifies
    /// each; returns those that verify and the errors of those that don't.
    public static func parseAll(_ bytes: [UInt8], now: Date, source: String) -> (certificates: [AuthorityCertificate], errors: [String]) {
        let marker = Array("dir-key-certificate-version".utf8)
        var starts = [Int]()
        var i = 0
        while i < bytes.count {
            if (i == 0 || bytes[i - 1] == UInt8(ascii: "\n")), bytes[i...].starts(with: marker) { starts.append(i) }
            guard let nl = bytes[i...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            i = nl + 1
        }
        var certs = [AuthorityCertificate](), errors = [String]()
        for (k, s) in starts.enumerated() {
            let e = k + 1 < starts.count ? starts[k + 1] : bytes.count
            do { certs.append(try AuthorityCertificate(parsing: Array(bytes[s..<e]), now: now, source: source)) } catch {
                errors.append("\(error)")
            }
        }
        return (certs, errors)
    }
}
