import Foundation
import Testing
import TorCrypto
@testable import TorProtocol

@Suite struct RelayKeysTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func generatedIdentityIsConsistent() throws {
        var r = TestRandom(seed: 11)
        let k = try RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &r)
        #expect(k.rsaIdentity.bits == 1024)
        #expect(k.rsaIdentity.publicKey.publicExponent == 65537)
        #expect(k.onionCurrent.tap.bits == 1024)
        #expect(k.masterSecret?.publicKey == k.masterPublic)
        let v = try k.signingCert.verify(signedBy: k.masterPublic, now: now)
        #expect(v.certifiedEd25519Key == k.signingKey.publicKey)
        #expect(k.signingCertExpiration >= now + 30 * 86_400)
        #expect(k.signingCertExpiration < now + 30 * 86_400 + 3600)
    }

    @Test func onionRotationKeepsPreviousForGrace() throws {
        var r = TestRandom(seed: 12)
        var k = try RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &r)
        let l = KeyLifetimes()
        #expect(!k.onionRotationDue(now: now + 27 * 86_400, lifetimes: l))
        #expect(k.onionRotationDue(now: now + 28 * 86_400, lifetimes: l))
        let old = k.onionCurrent.ntor.publicKey
        let t = now + 28 * 86_400
        try k.rotateOnionKeys(now: t, lifetimes: l, using: &r)
        #expect(k.onionPrevious?.ntor.publicKey == old)
        #expect(k.onionCurrent.ntor.publicKey != old)
        #expect(k.onionPreviousExpires == t + 7 * 86_400)
        let expiredEarly = k.expireOldOnionKeys(now: t + 6 * 86_400)
        #expect(!expiredEarly)
        let expiredOnTime = k.expireOldOnionKeys(now: t + 7 * 86_400)
        #expect(expiredOnTime)
        #expect(k.onionPrevious == nil)
    }

    @Test func signingCertFromAnotherMasterIsRefused() throws {
        var r = TestRandom(seed: 13)
        var k = try RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &r)
        let stranger = Ed25519SecretKey.generate(using: &r)
        let (key, cert) = try RelayKeys.issueSigningKey(master: stranger, now: now, lifetime: 86_400 * 30, using: &r)
        #expect(throws: TorProtocolError.self) { try k.installSigningKey(key, cert: cert.unchecked, now: now) }
        // A cert for a different signing key, from the right master, is refused too.
        let (_, goodCert) = try RelayKeys.issueSigningKey(master: k.masterSecret!, now: now, lifetime: 86_400 * 30, using: &r)
        #expect(throws: TorProtocolError.self) { try k.installSigningKey(key, cert: goodCert.unchecked, now: now) }
        // An expired one from the right master is refused at install time.
        let (k3, c3) = try RelayKeys.issueSigningKey(master: k.masterSecret!, now: now - 86_400 * 40, lifetime: 86_400 * 30, using: &r)
        #expect(throws: TorProtocolError.self) { try k.installSigningKey(k3, cert: c3.unchecked, now: now) }
    }

    @Test func offlineMasterCannotRenewButCanInstall() throws {
        var r = TestRandom(seed: 14)
        var k = try RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &r)
        let master = try #require(k.masterSecret)
        k.removeMasterSecret()
        #expect(k.masterSecret == nil)
        #expect(throws: TorProtocolError.self) { try k.renewSigningKey(now: now, lifetimes: KeyLifetimes(), using: &r) }
        let later = now + 29 * 86_400
        #expect(k.signingRenewalDue(now: later + 86_400, lifetimes: KeyLifetimes()))
        let (key, cert) = try RelayKeys.issueSigningKey(master: master, now: later, lifetime: 86_400 * 30, using: &r)
        try k.installSigningKey(key, cert: cert.unchecked, now: later)
        #expect(k.signingKey.publicKey == key.publicKey)
        #expect(k.signingCertExpiration > later + 29 * 86_400)
    }
}
