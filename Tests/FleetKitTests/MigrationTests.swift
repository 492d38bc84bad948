import FleetKit
import Foundation
import GRDB
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `fleetctl migrate` between two simulated hosts (alpha: local transport on 127.0.0.1; beta: a
/// real sshd on 127.0.0.11), with fleetctl killed at every step and the ssh host going away,
/// checking after each fault that the identity is live on at most one host and that a complete
/// copy of its keys exists, and that running the command again finishes the move.
@Suite("Identity migration", .testThreads, .serialized)
struct MigrationTests {
    static let nickname = "mover"

    struct Copy {
        var present = false, fenced = false, running = false
        var fingerprint: String?
    }

    /// What `relaynode identity status` says about the relay's directory on `host`.
    static func copy(_ fleet: TwoHostFleet, on host: String) throws -> Copy {
        let dir = fleet.tmp.sub("\(host)/\(nickname)/data")
        guard FileManager.default.fileExists(atPath: dir) else { return Copy() }
        let r = try Subprocess.run([Binaries.relaynode, "identity", "status", "--data-directory", dir], timeout: 60)
        #expect(r.status == 0, "\(r.stderrText)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        return Copy(present: o["present"] as? Bool ?? false, fenced: o["fenced"] as? Bool ?? false,
                    running: o["running"] as? Bool ?? false, fingerprint: o["rsa_fingerprint"] as? String)
    }

    /// The relay's processes: pid files under each host's directory that name a live process.
    static func livePids(_ fleet: TwoHostFleet, on host: String) -> [pid_t] {
        let f = fleet.tmp.sub("\(host)/\(nickname)/relaynode.pid")
        guard let t = try? String(contentsOfFile: f, encoding: .utf8), let pid = pid_t(t.trimmingCharacters(in: .whitespacesAndNewlines)) else { return [] }
        return isAlive(pid) ? [pid] : []
    }

    /// The two invariants, checked from outside fleetctl.
    static func checkInvariants(_ fleet: TwoHostFleet, fingerprint: String, _ when: String) throws {
        let a = try copy(fleet, on: "alpha"), b = try copy(fleet, on: "beta")
        let liveHosts = [("alpha", a), ("beta", b)].filter { $0.1.running || !livePids(fleet, on: $0.0).isEmpty }.map(\.0)
        #expect(liveHosts.count <= 1, "\(when): the identity is live on \(liveHosts)")
        // A live copy is never a fenced one.
        for (h, c) in [("alpha", a), ("beta", b)] where c.running { #expect(!c.fenced, "\(when): fenced copy running on \(h)") }
        var complete = [a, b].contains { $0.present && $0.fingerprint == fingerprint }
        if !complete {
            // Otherwise the sealed bundle must open with the move's key from the vault.
            let vault = try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8))
            let bundles = Self.sealedBundles(fleet)
            for b in bundles {
                let bytes = try #require(FileManager.default.contents(atPath: fleet.tmp.sub("fleet/bundles/\(b)")))
                for (_, secret) in vault.contents.operations {
                    let r = try Subprocess.run([Binaries.relaynode, "identity", "inspect", "--expect-fingerprint", fingerprint],
                                               stdin: Array((secret.map { String(format: "%02x", $0) }.joined() + "\n").utf8) + Array(bytes), timeout: 60)
                    if r.status == 0 { complete = true }
                }
            }
        }
        #expect(complete, "\(when): no complete copy of \(fingerprint) (alpha \(a), beta \(b))")
    }

    static func sealedBundles(_ fleet: TwoHostFleet) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: fleet.tmp.sub("fleet/bundles"))) ?? []).filter { $0.hasSuffix(".sealed") }.sorted()
    }

    static func healthEvents(_ fleet: TwoHostFleet, on host: String) throws -> Int {
        let q = try DatabaseQueue(path: fleet.tmp.sub("\(host)/\(nickname)/data/relay.sqlite3"), configuration: { var c = Configuration(); c.readonly = true; return c }())
        return try q.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM health_event") ?? 0 }
    }

    static func migrate(_ fleet: TwoHostFleet, _ args: [String], fault: String? = nil, passphrase: String? = nil) throws -> CommandResult {
        var env = ProcessInfo.processInfo.environment
        env["RELAYFLEET_PASSPHRASE"] = passphrase ?? fleet.passphrase
        env["RELAYFLEET_FAULT"] = fault
        return try Subprocess.run([Binaries.fleetctl, "migrate", nickname] + args + ["--fleet-db", fleet.dbPath, "--start-timeout", "90"], timeout: 300, environment: env)
    }

    @Test(.timeLimit(.minutes(12)))
    func migrateBackAndForthWithFleetctlKilledAtEveryStep() throws {
        let fleet = try TwoHostFleet()
        defer { fleet.shutdown() }
        let port = freeLoopbackPort()
        let created = try fleet.provisioner.create(.init(nickname: Self.nickname, hostName: "alpha", orAddress: "127.0.0.1", orPort: port, role: .nonExit),
                                                   vault: fleet.vault)
        let identity = try #require(created.identity)
        let fp = identity.rsaFingerprint
        try Self.checkInvariants(fleet, fingerprint: fp, "after create")

        // Bad input first: nothing may change.
        let wrongPass = try Self.migrate(fleet, ["--to", "beta"], passphrase: "not the passphrase")
        #expect(wrongPass.status == 1 && wrongPass.stderrText.contains("passphrase"), "\(wrongPass.stderrText)")
        let noHost = try Self.migrate(fleet, ["--to", "gamma"])
        #expect(noHost.status == 1 && noHost.stderrText.contains("gamma"), "\(noHost.stderrText)")
        let sameHost = try Self.migrate(fleet, ["--to", "alpha"])
        #expect(sameHost.status == 1 && sameHost.stderrText.contains("already runs on alpha"), "\(sameHost.stderrText)")
        #expect(try fleet.db.relay(named: Self.nickname).liveHostName == "alpha")
        try fleet.provisioner.verify(address: "127.0.0.1", port: port, rsaFingerprint: fp, ed25519: identity.ed25519Id, within: 30)

        // Killed after each step (and between a step's work and its record), then run again.
        let faults = ["planned", "fenced-unrecorded", "fenced", "exported", "imported-unrecorded", "imported",
                      "started", "verified-unrecorded", "verified"]
        var here = "alpha"
        var epoch = identity.epoch
        for fault in faults {
            let there = here == "alpha" ? "beta" : "alpha"
            let address = there == "alpha" ? "127.0.0.1" : "127.0.0.11"
            let events = try Self.healthEvents(fleet, on: here)
            let killed = try Self.migrate(fleet, ["--to", there], fault: fault)
            #expect(killed.status == 70, "fault \(fault): \(killed.stderrText)")
            try Self.checkInvariants(fleet, fingerprint: fp, "killed after \(fault) (\(here) → \(there))")

            let rerun = try Self.migrate(fleet, ["--to", there])
            #expect(rerun.status == 0, "re-run after \(fault): \(rerun.stderrText)")
            try Self.checkInvariants(fleet, fingerprint: fp, "finished after \(fault)")
            let v = try fleet.db.relay(named: Self.nickname)
            epoch += 1
            #expect(v.host.name == there && v.liveHostName == there && v.relay.orAddress == address)
            #expect(v.identity?.epoch == epoch)
            try fleet.provisioner.verify(address: address, port: port, rsaFingerprint: fp, ed25519: identity.ed25519Id, within: 30)
            // The old copy is erased; the history came along (the new host adds its own start).
            #expect(!FileManager.default.fileExists(atPath: fleet.tmp.sub("\(here)/\(Self.nickname)")), "old copy left on \(here)")
            #expect(try Self.healthEvents(fleet, on: there) > events)
            here = there
        }
        #expect(here == (faults.count % 2 == 0 ? "alpha" : "beta"))

        // The sealed bundles stay until --confirm; the vault drops their keys with them.
        let listed = try Self.migrate(fleet, ["--list"])
        #expect(listed.stdoutText.split(separator: "\n").filter { $0.contains(" done ") }.count == faults.count, "\(listed.stdoutText)")
        #expect(Self.sealedBundles(fleet).count == faults.count)
        let confirmed = try Self.migrate(fleet, ["--confirm"])
        #expect(confirmed.status == 0 && confirmed.stdoutText.contains("deleted \(faults.count) sealed bundles"), "\(confirmed.stdoutText)")
        #expect(Self.sealedBundles(fleet).isEmpty)
        #expect(try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8)).contents.operations.isEmpty)
        #expect(fileMode(fleet.tmp.sub("fleet/bundles")) == 0o700)
    }

    @Test(.timeLimit(.minutes(8)))
    func tamperedBundleAndLostHostAreRefusedAndRolledBack() throws {
        let fleet = try TwoHostFleet()
        defer { fleet.shutdown() }
        let port = freeLoopbackPort()
        let created = try fleet.provisioner.create(.init(nickname: Self.nickname, hostName: "alpha", orAddress: "127.0.0.1", orPort: port, role: .exit),
                                                   vault: fleet.vault)
        let identity = try #require(created.identity)
        let fp = identity.rsaFingerprint

        // A host that is down before the move starts: refused, nothing changed.
        fleet.server.stop()
        let down = try Self.migrate(fleet, ["--to", "beta"])
        #expect(down.status == 1 && down.stderrText.contains("cannot reach host"), "\(down.stderrText)")
        try fleet.provisioner.verify(address: "127.0.0.1", port: port, rsaFingerprint: fp, ed25519: identity.ed25519Id, within: 30)
        #expect(try Self.migrate(fleet, ["--list"]).stdoutText.split(separator: "\n").count == 1)

        // The host goes away in the middle (after the export): the move stops with the error,
        // both invariants hold, and once the host is back the same command finishes it.
        try fleet.server.restart()
        let killed = try Self.migrate(fleet, ["--to", "beta"], fault: "exported")
        #expect(killed.status == 70)
        fleet.server.stop()
        let lost = try Self.migrate(fleet, ["--to", "beta"])
        #expect(lost.status == 1 && lost.stderrText.contains("cannot reach host"), "\(lost.stderrText)")
        try Self.checkInvariants(fleet, fingerprint: fp, "target unreachable during import")
        try fleet.server.restart()
        let finished = try Self.migrate(fleet, ["--to", "beta"])
        #expect(finished.status == 0, "\(finished.stderrText)")
        try fleet.provisioner.verify(address: "127.0.0.11", port: port, rsaFingerprint: fp, ed25519: identity.ed25519Id, within: 30)

        // A tampered bundle is refused before anything is imported; --rollback brings the relay
        // back where it was.
        let again = try Self.migrate(fleet, ["--to", "alpha"], fault: "exported")
        #expect(again.status == 70)
        let bundles = Self.sealedBundles(fleet)
        let newest = fleet.tmp.sub("fleet/bundles/\(try #require(bundles.first { $0.contains("move2") }))")
        var bytes = try #require(FileManager.default.contents(atPath: newest))
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: newest))
        let refused = try Self.migrate(fleet, ["--to", "alpha"])
        #expect(refused.status == 1 && refused.stderrText.contains("does not check out"), "\(refused.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: fleet.tmp.sub("alpha/\(Self.nickname)/data/relay.sqlite3")))
        try Self.checkInvariants(fleet, fingerprint: fp, "tampered bundle")
        let rolledBack = try Self.migrate(fleet, ["--rollback"])
        #expect(rolledBack.status == 0, "\(rolledBack.stderrText)")
        try fleet.provisioner.verify(address: "127.0.0.11", port: port, rsaFingerprint: fp, ed25519: identity.ed25519Id, within: 30)
        let v = try fleet.db.relay(named: Self.nickname)
        #expect(v.host.name == "beta" && v.liveHostName == "beta")
        #expect(try Self.copy(fleet, on: "beta").fenced == false)
        try Self.checkInvariants(fleet, fingerprint: fp, "after rollback")
        // A verified move cannot be rolled back; there is nothing unfinished now.
        let nothing = try Self.migrate(fleet, ["--rollback"])
        #expect(nothing.status == 1 && nothing.stderrText.contains("no unfinished move"), "\(nothing.stderrText)")
    }

    /// `fleetctl import-ctor`: a real C tor DataDirectory (keys made by Debian's tor) adopted on
    /// the ssh host; refused while tor runs on it; afterwards tor's keys directory is retired.
    @Test(.timeLimit(.minutes(5)))
    func importCTorAdoptsAStoppedTorsIdentity() throws {
        let fleet = try TwoHostFleet()
        defer { fleet.shutdown() }
        let dir = fleet.tmp.sub("ctor-data")
        let torPort = freeLoopbackPort()
        let fake = "fake orport=\(freeLoopbackPort()) no-v2 v3ident=0000000000000000000000000000000000000000 127.0.0.1:\(freeLoopbackPort()) 0000000000000000000000000000000000000000"
        let common = ["--DataDirectory", dir, "--ORPort", "127.0.0.11:\(torPort)", "--Nickname", "ctorrelay", "--DirAuthority", fake,
                      "--Log", "notice stdout", "--Sandbox", "0"]
        let list = try Subprocess.run(["tor", "--list-fingerprint"] + common, timeout: 60)
        #expect(list.status == 0, "\(list.stderrText)")
        let fp = try #require(try String(contentsOfFile: dir + "/fingerprint", encoding: .utf8).split(separator: " ").last)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let ed = try #require(try String(contentsOfFile: dir + "/fingerprint-ed25519", encoding: .utf8).split(separator: " ").last)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // The C tor relay already has a family key (made by tor itself): the fleet family adopts it.
        let keygen = try Subprocess.run(["tor", "--keygen-family", dir + "/keys/oldfam"], timeout: 60)
        let torFamilyId = try #require(keygen.stdoutText.split(separator: "\n").first { $0.hasPrefix("FamilyId ") }.map { String($0.dropFirst(9)) })
        let port = freeLoopbackPort()
        func adopt(_ d: String) throws -> CommandResult {
            try fleet.cli(["import-ctor", "beta", d, "--nickname", "adopted", "--orport", "\(port)", "--family", "legacy"], passphrase: fleet.passphrase)
        }

        // Not a DataDirectory: refused, nothing recorded.
        let missing = try adopt(fleet.tmp.sub("nowhere"))
        #expect(missing.status == 1 && missing.stderrText.contains("not a C tor DataDirectory"), "\(missing.stderrText)")

        // tor running on it (it holds the lock): refused.
        let tor = try Child("/usr/bin/tor", common + ["--DisableNetwork", "1"], output: fleet.tmp.sub("ctor.log"))
        defer { tor.stop() }
        let deadline = Date() + 30
        while Date() < deadline, !((try? String(contentsOfFile: fleet.tmp.sub("ctor.log"), encoding: .utf8)) ?? "").contains("Bootstrapped 0%") {
            usleep(100_000)
        }
        let busy = try adopt(dir)
        #expect(busy.status == 1 && busy.stderrText.contains("tor is still running"), "\(busy.stderrText)")
        #expect(try fleet.db.relays().isEmpty)
        tor.stop()

        let adopted = try adopt(dir)
        #expect(adopted.status == 0, "\(adopted.stderrText)")
        #expect(adopted.stdoutText.contains(fp) && adopted.stdoutText.contains(ed), "\(adopted.stdoutText)")
        let v = try fleet.db.relay(named: "adopted")
        #expect(v.identity?.rsaFingerprint == fp && v.identity?.ed25519Id == ed && v.liveHostName == "beta")
        try fleet.provisioner.verify(address: "127.0.0.11", port: port, rsaFingerprint: fp, ed25519: ed, within: 30)
        // tor can no longer run this identity; its keys are kept aside, the master key is in the vault only.
        #expect(!FileManager.default.fileExists(atPath: dir + "/keys"))
        #expect(FileManager.default.fileExists(atPath: dir + "/keys.adopted-by-relaynode-adopted/secret_id_key"))
        #expect(try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8)).contents.entries[ed] != nil)
        #expect(!FileManager.default.fileExists(atPath: fleet.tmp.sub("beta/adopted/data/keys")))
        // Its family key is the family's now: the same FamilyId, the secret in the vault.
        #expect(try fleet.db.familyKeys(family: "legacy").map(\.familyId) == [torFamilyId])
        #expect(try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8)).contents.familyKeys[torFamilyId] != nil)
        let adoptedTorrc = try String(contentsOfFile: fleet.tmp.sub("beta/adopted/torrc"), encoding: .utf8)
        #expect(adoptedTorrc.contains("FamilyId \(torFamilyId)\n"), "\(adoptedTorrc)")

        // Retired: stopped, a sealed backup that opens with its key from the vault, erased from the host.
        let retired = try fleet.cli(["relay", "retire", "adopted"], passphrase: fleet.passphrase)
        #expect(retired.status == 0, "\(retired.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: fleet.tmp.sub("beta/adopted")))
        #expect(throws: FleetError.self) {
            try fleet.provisioner.verify(address: "127.0.0.11", port: port, rsaFingerprint: fp, ed25519: ed, within: 2)
        }
        let r = try fleet.db.relay(named: "adopted")
        #expect(r.relay.desiredState == .retired && r.liveHostName == nil)
        let backup = try #require(Self.sealedBundles(fleet).first { $0.hasPrefix("adopted-retired") })
        let sealed = try #require(FileManager.default.contents(atPath: fleet.tmp.sub("fleet/bundles/\(backup)")))
        let secret = try #require(try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8)).contents.operations["retired-adopted"])
        let opened = try Subprocess.run([Binaries.relaynode, "identity", "inspect", "--expect-fingerprint", fp],
                                        stdin: Array((secret.map { String(format: "%02x", $0) }.joined() + "\n").utf8) + Array(sealed), timeout: 60)
        #expect(opened.status == 0, "\(opened.stderrText)")
        // Again: nothing left to do, still fine; the fleet's health no longer asks for it.
        #expect(try fleet.cli(["relay", "retire", "adopted"], passphrase: fleet.passphrase).status == 0)
        let health = try fleet.cli(["health"])
        #expect(!health.stdoutText.contains("adopted"), "\(health.stdoutText)")
    }
}
