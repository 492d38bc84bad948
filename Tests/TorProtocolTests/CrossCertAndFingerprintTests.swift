import Foundation
import Testing
import TorCrypto
@testable import TorProtocol

@Suite struct RSAEd25519CrossCertTests {
    static let identity = try! RSAPrivateKey.generate(bits: 1024)
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func issueParseVerify() throws {
        var r = TestRandom(seed: 7)
        let ed = Ed25519SecretKey.generate(using: &r).publicKey
        let c = try RSAEd25519CrossCert.issue(identity: Self.identity, ed25519Key: ed, expiration: now + 183 * 86_400)
        // 32 + 4 + 1 + 128: the 165 bytes a CTor responder sends (checklist §3.4).
        #expect(c.encoded.count == 165)
        let p = try RSAEd25519CrossCert(parsing: c.encoded)
        #expect(p == c)
        #expect(p.ed25519Key == ed)
        try p.verify(identity: Self.identity.publicKey, now: now)
        // The signed data is SHA256(prefix ‖ key ‖ expiration) under a raw RSA signature.
        let expected = Digest.sha256(Array("Tor TLS RSA/Ed25519 cross-certificate".utf8) + ed.bytes + Array(c.encoded[32..<36]))
        #expect(Self.identity.publicKey.recoverSigned(p.signature) == expected)
    }

    @Test func rejections() throws {
        var r = TestRandom(seed: 8)
        let ed = Ed25519SecretKey.generate(using: &r).publicKey
        let c = try RSAEd25519CrossCert.issue(identity: Self.identity, ed25519Key: ed, expiration: now + 3600)
        let other = try RSAPrivateKey.generate(bits: 1024)
        #expect(throws: TorProtocolError.self) { try c.verify(identity: other.publicKey, now: now) }
        #expect(throws: TorProtocolError.self) { try c.verify(identity: Self.identity.publicKey, now: now + 7200) }
        var tampered = c.encoded
        tampered[3] ^= 1
        #expect(throws: TorProtocolError.self) {
            try RSAEd25519CrossCert(parsing: tampered).verify(identity: Self.identity.publicKey, now: now)
        }
        for n in 0..<c.encoded.count {
            #expect(throws: (any Error).self) { try RSAEd25519CrossCert(parsing: Array(c.encoded.prefix(n))) }
        }
    }
}

@Suite struct RSAFingerprintTests {
    @Test func formsAgree() throws {
        let key = try RSAPrivateKey.generate(bits: 1024)
        let fp = RSAFingerprint(identity: key.publicKey)
        #expect(fp.bytes == Digest.sha1(key.publicKey.pkcs1DER))
        #expect(fp.hex.count == 40)
        #expect(fp.hex == fp.hex.uppercased())
        #expect(fp.spaced.split(separator: " ").count == 10)
        #expect(fp.spaced.replacingOccurrences(of: " ", with: "") == fp.hex)
        #expect(fp.dollarHex == "$" + fp.hex)
        #expect(fp.hashed.bytes == Digest.sha1(fp.bytes))
        for text in [fp.hex, fp.hex.lowercased(), fp.dollarHex, fp.spaced] {
            #expect(try RSAFingerprint(text: text) == fp)
        }
    }

    /// Fixed vector: the fingerprint of a key file, computed independently with
    /// `openssl rsa -RSAPublicKey_out -outform DER | sha1sum` (see checklist §2.2).
    @Test func knownFingerprintOfFixedKey() throws {
        let pem = try #require(FixedKeys.rsa1024PEM)
        let key = try RSAPrivateKey(pem: pem)
        #expect(RSAFingerprint(identity: key.publicKey).hex == FixedKeys.rsa1024Fingerprint)
    }

    @Test func invalidTextIsRejected() {
        for bad in ["", "ABC", String(repeating: "G", count: 40), String(repeating: "A", count: 41), "$$" + String(repeating: "A", count: 40)] {
            #expect(throws: TorProtocolError.self) { try RSAFingerprint(text: bad) }
        }
    }
}
