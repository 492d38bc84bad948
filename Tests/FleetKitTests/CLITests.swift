import FleetKit
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("fleetctl hosts and vault", .testThreads)
struct CLITests {
    @Test(.timeLimit(.minutes(2)))
    func cliHostsAndVault() throws {
        let tmp = TempDir()
        let db = ["--fleet-db", tmp.sub("f/fleet.sqlite3")]
        let add = try fleetctl(db + ["host", "add", "local1", "--address", "127.0.0.1", "--data-root", tmp.sub("root")])
        #expect(add.status == 0, "\(add.stderrText)")
        // The fleet-wide options are accepted before the subcommand too.
        let add2 = try fleetctl(db + ["host", "add", "far", "--transport", "ssh", "--ssh", "root@192.0.2.9", "--address", "192.0.2.9"])
        #expect(add2.status == 0, "\(add2.stderrText)")
        let listed = try fleetctl(["--fleet-db", tmp.sub("f/fleet.sqlite3"), "host", "list", "--json"])
        let hosts = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout)) as? [[String: Any]])
        #expect(hosts.compactMap { $0["name"] as? String } == ["far", "local1"])
        #expect(fileMode(tmp.sub("f")) == 0o700 && fileMode(tmp.sub("f/fleet.sqlite3")) == 0o600)
        let dup = try fleetctl(db + ["host", "add", "local1", "--address", "127.0.0.2"])
        #expect(dup.status == 1 && dup.stderrText.contains("already exists"))
        let badSSH = try fleetctl(db + ["host", "add", "x", "--transport", "ssh", "--address", "127.0.0.2"])
        #expect(badSSH.status == 1 && badSSH.stderrText.contains("--ssh"))
        #expect(try fleetctl(db + ["host", "remove", "far"]).status == 0)
        #expect(try fleetctl(db + ["host", "list"]).stdoutText.contains("far") == false)

        // Vault: passphrase from a file; status without it shows only the header.
        let pass = tmp.sub("pass")
        FileManager.default.createFile(atPath: pass, contents: Data("pw\n".utf8), attributes: [.posixPermissions: 0o600])
        let initd = try fleetctl(db + ["vault", "init", "--kdf", "interactive", "--passphrase-file", pass])
        #expect(initd.status == 0, "\(initd.stderrText)")
        #expect(fileMode(tmp.sub("f/vault.sealed")) == 0o600)
        let again = try fleetctl(db + ["vault", "init", "--kdf", "interactive", "--passphrase-file", pass])
        #expect(again.status == 1 && again.stderrText.contains("already exists"))
        let locked = try fleetctl(db + ["vault", "status"])
        #expect(locked.status == 0 && locked.stdoutText.contains("locked"))
        let open = try fleetctl(db + ["vault", "status", "--json", "--passphrase-file", pass])
        #expect(open.stdoutText.contains("\"unlocked\" : true"), "\(open.stdoutText)")
        let bad = try fleetctl(db + ["vault", "status"], passphrase: "wrong")
        #expect(bad.status == 1 && bad.stderrText.contains("wrong passphrase"))
    }

    /// The passphrase given to fleetctl in its environment is not inherited by what it runs on a
    /// host: here a stand-in "relaynode" that records its environment and fails.
    @Test(.timeLimit(.minutes(2)))
    func commandsOnHostsDoNotInheritThePassphrase() throws {
        let tmp = TempDir()
        let db = ["--fleet-db", tmp.sub("f/fleet.sqlite3")]
        let script = tmp.sub("fake-relaynode")
        try "#!/bin/sh\nenv > \(tmp.sub("env.txt"))\necho 'fake relaynode refuses' >&2\nexit 1\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o700)
        #expect(try fleetctl(db + ["host", "add", "h", "--address", "127.0.0.1", "--data-root", tmp.sub("root"), "--relaynode-path", script]).status == 0)
        #expect(try fleetctl(db + ["vault", "init", "--kdf", "interactive"], passphrase: "leak-canary-9431").status == 0)
        let r = try fleetctl(db + ["relay", "create", "r1", "--host", "h", "--orport", "127.0.0.1:9999"], passphrase: "leak-canary-9431")
        #expect(r.status == 1 && r.stderrText.contains("fake relaynode refuses"), "\(r.stderrText)")
        let env = try String(contentsOfFile: tmp.sub("env.txt"), encoding: .utf8)
        let leaked = env.contains("leak-canary-9431"), hasPath = env.contains("PATH=")
        #expect(!leaked, "the passphrase reached the environment of a command run on the host")
        #expect(hasPath, "the rest of the environment is passed on")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.sub("root")).isEmpty, "the failed create left nothing")
    }
}
