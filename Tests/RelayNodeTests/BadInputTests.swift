import Foundation
import Testing
import TestSupport

/// Damaged or unsafe input to the CLI: one clear error naming the file, exit status 1, and
/// nothing written.
@Suite(.testThreads, .timeLimit(.minutes(3)))
struct BadInputTests {
    /// A fresh C tor keys directory to damage.
    func ctorKeys(_ tmp: TempDirectory) throws -> String {
        _ = try CTor.listFingerprint(tmp.sub("ctor"))
        return tmp.sub("ctor/keys")
    }

    func expectImportFails(_ tmp: TempDirectory, naming file: String, because needle: String) throws {
        let r = try relaynode("keys", "import-ctor", tmp.sub("ctor"), "--data-directory", tmp.sub("node"))
        #expect(r.status == 1)
        #expect(r.stderr.contains(file), "error does not name \(file): \(r.stderr)")
        #expect(r.stderr.contains(needle), "error does not say '\(needle)': \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "expected one line: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: tmp.sub("node")), "a failed import created a data directory")
    }

    func modify(_ path: String, _ change: (inout Data) -> Void) throws {
        var d = try Data(contentsOf: URL(fileURLWithPath: path))
        change(&d)
        try d.write(to: URL(fileURLWithPath: path))
    }

    @Test func truncatedKeyFile() throws {
        let tmp = TempDirectory()
        let keys = try ctorKeys(tmp)
        try modify(keys + "/ed25519_signing_secret_key") { $0 = $0.prefix(70) }
        try expectImportFails(tmp, naming: "ed25519_signing_secret_key", because: "expected 64")
    }

    @Test func truncatedHeader() throws {
        let tmp = TempDirectory()
        let keys = try ctorKeys(tmp)
        try modify(keys + "/secret_onion_key_ntor") { $0 = $0.prefix(20) }
        try expectImportFails(tmp, naming: "secret_onion_key_ntor", because: "shorter than the 32-byte key file header")
    }

    @Test func wrongHeader() throws {
        let tmp = TempDirectory()
        let keys = try ctorKeys(tmp)
        // A signing key where the master key belongs.
        try FileManager.default.removeItem(atPath: keys + "/ed25519_master_id_secret_key")
        try FileManager.default.copyItem(atPath: keys + "/ed25519_signing_secret_key", toPath: keys + "/ed25519_master_id_secret_key")
        try expectImportFails(tmp, naming: "ed25519_master_id_secret_key", because: "tag is 'type4', expected 'type0'")
    }

    @Test func wrongSize() throws {
        let tmp = TempDirectory()
        let keys = try ctorKeys(tmp)
        try modify(keys + "/ed25519_master_id_public_key") { $0.append(contentsOf: [0, 0, 0, 0]) }
        try expectImportFails(tmp, naming: "ed25519_master_id_public_key", because: "expected 32")
    }

    @Test func garbledRSAKey() throws {
        let tmp = TempDirectory()
        let keys = try ctorKeys(tmp)
        try modify(keys + "/secret_id_key") { d in
            var s = String(decoding: d, as: UTF8.self)
            let i = s.index(s.startIndex, offsetBy: 100)
            s.replaceSubrange(i..<s.index(i, offsetBy: 20), with: String(repeating: "A", count: 20))
            d = Data(s.utf8)
        }
        try expectImportFails(tmp, naming: "secret_id_key", because: "RSA private key")
    }

    @Test func wrongPermissions() throws {
        let tmp = TempDirectory()
        let keys = try ctorKeys(tmp)
        chmod(keys + "/ed25519_master_id_secret_key", 0o644)
        try expectImportFails(tmp, naming: "ed25519_master_id_secret_key", because: "mode 0644")
    }

    @Test func keysOfTwoRelaysMixed() throws {
        let tmp = TempDirectory()
        let keys = try ctorKeys(tmp)
        _ = try CTor.listFingerprint(tmp.sub("other"))
        try FileManager.default.removeItem(atPath: keys + "/ed25519_signing_cert")
        try FileManager.default.copyItem(atPath: tmp.sub("other/keys/ed25519_signing_cert"), toPath: keys + "/ed25519_signing_cert")
        let r = try relaynode("keys", "import-ctor", tmp.sub("ctor"), "--data-directory", tmp.sub("node"))
        #expect(r.status == 1)
        #expect(r.stderr.contains("signing certificate"), "\(r.stderr)")
    }

    @Test func exportRefusesToOverwrite() throws {
        let tmp = TempDirectory()
        _ = try ctorKeys(tmp)
        #expect(try relaynode("keys", "generate", "--data-directory", tmp.sub("node")).status == 0)
        let before = try FileManager.default.contentsOfDirectory(atPath: tmp.sub("ctor/keys")).sorted().map {
            ($0, FileManager.default.contents(atPath: tmp.sub("ctor/keys/" + $0)))
        }
        let r = try relaynode("keys", "export-ctor", "--data-directory", tmp.sub("node"), tmp.sub("ctor"))
        #expect(r.status == 1)
        #expect(r.stderr.contains("already exists"))
        let after = try FileManager.default.contentsOfDirectory(atPath: tmp.sub("ctor/keys")).sorted().map {
            ($0, FileManager.default.contents(atPath: tmp.sub("ctor/keys/" + $0)))
        }
        #expect(before.map(\.0) == after.map(\.0))
        #expect(before.map(\.1) == after.map(\.1))
    }

    @Test func generateTwiceKeepsTheFirstIdentity() throws {
        let tmp = TempDirectory()
        let first = try jsonObject(relaynode("keys", "generate", "--json", "--data-directory", tmp.sub("node")).stdout)
        let again = try relaynode("keys", "generate", "--data-directory", tmp.sub("node"))
        #expect(again.status == 1)
        #expect(again.stderr.contains("already holds a relay identity"))
        let show = try jsonObject(relaynode("keys", "show", "--json", "--data-directory", tmp.sub("node")).stdout)
        #expect(show["rsa_fingerprint"] as? String == first["rsa_fingerprint"] as? String)
    }

    @Test func corruptedDatabase() throws {
        let tmp = TempDirectory()
        #expect(try relaynode("keys", "generate", "--data-directory", tmp.sub("node")).status == 0)
        let db = tmp.sub("node/relay.sqlite3")
        try modify(db) { $0.replaceSubrange(0..<16, with: Data(repeating: 0x42, count: 16)) }
        let before = FileManager.default.contents(atPath: db)
        let r = try relaynode("keys", "show", "--data-directory", tmp.sub("node"))
        #expect(r.status == 1)
        #expect(r.stderr.contains(db))
        #expect(FileManager.default.contents(atPath: db) == before)
    }

    @Test func configErrorsNameFileAndLine() throws {
        let tmp = TempDirectory()
        let torrc = tmp.sub("torrc")
        try "Nickname good\nDataDirectory \(tmp.sub("node"))\nHiddenServiceDir /tmp/hs\n".write(toFile: torrc, atomically: true, encoding: .utf8)
        let r = try relaynode("keys", "generate", "--config", torrc)
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(torrc):3"))
        #expect(r.stderr.contains("HiddenServiceDir"))
        #expect(!FileManager.default.fileExists(atPath: tmp.sub("node")))
        let v = try relaynode("verify-config", "--config", torrc)
        #expect(v.status == 1)
        // DataDirectory from the config applies.
        try "Nickname good\nDataDirectory \(tmp.sub("node"))\n".write(toFile: torrc, atomically: true, encoding: .utf8)
        #expect(try relaynode("verify-config", "--config", torrc).status == 0)
        let g = try relaynode("keys", "generate", "--json", "--config", torrc)
        #expect(g.status == 0, "\(g.stderr)")
        #expect(try jsonObject(g.stdout)["nickname"] as? String == "good")
        #expect(mode(tmp.sub("node")) == 0o700)
        #expect(mode(tmp.sub("node/relay.sqlite3")) == 0o600)
    }
}
