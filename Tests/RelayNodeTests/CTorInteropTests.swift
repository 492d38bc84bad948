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

    /// C tor's bandwidth history (its state file, in the format Debian's tor 0.4.9 writes; see
    /// TorProtocolTests/CTorBandwidthStateTests for one it wrote) comes along with the keys; a
    /// state file that does not parse costs the history, not the adoption.
    @Test func importOfCTorKeysTakesTheBandwidthHistory() throws {
        let tmp = TempDirectory()
        let ctorDir = tmp.sub("ctor")
        let (rsa, _, _) = try CTor.listFingerprint(ctorDir)
        let fmt = DateFormatter()
        fmt.locale = Locale(identifier: "en_US_POSIX")
        fmt.timeZone = TimeZone(identifier: "UTC")
        fmt.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let now = Date()
        // Two days: yesterday's whole interval and today's, saved a minute ago.
        let ends = fmt.string(from: now + 86_400 - 7200), saved = fmt.string(from: now - 60)
        try """
        BWHistoryReadEnds \(ends)
        BWHistoryReadInterval 86400
        BWHistoryReadMaxima 6328320,1048576
        BWHistoryReadValues 76346368,7168
        BWHistoryWriteEnds \(ends)
        BWHistoryWriteInterval 86400
        BWHistoryWriteMaxima 6240256,1024
        BWHistoryWriteValues 75028480,3072
        LastWritten \(saved)
        TorVersion Tor 0.4.9.11

        """.write(toFile: ctorDir + "/state", atomically: true, encoding: .utf8)
        let imp = try relaynode("keys", "import-ctor", ctorDir, "--data-directory", tmp.sub("node"))
        #expect(imp.status == 0, "\(imp.stderr)")
        #expect(imp.stdout.contains("note: bandwidth history from \(ctorDir)/state"), "\(imp.stdout)")
        let stats = try jsonObject(relaynode("stats", "--since", "3d", "--bin", "1d", "--json", "--data-directory", tmp.sub("node")).stdout)
        let total = try #require(stats["total"] as? [String: Any])
        #expect(total["read"] as? Int == 76_346_368 + 7168 && total["written"] as? Int == 75_028_480 + 3072, "\(total)")
        #expect(total["max_read_rate"] as? Int == 6_328_320)
        #expect(try jsonObject(relaynode("keys", "show", "--json", "--data-directory", tmp.sub("node")).stdout)["rsa_fingerprint"] as? String == rsa)

        // A broken state file: the identity is adopted, the history is not, and it says why.
        let other = tmp.sub("ctor2")
        _ = try CTor.listFingerprint(other)
        try "BWHistoryReadValues 12,x\nBWHistoryReadEnds \(ends)\n".write(toFile: other + "/state", atomically: true, encoding: .utf8)
        let imp2 = try relaynode("keys", "import-ctor", other, "--data-directory", tmp.sub("node2"))
        #expect(imp2.status == 0 && imp2.stdout.contains("bandwidth history not imported") && imp2.stdout.contains("not a byte count"), "\(imp2.stdout)")
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
