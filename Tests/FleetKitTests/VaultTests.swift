import FleetKit
import Foundation
import Testing
import TestSupport

@Suite("Vault", .testThreads)
struct VaultTests {
    let pass = Array("correct horse battery staple".utf8)

    func entry(_ nick: String) -> VaultContents.Entry {
        .init(nickname: nick, rsaFingerprint: String(repeating: "C", count: 40), ed25519Id: nick + "-id",
              masterSecretFile: Array("== ed25519v1-secret: type0 ==\0\0\0".utf8) + [UInt8](repeating: 7, count: 64), storedAt: 1)
    }

    @Test func sealsAndOpens() throws {
        let tmp = TempDir()
        let path = tmp.sub("v/vault.sealed")
        let v = try Vault.create(path: path, passphrase: pass, cost: .interactive)
        #expect(fileMode(path) == 0o600)
        #expect(fileMode(tmp.sub("v")) == 0o700)
        v.contents.entries["relay1-id"] = entry("relay1")
        try v.save()
        let raw = try #require(sha(path))
        // The secret never appears in clear in the file.
        #expect(!Data(raw).contains(Data([UInt8](repeating: 7, count: 64))))
        #expect(!String(decoding: raw, as: UTF8.self).contains("relay1"))

        let header = try Vault.readHeader(path: path)
        #expect(header.cost == .interactive)
        let again = try Vault.open(path: path, passphrase: pass)
        #expect(again.contents.entries["relay1-id"]?.masterSecretFile == entry("relay1").masterSecretFile)
        // Each save uses a fresh nonce.
        try again.save()
        #expect(try Vault.readHeader(path: path).nonce != header.nonce)
        #expect(try Vault.open(path: path, passphrase: pass).contents.entries.count == 1)
    }

    @Test func concurrentChangeIsNotLost() throws {
        let tmp = TempDir()
        let path = tmp.sub("vault.sealed")
        _ = try Vault.create(path: path, passphrase: pass, cost: .interactive)
        let first = try Vault.open(path: path, passphrase: pass)
        let second = try Vault.open(path: path, passphrase: pass)
        first.contents.entries["a"] = entry("a")
        try first.save()
        second.contents.entries["b"] = entry("b")
        let e = #expect(throws: FleetError.self) { try second.save() }
        #expect(e?.code == .conflict)
        #expect(Set(try Vault.open(path: path, passphrase: pass).contents.entries.keys) == ["a"])
        try first.save()  // the one that wrote last may write again
    }

    @Test func backupAndRestore() throws {
        let tmp = TempDir()
        let path = tmp.sub("vault.sealed")
        let v = try Vault.create(path: path, passphrase: pass, cost: .interactive)
        v.contents.entries["a-id"] = entry("a")
        try v.save()
        #expect(try v.backup(to: tmp.sub("backups/one"), passphrase: pass) == 1)
        #expect(fileMode(tmp.sub("backups/one")) == 0o600 && fileMode(tmp.sub("backups")) == 0o700)
        #expect(try #require(#expect(throws: FleetError.self) { try v.backup(to: tmp.sub("backups/one"), passphrase: pass) }).code == .conflict)

        v.contents.entries["b-id"] = entry("b")
        try v.save()
        let current = sha(path)
        // The older backup lacks b: refused, the vault untouched.
        let refused = #expect(throws: FleetError.self) {
            try Vault.restore(from: tmp.sub("backups/one"), to: path, passphrase: pass, required: ["a-id", "b-id"])
        }
        #expect(refused?.code == .conflict && refused?.context.contains("b-id") == true)
        #expect(sha(path) == current)
        // A wrong passphrase for the backup: refused, untouched.
        #expect(throws: FleetError.self) {
            try Vault.restore(from: tmp.sub("backups/one"), to: path, passphrase: Array("nope".utf8), required: [])
        }
        #expect(sha(path) == current)
        // Lost vault: the backup brings back what it holds.
        try FileManager.default.removeItem(atPath: path)
        let back = try Vault.restore(from: tmp.sub("backups/one"), to: path, passphrase: pass, required: ["a-id"])
        #expect(Set(back.contents.entries.keys) == ["a-id"])
        #expect(fileMode(path) == 0o600)
    }

    @Test func wrongPassphraseChangesNothing() throws {
        let tmp = TempDir()
        let path = tmp.sub("vault.sealed")
        let v = try Vault.create(path: path, passphrase: pass, cost: .interactive)
        v.contents.entries["a"] = entry("a")
        try v.save()
        let before = sha(path)
        let e = #expect(throws: FleetError.self) { _ = try Vault.open(path: path, passphrase: Array("Correct horse battery staple".utf8)) }
        #expect(e?.code == .vaultLocked)
        #expect(e?.context.contains("wrong passphrase") == true)
        #expect(sha(path) == before)
    }

    @Test(arguments: [
        ("box", -1), ("nonce", 41), ("salt", 30), ("opslimit", 16), ("magic", 0), ("version", 8),
    ])
    func tamperedFileIsRefused(_ what: String, _ offset: Int) throws {
        let tmp = TempDir()
        let path = tmp.sub("vault.sealed")
        let v = try Vault.create(path: path, passphrase: pass, cost: .interactive)
        v.contents.entries["a"] = entry("a")
        try v.save()
        var bytes = try #require(sha(path))
        let i = offset < 0 ? bytes.count + offset : offset
        bytes[i] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let e = #expect(throws: FleetError.self, "\(what)") { _ = try Vault.open(path: path, passphrase: pass) }
        #expect(e?.code == .vaultLocked || e?.code == .vaultCorrupt, "\(what): \(String(describing: e))")
        #expect(sha(path) == bytes, "the tampered file is left as it was")
    }

    @Test func createNeverOverwritesAndRefusesLooseModes() throws {
        let tmp = TempDir()
        let path = tmp.sub("vault.sealed")
        _ = try Vault.create(path: path, passphrase: pass, cost: .interactive)
        let before = sha(path)
        #expect(try #require(#expect(throws: FleetError.self) { _ = try Vault.create(path: path, passphrase: pass, cost: .interactive) }).code == .conflict)
        #expect(sha(path) == before)
        chmod(path, 0o644)
        #expect(try #require(#expect(throws: FleetError.self) { _ = try Vault.open(path: path, passphrase: pass) }).code == .permissions)
        #expect(try #require(#expect(throws: FleetError.self) { _ = try Vault.open(path: tmp.sub("none"), passphrase: pass) }).code == .notFound)
    }

    @Test func passphraseSources() throws {
        let tmp = TempDir()
        let file = tmp.sub("pass")
        FileManager.default.createFile(atPath: file, contents: Data("s3cret\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(try Passphrase.load(file: file, environment: [:]) == Array("s3cret".utf8))
        #expect(try Passphrase.load(file: nil, environment: ["RELAYFLEET_PASSPHRASE": "env"]) == Array("env".utf8))
        #expect(try #require(#expect(throws: FleetError.self) { _ = try Passphrase.load(file: nil, environment: [:]) }).code == .vaultLocked)
        chmod(file, 0o644)
        #expect(try #require(#expect(throws: FleetError.self) { _ = try Passphrase.load(file: file, environment: [:]) }).code == .permissions)
    }
}
