import Foundation
import Testing
import TestSupport

/// relaynode's identity against Debian's real tor 0.4.9, both directions.
@Suite(.testThreads, .timeLimit(.minutes(3)))
struct CTorInteropTests {
    @Test func importOfCTorKeysShowsCTorsFingerprints() throws {
        let tmp = TempDirectory()
        let ctorDir = tmp.sub("ctor")
        let (rsa, ed, _) = try CTor.listFingerprint(ctorDir)  // C tor creates its identity here
        let imp = try relaynode("keys", "import-ctor", ctorDir, "--data-directory", tmp.sub("node"))
        #expect(imp.status == 0, "\(imp.stderr)")
        let show = try relaynode("keys", "show", "--json", "--data-directory", tmp.sub("node"))
        let j = try jsonObject(show.stdout)
        #expect(j["rsa_fingerprint"] as? String == rsa)
        #expect(j["ed25519_identity"] as? String == ed)
        #expect(j["master_key"] as? String == "online")
        // The signing certificate C tor made is kept, not replaced.
        let certBytes = try #require(FileManager.default.contents(atPath: ctorDir + "/keys/ed25519_signing_cert"))
        let printed = try run(Programs.which("tor-print-ed-signing-cert")!, [ctorDir + "/keys/ed25519_signing_cert"])
        let unix = printed.stdout.split(separator: "\n").first { $0.hasPrefix("UNIX timestamp:") }
        #expect(unix.map { String($0.split(separator: " ").last!) } == (j["signing_cert_expires_unix"] as? Int).map(String.init))
        #expect(certBytes.count == 172)
    }

    @Test func exportedIdentityIsRecognisedByCTor() throws {
        let tmp = TempDirectory()
        let node = tmp.sub("node")
        let gen = try relaynode("keys", "generate", "--json", "--data-directory", node)
        #expect(gen.status == 0, "\(gen.stderr)")
        let ours = try jsonObject(gen.stdout)
        let exp = try relaynode("keys", "export-ctor", "--data-directory", node, tmp.sub("ctor"))
        #expect(exp.status == 0, "\(exp.stderr)")
        let keyFiles = try FileManager.default.contentsOfDirectory(atPath: tmp.sub("ctor/keys"))
        #expect(Set(keyFiles) == ["secret_id_key", "ed25519_master_id_secret_key", "ed25519_master_id_public_key",
                                  "ed25519_signing_secret_key", "ed25519_signing_cert", "secret_onion_key_ntor", "secret_onion_key"])
        let before = try keyFiles.map { ($0, try Data(contentsOf: URL(fileURLWithPath: tmp.sub("ctor/keys/" + $0)))) }
        let (rsa, ed, _) = try CTor.listFingerprint(tmp.sub("ctor"))
        #expect(rsa == ours["rsa_fingerprint"] as? String)
        #expect(ed == ours["ed25519_identity"] as? String)
        // C tor accepted every file as it was: it regenerated none of them.
        for (name, bytes) in before {
            #expect(FileManager.default.contents(atPath: tmp.sub("ctor/keys/" + name)) == bytes, "C tor rewrote \(name)")
        }
        let printed = try run(Programs.which("tor-print-ed-signing-cert")!, [tmp.sub("ctor/keys/ed25519_signing_cert")])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout.contains("UNIX timestamp: \(ours["signing_cert_expires_unix"] as? Int ?? -1)"))
    }

    @Test func offlineMasterKeyWorkflowMatchesCTors() throws {
        let tmp = TempDirectory()
        let node = tmp.sub("node")
        #expect(try relaynode("keys", "generate", "--data-directory", node).status == 0)
        let off = try relaynode("keys", "offline-master", "--data-directory", node, "--out", tmp.sub("vault"))
        #expect(off.status == 0, "\(off.stderr)")
        #expect(mode(tmp.sub("vault/ed25519_master_id_secret_key")) == 0o600)
        var show = try jsonObject(relaynode("keys", "show", "--json", "--data-directory", node).stdout)
        #expect(show["master_key"] as? String == "offline")
        #expect(try relaynode("keys", "renew-signing", "--data-directory", node).status == 1)

        // Offline: issue a new signing key with the vaulted master; install it on the node.
        let sign = try relaynode("keys", "sign-cert", "--master-key-dir", tmp.sub("vault"), "--out", tmp.sub("transfer"), "--lifetime-days", "45")
        #expect(sign.status == 0, "\(sign.stderr)")
        let inst = try relaynode("keys", "install-signing-cert", "--data-directory", node, tmp.sub("transfer"))
        #expect(inst.status == 0, "\(inst.stderr)")
        show = try jsonObject(relaynode("keys", "show", "--json", "--data-directory", node).stdout)
        let expires = try #require(show["signing_cert_expires_unix"] as? Int)
        #expect(Double(expires) > Date().timeIntervalSince1970 + 44 * 86_400)

        // C tor with OfflineMasterKey 1 runs this identity from our export: no master secret in it.
        #expect(try relaynode("keys", "export-ctor", "--data-directory", node, tmp.sub("ctor")).status == 0)
        #expect(!FileManager.default.fileExists(atPath: tmp.sub("ctor/keys/ed25519_master_id_secret_key")))
        let (rsa, ed, _) = try CTor.listFingerprint(tmp.sub("ctor"), extraArgs: ["--OfflineMasterKey", "1"])
        #expect(rsa == show["rsa_fingerprint"] as? String)
        #expect(ed == show["ed25519_identity"] as? String)

        // A certificate from some other master is refused, and the installed one stays.
        let other = tmp.sub("other")
        _ = try CTor.listFingerprint(other)
        #expect(try relaynode("keys", "sign-cert", "--master-key-dir", other, "--out", tmp.sub("foreign")).status == 0)
        let bad = try relaynode("keys", "install-signing-cert", "--data-directory", node, tmp.sub("foreign"))
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("not signed by this relay's master identity key"))
        let after = try jsonObject(relaynode("keys", "show", "--json", "--data-directory", node).stdout)
        #expect(after["signing_key"] as? String == show["signing_key"] as? String)
    }

    @Test func rotatedOnionKeysExportAsOldFiles() throws {
        let tmp = TempDirectory()
        let node = tmp.sub("node")
        #expect(try relaynode("keys", "generate", "--data-directory", node).status == 0)
        let first = try jsonObject(relaynode("keys", "show", "--json", "--data-directory", node).stdout)
        #expect(try relaynode("keys", "rotate-onion", "--data-directory", node).status == 0)
        let second = try jsonObject(relaynode("keys", "show", "--json", "--data-directory", node).stdout)
        #expect(second["previous_ntor_onion_key"] as? String == first["ntor_onion_key"] as? String)
        #expect(second["ntor_onion_key"] as? String != first["ntor_onion_key"] as? String)
        #expect(try relaynode("keys", "export-ctor", "--data-directory", node, tmp.sub("ctor")).status == 0)
        let ntorOld = try #require(FileManager.default.contents(atPath: tmp.sub("ctor/keys/secret_onion_key_ntor.old")))
        // c25519v1 file: header, secret, then the public key we reported.
        #expect(Array(ntorOld.suffix(32)).base64 == first["ntor_onion_key"] as? String)
        _ = try CTor.listFingerprint(tmp.sub("ctor"))  // C tor loads the directory with .old files
    }
}

extension Array where Element == UInt8 {
    var base64: String {
        var s = Data(self).base64EncodedString()
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }
}
