import FleetKit
import Foundation
import GRDB
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Two simulated hosts: `alpha` reached locally (relays on 127.0.0.1) and `beta` reached over a
/// real sshd on 127.0.0.11 (relays on 127.0.0.11), each with its own data root.
final class TwoHostFleet: @unchecked Sendable {
    let tmp = TempDir()
    let server: SSHServer
    let db: FleetDatabase
    var provisioner: Provisioner
    let vault: Vault
    let passphrase = "test vault passphrase"
    var dbPath: String { tmp.sub("fleet/fleet.sqlite3") }
    var vaultPath: String { tmp.sub("fleet/vault.sealed") }

    init() throws {
        server = try SSHServer()
        db = try FleetDatabase(path: tmp.sub("fleet/fleet.sqlite3"))
        try db.addHost(HostRecord(name: "alpha", transport: .local, address: "127.0.0.1", dataRoot: tmp.sub("alpha"),
                                  relaynodePath: Binaries.relaynode))
        try db.addHost(HostRecord(name: "beta", transport: .ssh, sshTarget: server.alias, sshConfig: server.clientConfig,
                                  address: "127.0.0.11", dataRoot: tmp.sub("beta"), relaynodePath: Binaries.relaynode))
        provisioner = Provisioner(database: db, localRelaynode: Binaries.relaynode)
        provisioner.startTimeout = 90
        vault = try Vault.create(path: tmp.sub("fleet/vault.sealed"), passphrase: Array(passphrase.utf8), cost: .interactive)
    }

    /// Stops every relay started under the data roots, then sshd.
    func shutdown() {
        stopRelays(under: tmp.path)
        server.stop()
    }

    func cli(_ args: [String], passphrase: String? = nil, environment: [String: String] = [:]) throws -> CommandResult {
        try fleetctl(args + ["--fleet-db", dbPath], passphrase: passphrase, environment: environment)
    }

    func files(named name: String) -> [String] {
        (FileManager.default.enumerator(atPath: tmp.path)?.allObjects as? [String] ?? []).filter { $0.hasSuffix("/" + name) }
    }
}

@Suite("Provisioning end to end", .testThreads, .serialized)
struct ProvisioningTests {
    @Test(.timeLimit(.minutes(5)))
    func provisionVerifyRenewOnTwoHosts() throws {
        let fleet = try TwoHostFleet()
        defer { fleet.shutdown() }
        let pa = freeLoopbackPort(), pb = freeLoopbackPort()
        let a1 = try fleet.provisioner.create(.init(nickname: "alpha1", hostName: "alpha", orAddress: "127.0.0.1", orPort: pa, role: .nonExit),
                                              vault: fleet.vault)
        let b1 = try fleet.provisioner.create(.init(nickname: "beta1", hostName: "beta", orAddress: "127.0.0.11", orPort: pb, role: .exit),
                                              vault: fleet.vault)
        let ida = try #require(a1.identity), idb = try #require(b1.identity)
        #expect(a1.liveHostName == "alpha" && b1.liveHostName == "beta")
        #expect(ida.rsaFingerprint != idb.rsaFingerprint)
        #expect(try fleet.db.relays().map(\.relay.nickname) == ["alpha1", "beta1"])

        // The master secrets are in the vault and nowhere on the hosts.
        let reopened = try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8))
        #expect(Set(reopened.contents.entries.keys) == [ida.ed25519Id, idb.ed25519Id])
        #expect(fleet.files(named: "ed25519_master_id_secret_key").isEmpty)
        for (nick, host) in [("alpha1", "alpha"), ("beta1", "beta")] {
            let show = try Subprocess.run([Binaries.relaynode, "keys", "show", "--json", "--data-directory", fleet.tmp.sub("\(host)/\(nick)/data")], timeout: 60)
            #expect(show.stdoutText.contains("\"master_key\" : \"offline\""), "\(show.stdoutText)")
            #expect(fileMode(fleet.tmp.sub("\(host)/\(nick)")) == 0o700)
            #expect(fileMode(fleet.tmp.sub("\(host)/\(nick)/torrc")) == 0o600)
        }

        // Each relay proves its recorded identity in a real link handshake, and not the other's.
        try fleet.provisioner.verify(address: "127.0.0.1", port: pa, rsaFingerprint: ida.rsaFingerprint, ed25519: ida.ed25519Id, within: 30)
        try fleet.provisioner.verify(address: "127.0.0.11", port: pb, rsaFingerprint: idb.rsaFingerprint, ed25519: idb.ed25519Id, within: 30)
        let wrong = #expect(throws: FleetError.self) {
            try fleet.provisioner.verify(address: "127.0.0.11", port: pb, rsaFingerprint: ida.rsaFingerprint, ed25519: ida.ed25519Id, within: 30)
        }
        #expect(wrong?.code == .verification)

        // Key status from both hosts; renew beta1's certificate for 10 days.
        let now = Date()
        let status = try fleet.provisioner.keyStatus(now: now)
        #expect(status.map(\.nickname) == ["alpha1", "beta1"])
        #expect(status.allSatisfy { $0.problem == nil && $0.masterOnline == false }, "\(status)")
        let before = try #require(status.last?.signingExpires)
        #expect(abs(Double(before) - now.timeIntervalSince1970 - 30 * 86_400) < 2 * 86_400)
        let renewed = try fleet.provisioner.renew(nickname: "beta1", vault: reopened, lifetimeDays: 10)
        #expect(abs(Double(renewed) - now.timeIntervalSince1970 - 10 * 86_400) < 2 * 86_400)
        #expect(try fleet.provisioner.keyStatus().last?.signingExpires == renewed)
        #expect(try fleet.db.relay(named: "beta1").identity?.signingExpires == renewed)
        #expect(fleet.files(named: "ed25519_master_id_secret_key").isEmpty, "the signing step leaves no master key behind")
        #expect(!FileManager.default.fileExists(atPath: fleet.tmp.sub("beta/beta1/signing-new")))
        // The running relay takes the new certificate on SIGHUP, without a restart.
        #expect(try fleet.provisioner.reloadKeys(nickname: "beta1", expecting: renewed))
        try fleet.provisioner.verify(address: "127.0.0.11", port: pb, rsaFingerprint: idb.rsaFingerprint, ed25519: idb.ed25519Id, within: 30)
        // Through the CLI, for the other relay: renew and reload in one command.
        let cliRenew = try fleet.cli(["keys", "renew", "alpha1", "--lifetime-days", "12"], passphrase: fleet.passphrase)
        #expect(cliRenew.status == 0 && cliRenew.stdoutText.contains("reloaded its keys"), "\(cliRenew.stdoutText) \(cliRenew.stderrText)")
        try fleet.provisioner.restart(nickname: "beta1")
        #expect(try fleet.db.events().contains { $0.kind == .certRenewed })
        // Unattended (a timer): only what expires within --due days is renewed — beta1 (10 days),
        // not alpha1 (12); then nothing is due.
        let due = try fleet.cli(["keys", "renew", "--due", "11"], passphrase: fleet.passphrase)
        #expect(due.status == 0 && due.stdoutText.contains("renewed 1 of 1 due (of 2 relays)")
                && due.stdoutText.contains("new signing certificate on beta1") && !due.stdoutText.contains("alpha1"), "\(due.stdoutText) \(due.stderrText)")
        let notDue = try fleet.cli(["keys", "renew", "--due", "5"], passphrase: fleet.passphrase)
        #expect(notDue.status == 0 && notDue.stdoutText.contains("no signing certificate expires within 5.0 days"), "\(notDue.stdoutText)")
        #expect(try fleet.cli(["keys", "renew"], passphrase: fleet.passphrase).status != 0)

        // The CLI shows the same inventory.
        let list = try fleet.cli(["relay", "list", "--json"])
        #expect(list.status == 0, "\(list.stderrText)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout)) as? [[String: Any]])
        #expect(rows.compactMap { $0["rsa_fingerprint"] as? String } == [ida.rsaFingerprint, idb.rsaFingerprint])
        #expect(rows.compactMap { $0["live_host"] as? String } == ["alpha", "beta"])
        let show = try fleet.cli(["relay", "show", "beta1"])
        #expect(show.stdoutText.contains(idb.ed25519Id) && show.stdoutText.contains("exit"))
        let keys = try fleet.cli(["keys", "status"])
        #expect(keys.status == 0 && keys.stdoutText.contains("beta1"), "\(keys.stderrText)")

        let events = try fleet.cli(["events", "--json"])
        let kinds = try #require(try JSONSerialization.jsonObject(with: Data(events.stdout)) as? [[String: Any]])
            .map { "\($0["kind"] ?? "")/\($0["relay"] ?? "-")" }
        for expected in ["relay_created/alpha1", "relay_verified/alpha1", "relay_created/beta1", "master_vaulted/beta1", "cert_renewed/beta1"] {
            #expect(kinds.contains(expected), "\(expected) in \(kinds)")
        }
        // The vault can be backed up, and the backup holds both identities.
        let backup = try fleet.cli(["vault", "backup", fleet.tmp.sub("vault-backup")], passphrase: fleet.passphrase)
        #expect(backup.status == 0 && backup.stdoutText.contains("2 master keys"), "\(backup.stderrText)")

        // Stopping works by pid file; a host that went down is reported on its relays only.
        let check = try fleet.cli(["host", "check"])
        #expect(check.status == 0 && check.stdoutText.contains("beta: ok, relaynode 0.1.0"), "\(check.stdoutText)")
        #expect(try fleet.provisioner.stop(nickname: "alpha1"))
        #expect(try !fleet.provisioner.stop(nickname: "alpha1"))
        let start = try fleet.cli(["relay", "start", "alpha1"])
        #expect(start.status == 0 && start.stdoutText.contains("started alpha1"), "\(start.stderrText)")
        #expect(try fleet.cli(["relay", "start", "alpha1"]).stdoutText.contains("already running"))
        #expect(try fleet.provisioner.stop(nickname: "alpha1"))
        fleet.server.stop()
        let checkDown = try fleet.cli(["host", "check"])
        #expect(checkDown.status == 1 && checkDown.stdoutText.contains("beta: FAILED") && checkDown.stdoutText.contains("alpha: ok"))
        let down = try fleet.provisioner.keyStatus()
        #expect(down[0].problem == nil)
        #expect(down[1].problem?.contains("cannot reach host") == true, "\(down)")
        let cliDown = try fleet.cli(["keys", "status"])
        #expect(cliDown.status == 1 && cliDown.stdoutText.contains("cannot reach host"))
    }

    @Test(.timeLimit(.minutes(5)))
    func badInputChangesNothing() throws {
        let fleet = try TwoHostFleet()
        defer { fleet.shutdown() }
        let pa = freeLoopbackPort()
        try fleet.provisioner.create(.init(nickname: "alpha1", hostName: "alpha", orAddress: "127.0.0.1", orPort: pa, role: .nonExit),
                                     vault: fleet.vault)
        var vaultBefore = sha(fleet.vaultPath)
        var relaysBefore = try fleet.db.relays()

        func unchanged(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(sha(fleet.vaultPath) == vaultBefore, "\(what): vault changed", sourceLocation: sourceLocation)
            #expect(try fleet.db.relays() == relaysBefore, "\(what): inventory changed", sourceLocation: sourceLocation)
            let dirs = (try? FileManager.default.contentsOfDirectory(atPath: fleet.tmp.sub("alpha"))) ?? []
            #expect(dirs == ["alpha1"], "\(what): host directories \(dirs)", sourceLocation: sourceLocation)
            let beta = (try? FileManager.default.contentsOfDirectory(atPath: fleet.tmp.sub("beta"))) ?? []
            #expect(beta.isEmpty, "\(what): beta has relay directories \(beta)", sourceLocation: sourceLocation)
        }

        // Conflicting ports: the same ORPort on the same host, refused before any host is touched.
        let clash = #expect(throws: FleetError.self) {
            try fleet.provisioner.create(.init(nickname: "alpha2", hostName: "alpha", orAddress: "127.0.0.1", orPort: pa, role: .exit),
                                         vault: fleet.vault)
        }
        #expect(clash?.code == .conflict)
        #expect(clash?.context.contains("already used by relay alpha1") == true)
        try unchanged("port clash")
        let cliClash = try fleet.cli(["relay", "create", "alpha2", "--host", "alpha", "--orport", "127.0.0.1:\(pa)"])
        #expect(cliClash.status == 1 && cliClash.stderrText.contains("already used by relay alpha1"), "\(cliClash.stderrText)")
        // A name clash and an unknown host.
        #expect(try #require(#expect(throws: FleetError.self) {
            try fleet.provisioner.create(.init(nickname: "alpha1", hostName: "beta", orAddress: "127.0.0.11", orPort: 9001, role: .exit), vault: fleet.vault)
        }).code == .conflict)
        #expect(try #require(#expect(throws: FleetError.self) {
            try fleet.provisioner.create(.init(nickname: "gamma1", hostName: "gamma", orAddress: "127.0.0.12", orPort: 9001, role: .exit), vault: fleet.vault)
        }).code == .notFound)
        try unchanged("name clash")

        // A port taken by something outside the inventory: the relay cannot start; everything is undone.
        let busy = try ListeningSocket(address: "127.0.0.1")
        defer { busy.close() }
        fleet.provisioner.startTimeout = 6
        let blocked = #expect(throws: FleetError.self) {
            try fleet.provisioner.create(.init(nickname: "alpha3", hostName: "alpha", orAddress: "127.0.0.1", orPort: busy.port, role: .nonExit),
                                         vault: Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8)))
        }
        #expect(blocked?.code == .verification, "\(String(describing: blocked))")
        #expect(try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8)).contents.entries.count == 1)
        #expect(try fleet.db.relays() == relaysBefore)
        #expect(try fleet.db.events().first?.kind == .relayCreateFailed)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fleet.tmp.sub("alpha")) == ["alpha1"])

        // An interrupted create (killed after the vault took the key, before the inventory
        // recorded the relay) is rolled back by the next create of that nickname, which then works.
        let gen = try Subprocess.run(["sh", "-c", #"umask 077 && mkdir -p "$1/data" && : > "$1/.creating" && "$2" keys generate --data-directory "$1/data" --json"#,
                                      "sh", fleet.tmp.sub("alpha/alpha4"), Binaries.relaynode], timeout: 60)
        #expect(gen.status == 0, "\(gen.stderrText)")
        let halfVault = try Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8))
        halfVault.contents.entries["stale-id"] = VaultContents.Entry(nickname: "alpha4", rsaFingerprint: String(repeating: "D", count: 40),
                                                                     ed25519Id: "stale-id", masterSecretFile: [1, 2, 3], storedAt: 0)
        try halfVault.save()
        let redone = try fleet.provisioner.create(.init(nickname: "alpha4", hostName: "alpha", orAddress: "127.0.0.1", orPort: freeLoopbackPort(), role: .nonExit),
                                                  vault: halfVault)
        #expect(halfVault.contents.entries["stale-id"] == nil)
        #expect(halfVault.contents.entries[redone.identity!.ed25519Id] != nil)
        #expect(!FileManager.default.fileExists(atPath: fleet.tmp.sub("alpha/alpha4/.creating")))
        // A directory that fleetctl did not mark is never taken over.
        try FileManager.default.createDirectory(atPath: fleet.tmp.sub("alpha/alpha5"), withIntermediateDirectories: false)
        let foreign = #expect(throws: FleetError.self) {
            try fleet.provisioner.create(.init(nickname: "alpha5", hostName: "alpha", orAddress: "127.0.0.1", orPort: freeLoopbackPort(), role: .nonExit),
                                         vault: halfVault)
        }
        #expect(foreign?.code == .conflict)
        #expect(try fleet.provisioner.stop(nickname: "alpha4"))
        try FileManager.default.removeItem(atPath: fleet.tmp.sub("alpha/alpha5"))
        relaysBefore = try fleet.db.relays()
        vaultBefore = sha(fleet.vaultPath)
        _ = vaultBefore

        // Wrong passphrase, through the CLI: refused before any host is touched.
        let vaultNow = sha(fleet.vaultPath)
        let wrong = try fleet.cli(["relay", "create", "beta2", "--host", "beta", "--orport", "127.0.0.11:\(freeLoopbackPort())"],
                                  passphrase: "not the passphrase")
        #expect(wrong.status == 1 && wrong.stderrText.contains("wrong passphrase"), "\(wrong.stderrText)")
        #expect(!wrong.stderrText.contains("not the passphrase"))
        let renewWrong = try fleet.cli(["keys", "renew", "alpha1"], passphrase: "not the passphrase")
        #expect(renewWrong.status == 1 && renewWrong.stderrText.contains("wrong passphrase"))
        #expect(sha(fleet.vaultPath) == vaultNow)
        #expect(try fleet.db.relays() == relaysBefore)

        // Unknown relay.
        let unknown = try fleet.cli(["keys", "renew", "nosuchrelay"], passphrase: fleet.passphrase)
        #expect(unknown.status == 1 && unknown.stderrText.contains("no relay named nosuchrelay"), "\(unknown.stderrText)")
        #expect(try fleet.cli(["relay", "show", "nosuchrelay"]).status == 1)

        // A tampered vault: nothing is created, the file is left as it was.
        var bytes = try #require(sha(fleet.vaultPath))
        bytes[bytes.count - 5] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: fleet.vaultPath))
        let tampered = try fleet.cli(["relay", "create", "beta2", "--host", "beta", "--orport", "127.0.0.11:\(freeLoopbackPort())"],
                                     passphrase: fleet.passphrase)
        #expect(tampered.status == 1 && tampered.stderrText.contains("changed since it was written"), "\(tampered.stderrText)")
        #expect(sha(fleet.vaultPath) == bytes)
        #expect(try fleet.db.relays() == relaysBefore)

        // A host that is down: a clear transport error, nothing recorded, no vault change.
        try Data(vaultNow!).write(to: URL(fileURLWithPath: fleet.vaultPath))
        fleet.server.stop()
        let down = #expect(throws: FleetError.self) {
            try fleet.provisioner.create(.init(nickname: "beta3", hostName: "beta", orAddress: "127.0.0.11", orPort: freeLoopbackPort(), role: .nonExit),
                                         vault: Vault.open(path: fleet.vaultPath, passphrase: Array(fleet.passphrase.utf8)))
        }
        #expect(down?.code == .transport, "\(String(describing: down))")
        #expect(sha(fleet.vaultPath) == vaultNow)
        #expect(try fleet.db.relays() == relaysBefore)
    }

    @Test(.timeLimit(.minutes(5)))
    func statsMatchTheNodeDatabases() throws {
        let fleet = try TwoHostFleet()
        defer { fleet.shutdown() }
        let pa = freeLoopbackPort(), pb = freeLoopbackPort()
        let a = try fleet.provisioner.create(.init(nickname: "alpha1", hostName: "alpha", orAddress: "127.0.0.1", orPort: pa, role: .nonExit,
                                                   family: "ops"), vault: fleet.vault)
        let b = try fleet.provisioner.create(.init(nickname: "beta1", hostName: "beta", orAddress: "127.0.0.11", orPort: pb, role: .nonExit),
                                             vault: fleet.vault)
        // Some link traffic, then a clean stop so each relay writes its counters.
        for _ in 0..<3 {
            try fleet.provisioner.verify(address: "127.0.0.1", port: pa, rsaFingerprint: a.identity!.rsaFingerprint, ed25519: a.identity!.ed25519Id, within: 30)
            try fleet.provisioner.verify(address: "127.0.0.11", port: pb, rsaFingerprint: b.identity!.rsaFingerprint, ed25519: b.identity!.ed25519Id, within: 30)
        }
        let health = try RelayHealth.collect(database: fleet.db)
        #expect(health.map(\.nickname) == ["alpha1", "beta1"])
        #expect(health.allSatisfy { $0.healthy && $0.running == true && $0.problems.isEmpty }, "\(health)")
        #expect(try fleet.cli(["health"]).status == 0)
        #expect(try fleet.provisioner.stop(nickname: "alpha1"))
        #expect(try fleet.provisioner.stop(nickname: "beta1"))
        let stopped = try RelayHealth.collect(database: fleet.db)
        #expect(stopped.allSatisfy { !$0.healthy && $0.running == false && !$0.problems.isEmpty }, "\(stopped)")
        let cliHealth = try fleet.cli(["health"])
        #expect(cliHealth.status == 1 && cliHealth.stdoutText.contains("UNHEALTHY"), "\(cliHealth.stdoutText)")

        let stats = try FleetStats.collect(database: fleet.db, since: "2h", until: "now")
        #expect(stats.relays.allSatisfy { $0.problem == nil }, "\(stats.relays.map(\.problem))")

        // Computed independently: straight from each node's SQLite file.
        func direct(_ path: String) throws -> (UInt64, UInt64, UInt64) {
            var config = Configuration()
            config.readonly = true
            let q = try DatabaseQueue(path: path, configuration: config)
            defer { try? q.close() }
            let row = try q.read { try Row.fetchOne($0, sql: "SELECT sum(read), sum(written), max(max_read_rate) FROM bandwidth_bin") }!
            return (UInt64(row[0] as Int64? ?? 0), UInt64(row[1] as Int64? ?? 0), UInt64(row[2] as Int64? ?? 0))
        }
        let da = try direct(fleet.tmp.sub("alpha/alpha1/data/relay.sqlite3"))
        let db = try direct(fleet.tmp.sub("beta/beta1/data/relay.sqlite3"))
        #expect(da.0 > 0 && da.1 > 0 && db.0 > 0 && db.1 > 0, "link handshakes were counted: \(da) \(db)")
        let ta = try #require(stats.relays.first { $0.nickname == "alpha1" }?.traffic)
        let tb = try #require(stats.relays.first { $0.nickname == "beta1" }?.traffic)
        #expect((ta.read, ta.written, ta.peakReadRate) == da)
        #expect((tb.read, tb.written, tb.peakReadRate) == db)
        #expect(stats.hosts.map(\.name) == ["alpha", "beta"])
        #expect(stats.hosts.map(\.traffic.read) == [da.0, db.0])
        #expect(stats.fleet.read == da.0 + db.0 && stats.fleet.written == da.1 + db.1)
        #expect(stats.fleet.peakReadRate == max(da.2, db.2))

        let cli = try fleet.cli(["stats", "--json", "--since", "2h"])
        #expect(cli.status == 0, "\(cli.stderrText)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(cli.stdout)) as? [String: Any])
        #expect(((o["fleet"] as? [String: Any])?["read"] as? NSNumber)?.uint64Value == da.0 + db.0)

        // Families, mean rates and the all-time numbers from the cache.
        #expect(stats.families.map(\.name) == ["ops"] && stats.families.first?.traffic == ta)
        #expect(stats.relays.allSatisfy { $0.fresh && $0.running == false && $0.signingExpires != nil })
        #expect(stats.fleetAllTime.read == da.0 + db.0)
        let mean = ta.meanRates(over: stats.seconds)
        #expect(abs(mean.read - Double(da.0) / 7200) < 1)

        let prom = stats.prometheusText()
        #expect(sampleValue(prom, #"tor_relay_fleet_read_bytes{relay="alpha1",host="alpha",family="ops"}"#) == Double(da.0), "\(prom)")
        #expect(sampleValue(prom, #"tor_relay_fleet_host_read_bytes{host="beta"}"#) == Double(db.0))
        #expect(sampleValue(prom, #"tor_relay_fleet_family_read_bytes{family="ops"}"#) == Double(da.0))
        #expect(sampleValue(prom, "tor_relay_fleet_total_read_bytes") == Double(da.0 + db.0))
        #expect(sampleValue(prom, #"tor_relay_fleet_traffic_bytes_total{relay="beta1",host="beta",family="",direction="written"}"#) == Double(db.1))
        #expect(sampleValue(prom, #"tor_relay_fleet_up{relay="beta1",host="beta"}"#) == 1)
        // Stopped above: the relays' own health checks say so.
        #expect(sampleValue(prom, #"tor_relay_fleet_running{relay="alpha1",host="alpha"}"#) == 0)
        #expect(sampleValue(prom, #"tor_relay_fleet_healthy{relay="alpha1",host="alpha"}"#) == 0)
        #expect(stats.relays.allSatisfy { $0.health.contains { $0.contains("not running") } }, "\(stats.relays.map(\.health))")
        try expectValidExposition(prom)
        let csv = try fleet.cli(["stats", "--csv", "--since", "2h"])
        let csvLines = csv.stdoutText.split(separator: "\n").map(String.init)
        #expect(csvLines.count == 1 + 2 + 2 + 1 + 1, "\(csvLines)")
        #expect(csvLines.last?.hasPrefix("fleet,fleet,,\(da.0 + db.0),\(da.1 + db.1),") == true, "\(csvLines)")
        #expect(csvLines.contains { $0.hasPrefix("relay,alpha1,alpha,\(da.0),\(da.1),") })
        #expect(csvLines.contains { $0.hasPrefix("family,ops,,\(da.0),\(da.1),") })
        #expect(csv.stdoutText.hasPrefix("scope,name,host,read,written"))
        #expect(try fleet.cli(["stats", "--csv", "--json"]).status == 1)

        // A graph a person can read: two panels (read, written), a line per relay and the fleet's.
        let svgPath = fleet.tmp.sub("stats.svg")
        let plotted = try fleet.cli(["stats", "--since", "2h", "--cached", "--plot", svgPath])
        #expect(plotted.status == 0, "\(plotted.stderrText)")
        let svg = try Subprocess.run(["python3", "-c", """
            import sys, xml.etree.ElementTree as E
            t = E.parse(sys.argv[1]); ns = '{http://www.w3.org/2000/svg}'
            print(len(t.findall('.//' + ns + 'polyline')), ' '.join(x.text or '' for x in t.findall('.//' + ns + 'text')))
            """, svgPath], timeout: 30)
        #expect(svg.status == 0, "\(svg.stderrText)")
        #expect(svg.stdoutText.hasPrefix("6 "), "\(svg.stdoutText)")
        #expect(["alpha1", "beta1", "fleet", "read (bytes/s", "written (bytes/s"].allSatisfy { svg.stdoutText.contains($0) }, "\(svg.stdoutText)")

        // serve-metrics: a scrape target rendered from the cache.
        let port = freeLoopbackPort()
        let server = try Child(Binaries.fleetctl, ["serve-metrics", "--fleet-db", fleet.dbPath, "--listen", "127.0.0.1:\(port)",
                                                   "--refresh", "2", "--period", "2h"], output: fleet.tmp.sub("serve-metrics.log"))
        defer { server.stop() }
        func scrape() throws -> String {
            let r = try Subprocess.run(["python3", "-c", "import sys, urllib.request as u; sys.stdout.write(u.urlopen(sys.argv[1], timeout=10).read().decode())",
                                        "http://127.0.0.1:\(port)/metrics"], timeout: 30)
            return r.status == 0 ? r.stdoutText : ""
        }
        var scraped = ""
        for _ in 0..<100 where sampleValue(scraped, #"tor_relay_fleet_up{relay="beta1",host="beta"}"#) != 1 {
            Thread.sleep(forTimeInterval: 0.2)
            scraped = (try? scrape()) ?? ""
        }
        #expect(sampleValue(scraped, #"tor_relay_fleet_traffic_bytes_total{relay="alpha1",host="alpha",family="ops",direction="read"}"#) == Double(da.0), "\(scraped)")
        try expectValidExposition(scraped)

        // A host that is down: its relay is listed with the problem and keeps counting with the
        // cached numbers (the totals don't fall back); the other is read as before.
        fleet.server.stop()
        let partial = try FleetStats.collect(database: fleet.db, since: "2h", until: "now")
        let beta = try #require(partial.relays.first { $0.nickname == "beta1" })
        #expect(beta.problem?.contains("cannot reach host") == true && beta.problem?.contains("numbers as cached at") == true, "\(beta.problems)")
        #expect(!beta.fresh && beta.traffic == tb && beta.allTime.read == db.0)
        #expect(partial.fleet.read == da.0 + db.0)
        #expect(sampleValue(partial.prometheusText(), #"tor_relay_fleet_up{relay="beta1",host="beta"}"#) == 0)
        for _ in 0..<100 where sampleValue(scraped, #"tor_relay_fleet_up{relay="beta1",host="beta"}"#) != 0 {
            Thread.sleep(forTimeInterval: 0.2)
            scraped = (try? scrape()) ?? ""
        }
        #expect(sampleValue(scraped, #"tor_relay_fleet_up{relay="beta1",host="beta"}"#) == 0, "\(scraped)")
        #expect(sampleValue(scraped, #"tor_relay_fleet_traffic_bytes_total{relay="beta1",host="beta",family="",direction="read"}"#) == Double(db.0))
        #expect(try fleet.cli(["stats"]).status == 1)
    }
}

/// A TCP listener that accepts and never speaks Tor: a port taken outside the inventory.
final class ListeningSocket: @unchecked Sendable {
    let fd: Int32
    let port: Int
    init(address: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr(address)
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } } == 0
        guard ok, listen(fd, 16) == 0 else { throw SpawnError("cannot listen on \(address)") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }
    func close() { Glibc.close(fd) }
}

/// The value of one series (`name{labels}` exactly as exposed) in Prometheus text, or nil.
func sampleValue(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

/// Prometheus text format 0.0.4, checked line by line (every sample's family declared with a
/// TYPE, names and labels well formed, values numbers) and, where Debian's prometheus package
/// is installed, by `promtool check metrics` too.
func expectValidExposition(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(!text.isEmpty, sourceLocation: sourceLocation)
    var typed = Set<String>()
    let sample = try Regex(#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$"#)
    for line in text.split(separator: "\n") {
        if line.hasPrefix("# TYPE ") {
            let words = line.split(separator: " ")
            #expect(words.count == 4 && ["counter", "gauge", "histogram", "summary", "untyped"].contains(String(words[3])), "\(line)", sourceLocation: sourceLocation)
            if words.count > 2 { typed.insert(String(words[2])) }
        } else if line.hasPrefix("#") {
            continue
        } else {
            let m = try sample.wholeMatch(in: String(line))
            #expect(m != nil, "not a sample line: \(line)", sourceLocation: sourceLocation)
            if let name = line.split(whereSeparator: { $0 == "{" || $0 == " " }).first {
                #expect(typed.contains(String(name)), "\(name) has no TYPE line", sourceLocation: sourceLocation)
            }
        }
    }
    if FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") {
        let r = try Subprocess.run(["sh", "-c", "printf '%s' \"$1\" | promtool check metrics", "sh", text], timeout: 30)
        #expect(r.status == 0, "promtool: \(r.stdoutText) \(r.stderrText)", sourceLocation: sourceLocation)
    }
}
