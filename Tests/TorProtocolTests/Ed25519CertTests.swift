import Foundation
import Testing
import TorCrypto
@testable import TorProtocol

@Suite struct Ed25519CertTests {
    var rng = TestRandom(seed: 1)
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func makeCert(type: Ed25519CertType = .identityToSigning, lifetime: TimeInterval = 30 * 86_400,
                  include: Bool = true) -> (master: Ed25519SecretKey, signing: Ed25519SecretKey, cert: VerifiedEd25519Cert) {
        var r = rng
        let master = Ed25519SecretKey.generate(using: &r)
        let signing = Ed25519SecretKey.generate(using: &r)
        let cert = try! VerifiedEd25519Cert.issue(type: type, certifiedKey: signing.publicKey.bytes,
                                                  expiration: now + lifetime, signer: master, includeSignerKey: include)
        return (master, signing, cert)
    }

    @Test func layoutMatchesCertSpec() throws {
        let (master, signing, cert) = makeCert()
        let b = cert.encoded
        // A type-4 cert with one signed-with-key extension is 140 bytes (checklist §2.4).
        #expect(b.count == 140)
        #expect(b[0] == 1)
        #expect(b[1] == 0x04)
        let hours = UInt32(b[2]) << 24 | UInt32(b[3]) << 16 | UInt32(b[4]) << 8 | UInt32(b[5])
        #expect(hours == UInt32(((now.timeIntervalSince1970 + 30 * 86_400) / 3600).rounded(.up)))
        #expect(b[6] == 0x01)
        #expect(Array(b[7..<39]) == signing.publicKey.bytes)
        #expect(b[39] == 1)  // N_EXTENSIONS
        #expect(Array(b[40..<44]) == [0x00, 0x20, 0x04, 0x00])
        #expect(Array(b[44..<76]) == master.publicKey.bytes)
        #expect(master.publicKey.isValidSignature(Array(b[76...]), for: Array(b[..<76])))
    }

    @Test func expirationRoundsUpToTheHour() throws {
        let (_, _, cert) = makeCert(lifetime: 1)
        #expect(cert.unchecked.expirationHours == UInt32((now.timeIntervalSince1970 / 3600).rounded(.up)))
        let exact = Date(timeIntervalSince1970: 3600 * 500_000)
        var r = rng
        let k = Ed25519SecretKey.generate(using: &r)
        let c = try VerifiedEd25519Cert.issue(type: .signingToLinkAuth, certifiedKey: k.publicKey.bytes,
                                              expiration: exact, signer: k, includeSignerKey: false)
        #expect(c.unchecked.expirationHours == 500_000)
        #expect(c.encoded.count == 104)  // no extension: the size of a type-5/6 cert
    }

    @Test func roundTrip() throws {
        let (master, signing, cert) = makeCert()
        let parsed = try UncheckedEd25519Cert(parsing: cert.encoded)
        #expect(parsed == cert.unchecked)
        #expect(parsed.encoded == cert.encoded)
        #expect(parsed.embeddedSigningKey == master.publicKey)
        let v = try parsed.verify(signedBy: nil, now: now)
        #expect(v.certifiedEd25519Key == signing.publicKey)
        #expect(v.signingKey == master.publicKey)
        _ = try parsed.verify(signedBy: master.publicKey, now: now)
    }

    @Test func rejectsExpired() throws {
        let (master, _, cert) = makeCert(lifetime: 3600)
        let later = now + 3 * 3600
        #expect(throws: TorProtocolError.self) { try cert.unchecked.verify(signedBy: master.publicKey, now: later) }
        do { _ = try cert.unchecked.verify(signedBy: master.publicKey, now: later) } catch let e as TorProtocolError {
            #expect(e.code == .expired)
        }
    }

    @Test func rejectsWrongSigner() throws {
        let (_, signing, cert) = makeCert()
        do {
            _ = try cert.unchecked.verify(signedBy: signing.publicKey, now: now)
            Issue.record("accepted a certificate under the wrong key")
        } catch let e as TorProtocolError {
            #expect(e.code == .keyMismatch)
        }
        // Without the extension, a wrong key is a bad signature.
        let (_, s2, c2) = makeCert(include: false)
        do {
            _ = try c2.unchecked.verify(signedBy: s2.publicKey, now: now)
            Issue.record("accepted a certificate under the wrong key")
        } catch let e as TorProtocolError {
            #expect(e.code == .badSignature)
        }
        do {
            _ = try c2.unchecked.verify(signedBy: nil, now: now)
            Issue.record("verified a certificate with no key at all")
        } catch let e as TorProtocolError {
            #expect(e.code == .malformed)
        }
    }

    @Test func everyFlippedByteIsRejected() throws {
        let (master, _, cert) = makeCert()
        for i in 0..<cert.encoded.count {
            var b = cert.encoded
            b[i] ^= 0x01
            let accepted = (try? UncheckedEd25519Cert(parsing: b).verify(signedBy: master.publicKey, now: now)) != nil
            #expect(!accepted, "flipping byte \(i) was accepted")
        }
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        let (_, _, cert) = makeCert()
        for n in 0..<cert.encoded.count {
            #expect(throws: TorProtocolError.self) { try UncheckedEd25519Cert(parsing: Array(cert.encoded.prefix(n))) }
        }
        #expect(throws: TorProtocolError.self) { try UncheckedEd25519Cert(parsing: cert.encoded + [0]) }
    }

    @Test func unknownCriticalExtensionIsRejected() throws {
        var r = rng
        let k = Ed25519SecretKey.generate(using: &r)
        func build(extType: UInt8, flags: UInt8) -> [UInt8] {
            var body: [UInt8] = [1, 0x04, 0, 0x07, 0xA1, 0x20, 0x01] + k.publicKey.bytes
            body += [1, 0, 2, extType, flags, 0xAB, 0xCD]
            return body + k.sign(body)
        }
        #expect(throws: TorProtocolError.self) { try UncheckedEd25519Cert(parsing: build(extType: 0x09, flags: 0x01)) }
        let ok = try UncheckedEd25519Cert(parsing: build(extType: 0x09, flags: 0x00))
        #expect(ok.extensions == [Ed25519CertExtension(type: 0x09, flags: 0, data: [0xAB, 0xCD])])
        // A signed-with-key extension must hold exactly 32 bytes.
        #expect(throws: TorProtocolError.self) { try UncheckedEd25519Cert(parsing: build(extType: 0x04, flags: 0x00)) }
    }

    @Test func versionOtherThanOneIsRejected() throws {
        let (_, _, cert) = makeCert()
        var b = cert.encoded
        b[0] = 2
        #expect(throws: TorProtocolError.self) { try UncheckedEd25519Cert(parsing: b) }
    }
}
