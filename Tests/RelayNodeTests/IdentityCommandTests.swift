import FleetKit
import Foundation
import Testing
import TestSupport
import TorCrypto
#if canImport(Glibc)
import Glibc
#endif

/// `relaynode identity`: the host side of moving a relay (fleetctl migrate drives it end to end
/// in FleetKitTests). Sealed export, import elsewhere, the fence, and bad input.
@Suite(.testThreads, .timeLimit(.minutes(3)), .serialized)
struct IdentityCommandTests {
    static func identity(_ args: [String], stdin: [UInt8] = []) throws -> CommandResult {
        try Subprocess.run([Programs.relaynode, "identity"] + args, stdin: stdin, timeout: 60)
    }

    @Test func exportImportFenceAndDestroy() throws {
        let tmp = TempDirectory()
        let a = tmp.sub("a/data"), b = tmp.sub("b/data")
        try FileManager.default.createDirectory(atPath: tmp.sub("a"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let gen = try jsonObject(relaynode("keys", "generate", "--json", "--data-directory", a).stdout)
        let fp = try #require(gen["rsa_fingerprint"] as? String)
        let (pk, sk) = SealedBox.keyPair()
        let skLine = Array((sk.hexString + "\n").utf8)

        let export = try Self.identity(["export", "--data-directory", a], stdin: Array((pk.hexString + "\n").utf8))
        #expect(export.status == 0, "\(export.stderrText)")
        let sealed = export.stdout
        #expect(Array(sealed.prefix(8)) == Array("RFIDBNDL".utf8))
        // Sealed: neither the fingerprint nor SQLite's header is visible in it.
        let text = String(decoding: sealed, as: UTF8.self)
        #expect(!text.contains(fp) && !text.contains("SQLite format 3"))

        let inspect = try Self.identity(["inspect", "--expect-fingerprint", fp], stdin: skLine + sealed)
        #expect(inspect.status == 0 && inspect.stdoutText.contains(fp), "\(inspect.stderrText)")
        let wrongKey = try Self.identity(["inspect"], stdin: Array((SealedBox.keyPair().secretKey.hexString + "\n").utf8) + sealed)
        #expect(wrongKey.status == 1 && wrongKey.stderrText.contains("does not open"), "\(wrongKey.stderrText)")
        var tampered = sealed
        tampered[tampered.count - 5] ^= 1
        #expect(try Self.identity(["inspect"], stdin: skLine + tampered).status == 1)
        let truncated = try Self.identity(["inspect"], stdin: skLine + sealed.prefix(40))
        #expect(truncated.status == 1 && truncated.stderrText.contains("relaynode: error:"), "\(truncated.stderrText)")
        let otherFP = try Self.identity(["inspect", "--expect-fingerprint", String(repeating: "A", count: 40)], stdin: skLine + sealed)
        #expect(otherFP.status == 1 && otherFP.stderrText.contains("not the expected"))

        // Imported elsewhere: the same keys (and twice is harmless).
        for _ in 0..<2 {
            let imp = try Self.identity(["import", "--data-directory", b, "--expect-fingerprint", fp], stdin: skLine + sealed)
            #expect(imp.status == 0, "\(imp.stderrText)")
        }
        let showA = try jsonObject(relaynode("keys", "show", "--json", "--data-directory", a).stdout)
        let showB = try jsonObject(relaynode("keys", "show", "--json", "--data-directory", b).stdout)
        for k in ["rsa_fingerprint", "ed25519_identity", "ntor_onion_key", "signing_key"] {
            #expect(showA[k] as? String == showB[k] as? String, "\(k)")
        }
        #expect(mode(b) == 0o700 && mode(b + "/relay.sqlite3") == 0o600)

        // Another identity's directory is never overwritten.
        let c = tmp.sub("c/data")
        _ = try relaynode("keys", "generate", "--data-directory", c)
        let clash = try Self.identity(["import", "--data-directory", c], stdin: skLine + sealed)
        #expect(clash.status == 1 && clash.stderrText.contains("another relay identity"), "\(clash.stderrText)")

        // Fenced: run refuses, import refuses, destroy needs the right fingerprint.
        #expect(try Self.identity(["destroy", "--data-directory", a, "--fingerprint", fp]).status == 1, "unfenced directories are kept")
        let fence = try Self.identity(["fence", "--data-directory", a, "--epoch", "2", "--reason", "moved to host b"])
        #expect(fence.status == 0, "\(fence.stderrText)")
        try "DataDirectory \(a)\nNickname fenced\nORPort 127.0.0.1:\(freePort())\nAddress 127.0.0.1\n".write(toFile: tmp.sub("torrc"), atomically: true, encoding: .utf8)
        let run = try Subprocess.run([Programs.relaynode, "run", "--config", tmp.sub("torrc")], timeout: 30)
        #expect(run.status == 1 && run.stderrText.contains("fenced at epoch 2"), "\(run.stderrText)")
        let status = try jsonObject(try Self.identity(["status", "--data-directory", a]).stdoutText)
        #expect(status["fenced"] as? Bool == true && status["present"] as? Bool == true && status["running"] as? Bool == false)
        let back = try Self.identity(["import", "--data-directory", a], stdin: skLine + sealed)
        #expect(back.status == 1 && back.stderrText.contains("fenced"), "\(back.stderrText)")
        #expect(try Self.identity(["destroy", "--data-directory", a, "--fingerprint", String(repeating: "B", count: 40)]).status == 1)
        #expect(FileManager.default.fileExists(atPath: a + "/relay.sqlite3"))
        let destroy = try Self.identity(["destroy", "--data-directory", a, "--fingerprint", fp])
        #expect(destroy.status == 0, "\(destroy.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: a))
    }

    @Test func exportWhileTheRelayRunsIsRefused() throws {
        let tmp = TempDirectory()
        let data = tmp.sub("node")
        _ = try relaynode("keys", "generate", "--data-directory", data)
        let orport = freePort()
        try "DataDirectory \(data)\nNickname busy\nORPort 127.0.0.1:\(orport)\nAddress 127.0.0.1\n".write(toFile: tmp.sub("torrc"), atomically: true, encoding: .utf8)
        let d = try Daemon("relaynode", Programs.relaynode, ["run", "--config", tmp.sub("torrc")], logPath: tmp.sub("relaynode.log"))
        defer { d.stop() }
        #expect(waitFor(20) { d.log.contains("ORPort listening") }, "\(d.log)")
        let (pk, _) = SealedBox.keyPair()
        let export = try Self.identity(["export", "--data-directory", data], stdin: Array((pk.hexString + "\n").utf8))
        #expect(export.status == 1 && export.stderrText.contains("another relaynode"), "\(export.stderrText)")
        #expect(export.stdout.isEmpty)
        let fence = try Self.identity(["fence", "--data-directory", data, "--epoch", "2", "--reason", "x"])
        #expect(fence.status == 1)
        let status = try jsonObject(try Self.identity(["status", "--data-directory", data]).stdoutText)
        #expect(status["running"] as? Bool == true && status["fenced"] as? Bool == false)
    }
}
