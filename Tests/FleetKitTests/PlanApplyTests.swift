import FleetKit
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Fleet file parsing", .testThreads)
struct FleetSpecTests {
    @Test func defaultsCascadeAndCountsExpand() throws {
        let spec = try FleetSpec.parse("""
            defaults: {role: non-exit, family: main, bandwidth_rate: 10 MB}
            hosts:
              alpha:
                address: 198.51.100.7
                data_root: /srv/relays
                defaults: {role: exit}
                relays:
                  - {nickname: alphaX, orport: 9001}
                  - {count: 3, nickname_prefix: alpha, orport: 9101, role: non-exit, bandwidth_burst: 20 MB}
              beta:
                transport: ssh
                ssh: root@beta.example
                address: 198.51.100.8
                relays:
                  - {nickname: beta1, orport: "[2001:db8::8]:443", state: stopped, family: other}
            """, file: "f.yaml")
        #expect(spec.hosts.map(\.name) == ["alpha", "beta"])
        #expect(spec.hosts[0].dataRoot == "/srv/relays" && spec.hosts[1].dataRoot == "/var/lib/relayfleet")
        #expect(spec.hosts[1].transport == .ssh && spec.hosts[1].sshTarget == "root@beta.example")
        #expect(spec.relays.map(\.nickname) == ["alphaX", "alpha1", "alpha2", "alpha3", "beta1"])
        #expect(spec.relays.map(\.orPort) == [9001, 9101, 9102, 9103, 443])
        #expect(spec.relays[0].role == .exit && spec.relays[1].role == .nonExit)
        #expect(spec.relays.allSatisfy { $0.bandwidthRate == "10 MB" })
        #expect(spec.relays[2].bandwidthBurst == "20 MB" && spec.relays[0].bandwidthBurst == nil)
        #expect(spec.relays[4].orAddress == "2001:db8::8" && spec.relays[4].state == .stopped && spec.relays[4].family == "other")
        #expect(spec.relays[1].orAddress == "198.51.100.7" && spec.relays[1].family == "main")
    }

    /// Every mistake names the file, the line and the key, and nothing is half-read.
    @Test func mistakesNameFileLineAndKey() {
        func error(_ yaml: String) -> String {
            do { _ = try FleetSpec.parse(yaml, file: "f.yaml"); return "accepted" } catch { return "\(error)" }
        }
        let host = "hosts:\n  a:\n    address: 192.0.2.1\n    relays:\n"
        #expect(error("hosts: [a, b\n").contains("f.yaml: not valid YAML"))
        #expect(error(host + "      - {nickname: a1, orport: 9001, colour: red}\n").contains("f.yaml:5: hosts.a.relays[0].colour: unknown key"))
        #expect(error(host + "      - {nickname: a1, orport: 9001}\n      - {nickname: a2, orport: 9001}\n")
            .contains("a2 and a1 (line 5) both want 192.0.2.1:9001"))
        #expect(error(host + "      - {nickname: a1, orport: 9001}\n      - {nickname: A1, orport: 9002}\n").contains("f.yaml:6: nickname A1 is also used at line 5"))
        #expect(error(host + "      - {nickname: a-1, orport: 9001}\n").contains("is not 1 to 19 letters and digits"))
        #expect(error(host + "      - {nickname: a1, orport: 70000}\n").contains("port 70000 is outside"))
        #expect(error(host + "      - {nickname: a1, orport: 9001, role: guard}\n").contains("hosts.a.relays[0].role: 'guard' is not one of exit, non-exit"))
        #expect(error(host + "      - {nickname: a1, orport: 9001, bandwidth_rate: fast}\n").contains("bandwidth_rate: 'fast' is not a bandwidth"))
        #expect(error(host + "      - {nickname: a1, orport: 9001, bandwidth_rate: 2 MB, bandwidth_burst: 1 MB}\n").contains("must be at least bandwidth_rate"))
        #expect(error(host + "      - {count: 5, nickname_prefix: a, orport: 9001}\n      - {count: 4, nickname_prefix: b, orport: 9101}\n")
            .contains("more than 8 relays on 192.0.2.1"))
        #expect(error("hosts:\n  a:\n    transport: ssh\n    address: 192.0.2.1\n").contains("f.yaml:3: hosts.a.ssh: an ssh host needs ssh:"))
        #expect(error("hosts:\n  a:\n    data_root: relative\n    address: 192.0.2.1\n").contains("hosts.a.data_root: must be an absolute path"))
        #expect(error("defaults: {state: retired}\nhosts: {}\n").contains("'retired' is not a state to ask for"))
        #expect(error("{}\n").contains("the file lists no hosts"))
        #expect(error("hosts:\n  a:\n    address: 192.0.2.1\n    container_engine: podman\n").contains("hosts.a.image: a host with container_engine podman needs image:"))
        #expect(error("hosts:\n  a:\n    address: 192.0.2.1\n    image: localhost/relaynode\n").contains("image: needs container_engine: podman or docker"))
    }
}

/// `fleetctl plan` and `apply` end to end: host alpha reached locally (relays on 127.0.0.1), host
/// beta over a real sshd on 127.0.0.11, each with its own data root; every relay proves its
/// identity with a real Tor link handshake.
@Suite("fleetctl plan and apply", .testThreads, .serialized)
struct PlanApplyTests {
    final class Fixture: @unchecked Sendable {
        let tmp = TempDir()
        let server: SSHServer
        let passphrase = "plan apply passphrase"
        var dbPath: String { tmp.sub("fleet/fleet.sqlite3") }
        var file: String { tmp.sub("fleet.yaml") }
        let ports: [Int]

        init() throws {
            server = try SSHServer()
            _ = try Vault.create(path: tmp.sub("fleet/vault.sealed"), passphrase: Array(passphrase.utf8), cost: .interactive)
            ports = (0..<4).map { _ in freeLoopbackPort() }
        }

        func write(_ relaysA: String, _ relaysB: String) throws {
            try """
            defaults: {role: non-exit}
            hosts:
              alpha:
                address: 127.0.0.1
                data_root: \(tmp.sub("alpha"))
                relaynode: \(Binaries.relaynode)
                relays:
            \(relaysA)
              beta:
                transport: ssh
                ssh: \(server.alias)
                ssh_config: \(server.clientConfig)
                address: 127.0.0.11
                data_root: \(tmp.sub("beta"))
                relaynode: \(Binaries.relaynode)
                relays:
            \(relaysB)
            """.write(toFile: file, atomically: true, encoding: .utf8)
        }

        func cli(_ args: [String], passphrase: String? = nil) throws -> CommandResult {
            try fleetctl(args + ["--fleet-db", dbPath, "-f", file], passphrase: passphrase, timeout: 300)
        }

        func probe(_ address: String, _ port: Int, _ fp: String) throws -> Bool {
            try Subprocess.run([Binaries.relaynode, "link-probe", "\(address):\(port)", "--expect-fingerprint", fp, "--timeout", "5"],
                               timeout: 30).status == 0
        }

        func shutdown() {
            stopRelays(under: tmp.path)
            server.stop()
        }
    }

    @Test(.timeLimit(.minutes(6)))
    func planApplyConvergeAndRecover() throws {
        let f = try Fixture()
        defer { f.shutdown() }
        let (pa1, pa2, pb1, pa1b) = (f.ports[0], f.ports[1], f.ports[2], f.ports[3])
        try f.write("      - {nickname: alpha1, orport: \(pa1)}\n      - {nickname: alpha2, orport: \(pa2), role: exit}",
                    "      - {nickname: beta1, orport: \(pb1), bandwidth_rate: 1 MB}")

        // plan changes nothing and says what apply would do.
        let plan = try f.cli(["plan", "--detailed-exitcode"])
        #expect(plan.status == 2, "\(plan.stderrText)")
        for line in ["+ host alpha: local", "+ host beta: ssh fleet-ssh-host", "+ relay alpha1 on alpha at 127.0.0.1:\(pa1), non-exit",
                     "+ relay alpha2 on alpha at 127.0.0.1:\(pa2), exit", "+ relay beta1 on beta at 127.0.0.11:\(pb1), non-exit, rate 1 MB"] {
            #expect(plan.stdoutText.contains(line), "\(line) in \(plan.stdoutText)")
        }
        let db = try FleetDatabase(path: f.dbPath)
        #expect(try db.hosts().isEmpty && db.relays().isEmpty)

        // Creating relays needs the vault: without the passphrase nothing happens.
        let locked = try f.cli(["apply"])
        #expect(locked.status == 1 && locked.stderrText.contains("passphrase"), "\(locked.stderrText)")
        #expect(try db.hosts().isEmpty)

        let applied = try f.cli(["apply"], passphrase: f.passphrase)
        #expect(applied.status == 0, "\(applied.stdoutText) \(applied.stderrText)")
        #expect(applied.stdoutText.contains("applied: 5 done, 0 failed"), "\(applied.stdoutText)")
        let relays = try db.relays()
        #expect(relays.map(\.relay.nickname) == ["alpha1", "alpha2", "beta1"])
        func fp(_ n: String) -> String { relays.first { $0.relay.nickname == n }!.identity!.rsaFingerprint }
        #expect(try f.probe("127.0.0.1", pa1, fp("alpha1")) && f.probe("127.0.0.1", pa2, fp("alpha2")) && f.probe("127.0.0.11", pb1, fp("beta1")))
        let torrcB = try String(contentsOfFile: f.tmp.sub("beta/beta1/torrc"), encoding: .utf8)
        #expect(torrcB.contains("BandwidthRate 1 MB\n") && torrcB.contains("ExitPolicy reject *:*"))
        #expect(try String(contentsOfFile: f.tmp.sub("alpha/alpha2/torrc"), encoding: .utf8).contains("ExitRelay 1\n"))

        // Converged: a second plan has nothing to do.
        let again = try f.cli(["plan", "--detailed-exitcode"])
        #expect(again.status == 0 && again.stdoutText.contains("No changes"), "\(again.stdoutText)")

        // Edits: a new port, a new rate, a stop.
        try f.write("      - {nickname: alpha1, orport: \(pa1b)}\n      - {nickname: alpha2, orport: \(pa2), role: exit, state: stopped}",
                    "      - {nickname: beta1, orport: \(pb1), bandwidth_rate: 2 MB}")
        let edits = try f.cli(["plan"])
        for line in ["~ relay alpha1 on alpha: orport 127.0.0.1:\(pa1) → 127.0.0.1:\(pa1b)", "= stop relay alpha2 on alpha",
                     "~ relay beta1 on beta: bandwidth_rate 1 MB → 2 MB"] {
            #expect(edits.stdoutText.contains(line), "\(line) in \(edits.stdoutText)")
        }
        let applied2 = try f.cli(["apply"])
        #expect(applied2.status == 0, "\(applied2.stdoutText) \(applied2.stderrText)")
        #expect(try f.probe("127.0.0.1", pa1b, fp("alpha1")))
        #expect(try !f.probe("127.0.0.1", pa1, fp("alpha1")) && !f.probe("127.0.0.1", pa2, fp("alpha2")))
        #expect(try String(contentsOfFile: f.tmp.sub("beta/beta1/torrc"), encoding: .utf8).contains("BandwidthRate 2 MB\n"))
        #expect(try db.relay(named: "alpha2").relay.desiredState == .stopped)
        #expect(try db.relay(named: "alpha1").relay.orPort == pa1b)
        #expect(try f.cli(["plan", "--detailed-exitcode"]).status == 0)

        // A host reboot, as far as relays are concerned: beta1's process is gone (SIGKILL). The
        // plan sees it on the host and apply brings it back.
        let pidText = try String(contentsOfFile: f.tmp.sub("beta/beta1/relaynode.pid"), encoding: .utf8)
        let pid = try #require(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGKILL)
        for _ in 0..<100 where isAlive(pid) { usleep(50_000) }
        let reboot = try f.cli(["plan", "--detailed-exitcode"])
        #expect(reboot.status == 2 && reboot.stdoutText.contains("> start relay beta1 on beta (not running on its host)"), "\(reboot.stdoutText)")
        #expect(try f.cli(["apply"]).status == 0)
        #expect(try f.probe("127.0.0.11", pb1, fp("beta1")))

        // Two relays join a family: each is reconfigured, then the family step gives both the
        // family's key (made now, kept in the vault) and a MyFamily naming the other.
        try f.write("      - {nickname: alpha1, orport: \(pa1b), family: main}\n      - {nickname: alpha2, orport: \(pa2), role: exit, state: stopped}",
                    "      - {nickname: beta1, orport: \(pb1), bandwidth_rate: 2 MB, family: main}")
        let joinPlan = try f.cli(["plan"])
        for line in ["~ relay alpha1 on alpha: family - → main", "~ relay beta1 on beta: family - → main", "* family main: family keys and MyFamily on every member"] {
            #expect(joinPlan.stdoutText.contains(line), "\(line) in \(joinPlan.stdoutText)")
        }
        let joinLocked = try f.cli(["apply"])
        #expect(joinLocked.status == 1 && joinLocked.stderrText.contains("passphrase"), "\(joinLocked.stderrText)")
        let joined = try f.cli(["apply"], passphrase: f.passphrase)
        #expect(joined.status == 0 && joined.stdoutText.contains("applied: 3 done, 0 failed"), "\(joined.stdoutText) \(joined.stderrText)")
        let familyId = try #require(try db.familyKeys(family: "main").first?.familyId)
        for (nick, other) in [("alpha/alpha1", "beta1"), ("beta/beta1", "alpha1")] {
            let torrc = try String(contentsOfFile: f.tmp.sub("\(nick)/torrc"), encoding: .utf8)
            #expect(torrc.contains("FamilyId \(familyId)\n") && torrc.contains("MyFamily $\(fp(other))\n"), "\(torrc)")
        }
        #expect(try f.probe("127.0.0.1", pa1b, fp("alpha1")) && f.probe("127.0.0.11", pb1, fp("beta1")))
        #expect(try f.cli(["plan", "--detailed-exitcode"]).status == 0)

        // Bad input changes nothing: two relays on one port, a relay moved to another host, an
        // unreachable host for a new relay's step.
        let before = try db.relays()
        try f.write("      - {nickname: alpha1, orport: \(pa1b)}\n      - {nickname: alpha2, orport: \(pa1b), state: stopped}",
                    "      - {nickname: beta1, orport: \(pb1), bandwidth_rate: 2 MB}")
        let clash = try f.cli(["apply"])
        #expect(clash.status == 1 && clash.stderrText.contains("both want 127.0.0.1:\(pa1b)"), "\(clash.stderrText)")
        try f.write("      - {nickname: alpha1, orport: \(pa1b)}\n      - {nickname: beta1, orport: \(pb1)}",
                    "      - {nickname: alpha2, orport: \(pa2), state: stopped}")
        let moved = try f.cli(["apply"])
        #expect(moved.status == 1 && moved.stderrText.contains("fleetctl migrate"), "\(moved.stderrText)")
        #expect(try db.relays() == before)
        #expect(try f.probe("127.0.0.1", pa1b, fp("alpha1")) && f.probe("127.0.0.11", pb1, fp("beta1")))

        // A host that is down: its steps fail and are reported, the other host's go ahead.
        try f.write("      - {nickname: alpha1, orport: \(pa1b), bandwidth_rate: 3 MB, family: main}\n      - {nickname: alpha2, orport: \(pa2), role: exit, state: stopped}",
                    "      - {nickname: beta1, orport: \(pb1), bandwidth_rate: 3 MB, family: main}")
        f.server.stop()
        let partial = try f.cli(["apply", "--no-probe"])
        #expect(partial.status == 1, "\(partial.stdoutText)")
        #expect(partial.stdoutText.contains("FAIL  ~ relay beta1") && partial.stdoutText.contains("applied: 1 done, 1 failed"), "\(partial.stdoutText)")
        #expect(try db.relay(named: "alpha1").relay.bandwidthRate == "3 MB" && db.relay(named: "beta1").relay.bandwidthRate == "2 MB")
        #expect(try f.probe("127.0.0.1", pa1b, fp("alpha1")))
    }
}
