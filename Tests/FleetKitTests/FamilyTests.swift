import FleetKit
import Foundation
import TestSupport
import Testing
import TorCrypto
import TorProtocol

/// Families across the fleet: relays on two hosts (local, and a real sshd) get the family's key
/// from the vault and a MyFamily naming the others; joining, rotating the key, moving a relay,
/// retiring one, and a host lost in the middle of a rotation. What each relay would publish is
/// read back with `relaynode descriptor show` and its family certificates checked.
@Suite("Families", .testThreads, .serialized)
struct FamilyTests {
    struct Member {
        var nickname: String
        var host: String
        var fingerprint: String
        var ed25519: String
    }

    static func torrc(_ fleet: TwoHostFleet, _ m: Member) throws -> [String] {
        try String(contentsOfFile: fleet.tmp.sub("\(m.host)/\(m.nickname)/torrc"), encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// What the relay's torrc, node database and descriptor say about its family.
    static func check(_ fleet: TwoHostFleet, _ m: Member, ids: [String], others: [Member], _ when: String) throws {
        let lines = try torrc(fleet, m)
        #expect(lines.filter { $0.hasPrefix("FamilyId ") } == ids.map { "FamilyId \($0)" }, "\(when): \(m.nickname)'s torrc")
        let myFamily = others.map { "$" + $0.fingerprint }.sorted()
        #expect(lines.filter { $0.hasPrefix("MyFamily") } == (myFamily.isEmpty ? [] : ["MyFamily " + myFamily.joined(separator: ",")]),
                "\(when): \(m.nickname)'s MyFamily")
        let data = fleet.tmp.sub("\(m.host)/\(m.nickname)/data")
        let show = try Subprocess.run([Binaries.relaynode, "keys", "show", "--json", "--data-directory", data], timeout: 60)
        let held = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout)) as? [String: Any])["family_keys"] as? [String: String]
        #expect(Set(held?.values.map { $0 } ?? []) == Set(ids), "\(when): \(m.nickname) holds \(held ?? [:])")
        // The descriptor it would publish now: one verified family-cert per id, for its identity.
        let desc = try Subprocess.run([Binaries.relaynode, "descriptor", "show", "--config", fleet.tmp.sub("\(m.host)/\(m.nickname)/torrc")], timeout: 60)
        #expect(desc.status == 0, "\(desc.stderrText)")
        let ed = try Ed25519PublicKey(base64: m.ed25519)
        var signers = [String]()
        for cert in try familyCerts(desc.stdoutText) {
            let signer = try #require(cert.embeddedSigningKey)
            #expect(cert.certType == .familyMembership && cert.certifiedKey == ed.bytes && cert.signatureIsValid(signedBy: signer))
            signers.append(signer.base64)
        }
        #expect(Set(signers) == Set(ids) && signers.count == ids.count, "\(when): \(m.nickname)'s family-certs")
        if !myFamily.isEmpty { #expect(desc.stdoutText.contains("\nfamily " + myFamily.joined(separator: " ") + "\n")) }
    }

    static func familyCerts(_ descriptor: String) throws -> [UncheckedEd25519Cert] {
        var certs = [UncheckedEd25519Cert]()
        var rest = Substring(descriptor)
        while let begin = rest.range(of: "-----BEGIN FAMILY CERT-----\n"), let end = rest.range(of: "-----END FAMILY CERT-----", range: begin.upperBound..<rest.endIndex) {
            let bytes = try #require(Data(base64Encoded: String(rest[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace })))
            certs.append(try UncheckedEd25519Cert(parsing: Array(bytes)))
            rest = rest[end.upperBound...]
        }
        return certs
    }

    static func familyIds(_ fleet: TwoHostFleet) throws -> [String] {
        let r = try fleet.cli(["family", "list", "--json"])
        #expect(r.status == 0, "\(r.stderrText)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [[String: Any]])
        return rows.first { $0["family"] as? String == "main" }?["family_ids"] as? [String] ?? []
    }

    @Test(.timeLimit(.minutes(10)))
    func familyFollowsCreateRotateMoveAndRetire() throws {
        let fleet = try TwoHostFleet()
        defer { fleet.shutdown() }
        var members: [Member] = []
        func create(_ nick: String, _ host: String) throws {
            let addr = host == "alpha" ? "127.0.0.1" : "127.0.0.11"
            let r = try fleet.cli(["relay", "create", nick, "--host", host, "--orport", "\(addr):\(freeLoopbackPort())", "--family", "main",
                                   "--start-timeout", "90"], passphrase: fleet.passphrase)
            #expect(r.status == 0, "\(r.stdoutText) \(r.stderrText)")
            let v = try fleet.db.relay(named: nick)
            members.append(Member(nickname: nick, host: host, fingerprint: try #require(v.identity?.rsaFingerprint), ed25519: v.identity!.ed25519Id))
        }
        func checkAll(_ ids: [String], _ when: String) throws {
            for m in members { try Self.check(fleet, m, ids: ids, others: members.filter { $0.nickname != m.nickname }, when) }
        }

        // The first member makes the family's key; the next ones get it, and every MyFamily grows.
        try create("fam1", "alpha")
        let ids = try Self.familyIds(fleet)
        #expect(ids.count == 1)
        let first = try #require(ids.first)
        try checkAll([first], "one member")
        try create("fam2", "beta")
        try create("fam3", "beta")
        try checkAll([first], "three members")
        // The secret is in the vault, and in no file on the hosts or beside the fleet database.
        #expect(try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8)).contents.familyKeys[first]?.family == "main")
        let everyFile = FileManager.default.enumerator(atPath: fleet.tmp.path)?.allObjects as? [String] ?? []
        #expect(!everyFile.isEmpty && everyFile.filter { $0.hasSuffix(".secret_family_key") }.isEmpty)
        // fam1 ran while the others joined: SIGHUP gave it the new MyFamily without a restart.
        let log1 = try String(contentsOfFile: fleet.tmp.sub("alpha/fam1/relaynode.log"), encoding: .utf8)
        #expect(log1.contains("SIGHUP: configuration reloaded") && log1.contains("MyFamily"), "\(log1.suffix(600))")
        // The two hosts are synced in parallel; with RELAYFLEET_PROGRESS=1 each finished host is
        // said on standard error, the result alone on standard output.
        let sync = try fleet.cli(["family", "sync", "main"], passphrase: fleet.passphrase, environment: ["RELAYFLEET_PROGRESS": "1"])
        #expect(sync.status == 0 && sync.stdoutText.components(separatedBy: "already in line").count == 4, "\(sync.stdoutText)")
        #expect(sync.stderrText.contains("family sync: 1/2 hosts done") && sync.stderrText.contains("family sync: 2/2 hosts done"), "\(sync.stderrText)")
        #expect(!sync.stdoutText.contains("hosts done"))

        // Bad input changes nothing.
        let wrong = try fleet.cli(["family", "rotate", "main"], passphrase: "not the passphrase")
        #expect(wrong.status == 1 && wrong.stderrText.contains("passphrase"), "\(wrong.stderrText)")
        let noFamily = try fleet.cli(["family", "sync", "nosuch"], passphrase: fleet.passphrase)
        #expect(noFamily.status == 1 && noFamily.stderrText.contains("no family named nosuch"), "\(noFamily.stderrText)")
        let nothingToFinish = try fleet.cli(["family", "rotate", "main", "--finish"], passphrase: fleet.passphrase)
        #expect(nothingToFinish.status == 1 && nothingToFinish.stderrText.contains("no rotation to finish"), "\(nothingToFinish.stderrText)")
        #expect(try Self.familyIds(fleet) == [first])

        // Rotation, with the ssh host down: alpha's member gets both keys, beta's are reported.
        fleet.server.stop()
        let rotated = try fleet.cli(["family", "rotate", "main"], passphrase: fleet.passphrase)
        #expect(rotated.status == 1 && rotated.stdoutText.contains("fam2: FAILED") && rotated.stdoutText.contains("fam1: installed"),
                "\(rotated.stdoutText) \(rotated.stderrText)")
        let both = try Self.familyIds(fleet)
        #expect(both.count == 2 && both.first == first)
        let second = both[1]
        try Self.check(fleet, members[0], ids: both, others: Array(members[1...]), "rotation, beta down")
        #expect(try fleet.db.events().contains { $0.kind == .familySyncFailed })
        try fleet.server.restart()
        let resync = try fleet.cli(["family", "sync"], passphrase: fleet.passphrase)
        #expect(resync.status == 0, "\(resync.stdoutText) \(resync.stderrText)")
        try checkAll(both, "rotation, beta back")
        let log3 = try String(contentsOfFile: fleet.tmp.sub("beta/fam3/relaynode.log"), encoding: .utf8)
        #expect(log3.contains("keys updated"), "a running member takes the new key on SIGHUP: \(log3.suffix(600))")

        // Moving a member keeps its family: the keys travel in the sealed bundle.
        let moved = try fleet.cli(["migrate", "fam3", "--to", "alpha", "--start-timeout", "90"], passphrase: fleet.passphrase)
        #expect(moved.status == 0, "\(moved.stderrText)")
        members[2].host = "alpha"
        try checkAll(both, "after moving fam3")

        // Finishing the rotation drops the first key everywhere, and from the vault.
        let finished = try fleet.cli(["family", "rotate", "main", "--finish"], passphrase: fleet.passphrase)
        #expect(finished.status == 0, "\(finished.stdoutText) \(finished.stderrText)")
        #expect(try Self.familyIds(fleet) == [second])
        try checkAll([second], "rotation finished")
        let vault = try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8))
        #expect(vault.contents.familyKeys[first] == nil && vault.contents.familyKeys[second] != nil)

        // A retired member leaves the others' MyFamily.
        let retired = try fleet.cli(["relay", "retire", "fam2"], passphrase: fleet.passphrase)
        #expect(retired.status == 0, "\(retired.stdoutText) \(retired.stderrText)")
        members.remove(at: 1)
        try checkAll([second], "after retiring fam2")
        // Every relay still proves its identity.
        for m in members {
            let v = try fleet.db.relay(named: m.nickname)
            try fleet.provisioner.verify(address: v.relay.orAddress, port: v.relay.orPort, rsaFingerprint: m.fingerprint, ed25519: m.ed25519, within: 30)
        }
    }
}
