import Foundation
import Testing
import TorCrypto
import TorProtocol
@testable import RelayStore

@Suite struct CTorKeyDirectoryTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func writeThenReadIsTheSameIdentity() throws {
        let tmp = TempDirectory()
        var rng = SystemRandom()
        var k = try RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &rng)
        try k.rotateOnionKeys(now: now, lifetimes: KeyLifetimes(), using: &rng)
        let files = try CTorKeyDirectory.write(k, to: tmp.sub("ctor"))
        #expect(files.count == 9)
        #expect(mode(tmp.sub("ctor")) == 0o700)
        #expect(mode(tmp.sub("ctor/keys")) == 0o700)
        for f in files { #expect(mode(f) == 0o600, "\(f)") }
        let (back, _) = try CTorKeyDirectory.read(from: tmp.sub("ctor"), now: now, lifetimes: KeyLifetimes(), using: &rng)
        #expect(back.rsaFingerprint == k.rsaFingerprint)
        #expect(back.masterPublic == k.masterPublic)
        #expect(back.signingCert == k.signingCert)
        #expect(back.onionCurrent.ntor.publicKey == k.onionCurrent.ntor.publicKey)
        #expect(back.onionPrevious?.ntor.publicKey == k.onionPrevious?.ntor.publicKey)
        #expect(back.onionCurrent.tap.publicKey == k.onionCurrent.tap.publicKey)
    }

    @Test func refusesToOverwriteAndWritesNothing() throws {
        let tmp = TempDirectory()
        var rng = SystemRandom()
        let k = try RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &rng)
        try FileManager.default.createDirectory(atPath: tmp.sub("ctor/keys"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let existing = Data("precious".utf8)
        FileManager.default.createFile(atPath: tmp.sub("ctor/keys/secret_onion_key_ntor"), contents: existing, attributes: [.posixPermissions: 0o600])
        #expect(throws: RelayStoreError.self) { try CTorKeyDirectory.write(k, to: tmp.sub("ctor")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.sub("ctor/keys")) == ["secret_onion_key_ntor"])
        #expect(fileBytes(tmp.sub("ctor/keys/secret_onion_key_ntor")) == existing)
    }

    @Test func mismatchedMasterKeysAreRefused() throws {
        let tmp = TempDirectory()
        var rng = SystemRandom()
        let a = try RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &rng)
        let b = try RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &rng)
        try CTorKeyDirectory.write(a, to: tmp.sub("a"))
        try CTorKeyDirectory.write(b, to: tmp.sub("b"))
        try FileManager.default.removeItem(atPath: tmp.sub("a/keys/ed25519_master_id_public_key"))
        try FileManager.default.copyItem(atPath: tmp.sub("b/keys/ed25519_master_id_public_key"), toPath: tmp.sub("a/keys/ed25519_master_id_public_key"))
        do {
            _ = try CTorKeyDirectory.read(from: tmp.sub("a"), now: now, lifetimes: KeyLifetimes(), using: &rng)
            Issue.record("imported keys of two different relays")
        } catch let e as RelayStoreError {
            #expect(e.context.contains("ed25519_master_id"))
        }
    }
}
