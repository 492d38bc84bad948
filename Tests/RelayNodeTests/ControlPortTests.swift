import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The ControlPort with real controllers: Debian's python3-stem (cookie, SAFECOOKIE and
/// password authentication, GETINFO/GETCONF, BW events), nyx in tmux (its bandwidth graph),
/// hostile clients; and Prometheus's promtool on the MetricsPort output.
@Suite(.testThreads, .timeLimit(.minutes(4)), .serialized)
struct ControlPortTests {
    static let password = "relayfleet-control"
    /// Debian tor 0.4.9.11: `tor --hash-password relayfleet-control`.
    static let hashed = "16:B76D033DA62D2B6660349E35FE433C9775386E072B5D767657EEC6DEE8"

    struct Node {
        let tmp = TempDirectory()
        let orport = freePort()
        let controlPort = freePort()
        let metricsPort = freePort()
        var data: String { tmp.sub("node") }
        var torrc: String { tmp.sub("relaynode.torrc") }
        var socket: String { tmp.sub("control.sock") }

        init() throws {
            try relaynode("keys", "generate", "--data-directory", tmp.sub("node"))
            try """
                DataDirectory \(tmp.sub("node"))
                Nickname controlrelay
                ORPort 127.0.0.1:\(orport)
                Address 127.0.0.1
                ControlPort 127.0.0.1:\(controlPort)
                ControlSocket \(tmp.sub("control.sock"))
                CookieAuthentication 1
                HashedControlPassword \(ControlPortTests.hashed)
                MetricsPort 127.0.0.1:\(metricsPort)
                MetricsPortPolicy accept 127.0.0.1

                """
                .write(toFile: tmp.sub("relaynode.torrc"), atomically: true, encoding: .utf8)
        }

        func start() throws -> Daemon {
            let d = try Daemon("relaynode", Programs.relaynode, ["run", "--config", torrc, "--log-level", "info"], logPath: tmp.sub("relaynode.log"))
            #expect(waitFor(20) { d.log.contains("ControlPort listening") && d.log.contains("ORPort listening") }, "\(d.log)")
            return d
        }

        var fingerprint: String {
            get throws { try jsonObject(try relaynode("keys", "show", "--json", "--data-directory", data).stdout)["rsa_fingerprint"] as! String }
        }
    }

    /// stem as the controller, in a Python script: the relay's answers as JSON.
    static let stemScript = #"""
    import json, subprocess, sys, time
    import stem, stem.connection
    from stem.control import Controller, EventType, Listener
    port, orport, password, sock, relaynode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    out = {}
    with Controller.from_port(address='127.0.0.1', port=port) as c:
        pi = c.get_protocolinfo()
        out['auth_methods'] = sorted(str(m) for m in pi.auth_methods)
        c.authenticate()                      # stem picks SAFECOOKIE, reading COOKIEFILE
        out['fingerprint'] = c.get_info('fingerprint')
        out['version'] = str(c.get_version())
        out['pid'] = c.get_pid()
        out['user'] = c.get_user()
        out['or_ports'] = sorted(c.get_ports(Listener.OR))
        out['nickname'] = c.get_conf('Nickname')
        out['exit_policy'] = str(c.get_exit_policy())
        out['effective_rate'] = c.get_effective_rate()
        out['accounting'] = c.get_info('accounting/enabled')
        out['uptime'] = int(c.get_info('uptime'))
        bw = []
        c.add_event_listener(lambda e: bw.append((e.read, e.written)), EventType.BW)
        out['read_before'] = int(c.get_info('traffic/read'))
        # Traffic the relay must count: two Tor link handshakes with its ORPort.
        for _ in range(2):
            subprocess.run([relaynode, 'link-probe', '127.0.0.1:%d' % orport], check=True, capture_output=True, timeout=30)
        deadline = time.time() + 15
        while (len(bw) < 4 or sum(r for r, w in bw) < 1500) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.2)   # traffic/read is the relay's count as of its last one-second tick
        out['bw_events'] = bw
        out['read_after'] = int(c.get_info('traffic/read'))
        out['bw_cache'] = c.get_info('bw-event-cache')
        try:
            c.get_info('no/such/key'); out['unknown_key'] = 'answered'
        except stem.InvalidArguments as e:
            out['unknown_key'] = 'refused'
    # A password, over the Unix socket.
    with Controller.from_socket_file(path=sock) as c:
        stem.connection.authenticate_password(c, password)
        out['socket_fingerprint'] = c.get_info('fingerprint')
    # A wrong password is refused.
    with Controller.from_port(address='127.0.0.1', port=port) as c:
        try:
            stem.connection.authenticate_password(c, 'wrong')
            out['wrong_password'] = 'accepted'
        except stem.connection.AuthenticationFailure:
            out['wrong_password'] = 'refused'
    print(json.dumps(out))
    """#

    @Test func stemAuthenticatesReadsAndReceivesBandwidthEvents() throws {
        let node = try Node()
        let d = try node.start()
        defer { d.stop() }
        let script = node.tmp.sub("control_check.py")  // not stem.py: that would shadow the stem package
        try Self.stemScript.write(toFile: script, atomically: true, encoding: .utf8)
        let r = try run("/usr/bin/python3", [script, "\(node.controlPort)", "\(node.orport)", Self.password, node.socket, Programs.relaynode], timeout: 90)
        #expect(r.status == 0, "\(r.stderr)\n\(d.log)")
        let o = try jsonObject(r.stdout)
        let fp = try node.fingerprint
        #expect(o["fingerprint"] as? String == fp && o["socket_fingerprint"] as? String == fp)
        #expect((o["auth_methods"] as? [String])?.map { $0.uppercased() } == ["COOKIE", "PASSWORD", "SAFECOOKIE"], "\(o)")
        #expect((o["version"] as? String)?.hasPrefix("0.4.9") == true, "\(o)")
        #expect(o["pid"] as? Int == Int(d.pid))
        #expect(o["or_ports"] as? [Int] == [node.orport])
        #expect(o["nickname"] as? String == "controlrelay")
        #expect(o["exit_policy"] as? String == "reject *:*")
        #expect(o["effective_rate"] as? Int == 1 << 30)
        #expect(o["accounting"] as? String == "0")
        let before = try #require(o["read_before"] as? Int), after = try #require(o["read_after"] as? Int)
        // In each link handshake the relay reads the client's TLS handshake and cells: over 1 KB.
        #expect(after >= before + 1500, "traffic/read \(before) → \(after)")
        let events = try #require(o["bw_events"] as? [[Int]])
        let evRead = events.reduce(0) { $0 + $1[0] }, evWritten = events.reduce(0) { $0 + $1[1] }
        #expect(events.count >= 4 && evRead >= 1500 && evWritten > 0 && evRead <= after, "\(events)")
        let cache = try #require(o["bw_cache"] as? String)
        #expect(cache.split(separator: " ").allSatisfy { $0.split(separator: ",").count == 2 } && !cache.isEmpty)
        #expect(o["unknown_key"] as? String == "refused")
        #expect(o["wrong_password"] as? String == "refused")
        // The cookie: 32 bytes, 0600, in the data directory; gone after a clean stop.
        let cookie = node.data + "/control_auth_cookie"
        #expect((try? Data(contentsOf: URL(fileURLWithPath: cookie)).count) == 32 && mode(cookie) == 0o600)
        #expect(d.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: cookie))
    }

    /// nyx, Debian's relay monitor, attached in tmux: it authenticates with the cookie, and its
    /// bandwidth graph shows the relay's traffic.
    @Test func nyxShowsTheBandwidthGraph() throws {
        guard let tmux = Programs.which("tmux"), let nyx = Programs.which("nyx") else {
            Issue.record("tmux and nyx are needed (make deps installs them)")
            return
        }
        let node = try Node()
        let d = try node.start()
        defer { d.stop() }
        let session = "rnnyx\(getpid())"
        let home = node.tmp.sub("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let start = try run(tmux, ["new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                                   "env HOME=\(home) TERM=xterm \(nyx) --interface 127.0.0.1:\(node.controlPort); sleep 30"])
        #expect(start.status == 0, "\(start.stderr)")
        defer { _ = try? run(tmux, ["kill-session", "-t", session]) }
        // Traffic for the graph: link handshakes, a few per second.
        var pane = ""
        let deadline = Date() + 40
        while Date() < deadline {
            _ = try relaynode("link-probe", "127.0.0.1:\(node.orport)", "--timeout", "5")
            pane = (try? run(tmux, ["capture-pane", "-p", "-t", session]).stdout) ?? ""
            if Self.nonZeroTotal(pane) == true { break }
            usleep(500_000)
        }
        #expect(pane.contains("controlrelay"), "header names the relay:\n\(pane)")
        #expect(pane.contains("Download") && pane.contains("Upload"), "bandwidth graph:\n\(pane)")
        #expect(Self.nonZeroTotal(pane) == true, "non-zero traffic:\n\(pane)")
    }

    /// Nyx's graph labels read "Download (24.0 B/sec - avg: 711.3 B/sec, total: 28.1 KB):";
    /// true when both totals are above zero, nil when there is no such label yet.
    static func nonZeroTotal(_ pane: String) -> Bool? {
        let totals = pane.matches(of: /(Download|Upload) \([^)]*total: ([0-9.]+) ?[KMGT]?B\)/).map { Double($0.output.2) ?? 0 }
        guard totals.count == 2 else { return nil }
        return totals.allSatisfy { $0 > 0 }
    }

    /// Garbage, oversized lines and commands before authentication are answered and cut off;
    /// the relay keeps serving links and other controllers.
    @Test func hostileControllersAreCutOff() throws {
        let node = try Node()
        let d = try node.start()
        defer { d.stop() }
        func exchange(_ bytes: [UInt8]) -> (String, closed: Bool) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(node.controlPort).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var tv = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else {
                return ("connect failed", false)
            }
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var out = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buf, buf.count, 0)
                if n == 0 { return (String(decoding: out, as: UTF8.self), true) }
                // A reset is a close too: the relay hung up with our unread bytes in its buffer.
                if n < 0 { return (String(decoding: out, as: UTF8.self), errno == ECONNRESET) }
                out += buf[0..<n]
            }
        }
        let unauth = exchange(Array("GETINFO version\r\n".utf8))
        #expect(unauth.0 == "514 Authentication required.\r\n" && unauth.closed, "\(unauth)")
        let long = exchange([UInt8](repeating: 0x41, count: 100_000))
        #expect(long.0 == "500 Line too long\r\n" && long.closed, "\(long)")
        let garbage = exchange((0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        #expect(garbage.closed && garbage.0.hasPrefix("5"), "\(garbage)")
        let badAuth = exchange(Array("AUTHENTICATE \"guess\"\r\nGETINFO version\r\n".utf8))
        #expect(badAuth.0.hasPrefix("515 ") && !badAuth.0.contains("version=") && badAuth.closed, "\(badAuth)")
        // Still serving: a link handshake and an authenticated controller.
        #expect(try relaynode("link-probe", "127.0.0.1:\(node.orport)").status == 0)
        let ok = exchange(Array("AUTHENTICATE \"\(Self.password)\"\r\nGETINFO fingerprint\r\nQUIT\r\n".utf8))
        #expect(ok.0 == "250 OK\r\n250-fingerprint=\(try node.fingerprint)\r\n250 OK\r\n250 closing connection\r\n" && ok.closed, "\(ok)")
    }

    /// Prometheus's own checker accepts the MetricsPort exposition.
    @Test func promtoolAcceptsTheMetricsPort() throws {
        guard let promtool = Programs.which("promtool") else {
            Issue.record("promtool is needed (make deps installs Debian's prometheus)")
            return
        }
        let node = try Node()
        let d = try node.start()
        defer { d.stop() }
        _ = try relaynode("link-probe", "127.0.0.1:\(node.orport)")
        let response = try #require(httpGet(port: node.metricsPort, path: "/metrics"))
        let text = response.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        #expect(text.contains("tor_relay_traffic_bytes"))
        let file = node.tmp.sub("metrics.txt")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try run("/bin/sh", ["-c", "\"$0\" check metrics < \"$1\"", promtool, file])
        // Exit 1 is a parse error; 3 means lint findings. The only findings allowed are the two
        // names relaynode keeps from C tor's MetricsPort so dashboards work unchanged: C tor
        // exposes tor_relay_circuits_total as a gauge and tor_relay_traffic_bytes as a counter.
        let findings = Set((r.stdout + r.stderr).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        #expect(r.status == 0 || r.status == 3, "promtool: \(r.stdout) \(r.stderr)")
        #expect(findings.isSubset(of: ["tor_relay_circuits_total non-counter metrics should not have \"_total\" suffix",
                                       "tor_relay_traffic_bytes counter metrics should have \"_total\" suffix"]), "\(findings)")
    }
}

/// Operator options with a running relay: `Log` into a file (0600) with a severity range,
/// `HeartbeatPeriod` (and the control port's SIGNAL HEARTBEAT), and the advertised bandwidth
/// (`MaxAdvertisedBandwidth`, `RelayBandwidthRate`) in the descriptor.
@Suite(.testThreads, .timeLimit(.minutes(3)), .serialized)
struct OperatorOptionsTests {
    @Test func logFileHeartbeatAndAdvertisedBandwidth() throws {
        let tmp = TempDirectory()
        try relaynode("keys", "generate", "--data-directory", tmp.sub("node"))
        let orport = freePort()
        try """
            DataDirectory \(tmp.sub("node"))
            Nickname optsrelay
            ORPort 127.0.0.1:\(orport)
            Address 127.0.0.1
            TestingTorNetwork 1
            HeartbeatPeriod 1 second
            Log notice-warn file \(tmp.sub("notice.log"))
            Log err stderr
            BandwidthRate 10 MBytes
            BandwidthBurst 20 MBytes
            RelayBandwidthRate 4 MBytes
            MaxAdvertisedBandwidth 2 MBytes

            """.write(toFile: tmp.sub("torrc"), atomically: true, encoding: .utf8)
        let d = try Daemon("relaynode", Programs.relaynode, ["run", "--config", tmp.sub("torrc")], logPath: tmp.sub("stderr.log"))
        defer { d.stop() }
        let file = tmp.sub("notice.log")
        func log() -> String { (try? String(contentsOfFile: file, encoding: .utf8)) ?? "" }
        #expect(waitFor(20) { log().contains("ORPort listening") && log().contains("Heartbeat: relaynode has been up for 0 days") }, "\(log())")
        #expect(mode(file) == 0o600)
        // The range: notice to warn in the file, nothing below notice, and stderr only errors.
        #expect(!log().contains(" info ") && !log().contains(" debug "))
        #expect(!d.log.contains("ORPort listening"), "stderr carries only err: \(d.log)")
        #expect(log().contains("bandwidth limited") && log().contains("rate=4194304"), "RelayBandwidthRate lowers the bucket: \(log())")
        let desc = try relaynode("descriptor", "show", "--config", tmp.sub("torrc"))
        #expect(desc.stdout.contains("\nbandwidth 2097152 20971520 "), "advertised: \(desc.stdout.prefix(600))")
    }

    /// SIGHUP reads the torrc again: runtime options change (seen through the control port's
    /// GETCONF and GETINFO exit-policy/full), restart-only ones are named, and a broken file
    /// changes nothing.
    @Test func sighupReloadsTheConfiguration() throws {
        let tmp = TempDirectory()
        try relaynode("keys", "generate", "--data-directory", tmp.sub("node"))
        let orport = freePort(), control = freePort()
        func write(_ extra: String, orport port: Int) throws {
            try """
                DataDirectory \(tmp.sub("node"))
                ORPort 127.0.0.1:\(port)
                Address 127.0.0.1
                ControlPort \(control)
                HashedControlPassword \(ControlPortTests.hashed)
                BandwidthRate 10 MBytes

                """.appending(extra).write(toFile: tmp.sub("torrc"), atomically: true, encoding: .utf8)
        }
        try write("Nickname before\nContactInfo first <a@example.invalid>\n", orport: orport)
        let d = try Daemon("relaynode", Programs.relaynode, ["run", "--config", tmp.sub("torrc")], logPath: tmp.sub("relaynode.log"))
        defer { d.stop() }
        #expect(waitFor(20) { d.log.contains("ControlPort listening") }, "\(d.log)")
        func ask(_ command: String) throws -> String { try controlExchange(port: control, command) }
        #expect(try ask("GETCONF Nickname ContactInfo BandwidthRate").contains("250-Nickname=before\r\n250-ContactInfo=first <a@example.invalid>\r\n250 BandwidthRate=10485760"))
        #expect(try ask("GETINFO exit-policy/full").contains("reject *:*"))

        try write("Nickname after\nContactInfo second <b@example.invalid>\nExitRelay 1\nExitPolicy accept *:443\nExitPolicy reject *:*\nBandwidthRate 2 MBytes\n",
                  orport: freePort())
        kill(d.pid, SIGHUP)
        #expect(waitFor(10) { d.log.contains("SIGHUP: configuration reloaded") }, "\(d.log)")
        #expect(d.log.contains("changed=Nickname, ContactInfo, ExitRelay, ExitPolicy, BandwidthRate"), "\(d.log)")
        #expect(d.log.contains("options=ORPort") && d.log.contains("take effect only after a restart"), "\(d.log)")
        let conf = try ask("GETCONF Nickname ContactInfo BandwidthRate ORPort")
        #expect(conf.contains("250-Nickname=after\r\n250-ContactInfo=second <b@example.invalid>\r\n250-BandwidthRate=2097152\r\n250 ORPort=127.0.0.1:\(orport)"), "\(conf)")
        let policy = try ask("GETINFO exit-policy/full")
        #expect(policy.contains("accept *:443") && policy.contains("reject *:*"), "\(policy)")
        #expect(try relaynode("link-probe", "127.0.0.1:\(orport)").status == 0, "still on its first ORPort")

        // A broken file: the error names the line; nothing changes.
        try write("Nickname broken\nBogusOption 1\n", orport: orport)
        kill(d.pid, SIGHUP)
        #expect(waitFor(10) { d.log.contains("keeping the running configuration") }, "\(d.log)")
        #expect(d.log.contains("torrc:8: option 'BogusOption' is not supported"), "\(d.log)")
        #expect(try ask("GETCONF Nickname").contains("250 Nickname=after"))
    }
}


/// AccountingMax with a real relay: link handshakes spend a small budget; the relay hibernates
/// (GETINFO accounting/hibernating says so, new links are refused), and after a restart in the
/// same interval it is still hibernating, its counts read back from the node database.
@Suite(.testThreads, .timeLimit(.minutes(3)), .serialized)
struct AccountingHibernationTests {
    @Test func aSpentBudgetHibernatesAndSurvivesRestart() throws {
        let tmp = TempDirectory()
        try relaynode("keys", "generate", "--data-directory", tmp.sub("node"))
        let orport = freePort(), control = freePort()
        try """
            DataDirectory \(tmp.sub("node"))
            ORPort 127.0.0.1:\(orport)
            Address 127.0.0.1
            TestingTorNetwork 1
            ControlPort \(control)
            HashedControlPassword \(ControlPortTests.hashed)
            AccountingMax 40 KBytes
            AccountingStart day 00:00
            AccountingRule sum

            """.write(toFile: tmp.sub("torrc"), atomically: true, encoding: .utf8)
        func ask(_ command: String) throws -> String { try controlExchange(port: control, command) }
        var d = try Daemon("relaynode", Programs.relaynode, ["run", "--config", tmp.sub("torrc")], logPath: tmp.sub("run1.log"))
        #expect(waitFor(20) { d.log.contains("ControlPort listening") }, "\(d.log)")
        #expect(try ask("GETINFO accounting/enabled accounting/hibernating").contains("250-accounting/enabled=1\r\n250-accounting/hibernating=awake"))
        #expect(try ask("GETINFO accounting/interval-end").contains("accounting/interval-end=20"))
        // Spend the budget: each handshake moves a few KB.
        var probes = 0
        while probes < 60, try relaynode("link-probe", "127.0.0.1:\(orport)", "--timeout", "5").status == 0 {
            probes += 1
            if d.log.contains("hibernating (hard)") { break }
        }
        #expect(waitFor(10) { d.log.contains("accounting: hibernating (hard)") }, "\(d.log)")
        let state = try ask("GETINFO accounting/hibernating accounting/bytes")
        #expect(state.contains("accounting/hibernating=hard"), "\(state)")
        #expect(try relaynode("link-probe", "127.0.0.1:\(orport)", "--timeout", "5").status != 0, "no new links while hibernating")
        #expect(d.stop() == 0)

        // Same interval after a restart: still hard, from the database.
        d = try Daemon("relaynode", Programs.relaynode, ["run", "--config", tmp.sub("torrc")], logPath: tmp.sub("run2.log"))
        defer { d.stop() }
        #expect(waitFor(20) { d.log.contains("accounting: hibernating (hard)") && d.log.contains("at start") }, "\(d.log)")
        #expect(try relaynode("link-probe", "127.0.0.1:\(orport)", "--timeout", "5").status != 0)
        let health = try relaynode("health", "--config", tmp.sub("torrc"), "--json", "--events", "20")
        #expect(health.stdout.contains("\"kind\" : \"hibernation\""), "\(health.stdout.prefix(800))")
    }
}

/// One control connection: authenticates with ControlPortTests.password, sends `command`, QUIT,
/// and returns everything the relay answered.
func controlExchange(port: Int, _ command: String) throws -> String {
    try run("/usr/bin/python3", ["-c", """
        import socket, sys
        s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
        s.sendall(('AUTHENTICATE "%s"\\r\\n%s\\r\\nQUIT\\r\\n' % (sys.argv[2], sys.argv[3])).encode())
        out = b''
        while True:
            b = s.recv(4096)
            if not b: break
            out += b
        sys.stdout.write(out.decode())
        """, "\(port)", ControlPortTests.password, command]).stdout
}

/// `%include` in a torrc: files and directories spliced in order; errors name the file and
/// line where they are, or the %include line that names a missing file; loops are refused.
@Suite(.testThreads) struct TorrcIncludeTests {
    @Test func includesSpliceFilesAndDirectories() throws {
        let tmp = TempDirectory()
        try FileManager.default.createDirectory(atPath: tmp.sub("torrc.d"), withIntermediateDirectories: true)
        try "Nickname fromdir\n".write(toFile: tmp.sub("torrc.d/10-name"), atomically: true, encoding: .utf8)
        try "ContactInfo ops <ops@example.invalid>\n".write(toFile: tmp.sub("torrc.d/20-contact"), atomically: true, encoding: .utf8)
        try "Nickname ignored\n".write(toFile: tmp.sub("torrc.d/.hidden"), atomically: true, encoding: .utf8)
        try "ExitPolicy reject *:*\n".write(toFile: tmp.sub("policy"), atomically: true, encoding: .utf8)
        try "DataDirectory \(tmp.sub("d"))\nORPort 127.0.0.1:9001\n%include \(tmp.sub("torrc.d"))\n%include policy\n"
            .write(toFile: tmp.sub("torrc"), atomically: true, encoding: .utf8)
        let ok = try relaynode("verify-config", "--config", tmp.sub("torrc"))
        #expect(ok.status == 0, "\(ok.stderr)")

        try "Nickname fromdir\nBogus 1\n".write(toFile: tmp.sub("torrc.d/10-name"), atomically: true, encoding: .utf8)
        let bad = try relaynode("verify-config", "--config", tmp.sub("torrc"))
        #expect(bad.status != 0 && bad.stderr.contains("torrc.d/10-name:2: option 'Bogus' is not supported"), "\(bad.stderr)")

        try "Nickname fromdir\n".write(toFile: tmp.sub("torrc.d/10-name"), atomically: true, encoding: .utf8)
        try "%include missing.conf\n".write(toFile: tmp.sub("policy"), atomically: true, encoding: .utf8)
        let missing = try relaynode("verify-config", "--config", tmp.sub("torrc"))
        #expect(missing.status != 0 && missing.stderr.contains("policy:1: %include"), "\(missing.stderr)")

        try "%include \(tmp.sub("policy"))\n".write(toFile: tmp.sub("policy"), atomically: true, encoding: .utf8)
        let loop = try relaynode("verify-config", "--config", tmp.sub("torrc"))
        #expect(loop.status != 0 && loop.stderr.contains("nests deeper than 31 levels"), "\(loop.stderr)")
    }
}
