import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Bandwidth history and health written by `relaynode run` and read back by `stats` and
/// `health` while it runs, after SIGTERM, and after `kill -9`.
@Suite(.testThreads, .timeLimit(.minutes(3)), .serialized)
struct StatsHealthTests {
    /// A relay identity and a config with an ORPort on loopback.
    struct Node {
        let tmp = TempDirectory()
        let orport = freePort()
        let metricsPort = freePort()
        var data: String { tmp.sub("node") }
        var torrc: String { tmp.sub("relaynode.torrc") }

        init() throws {
            try relaynode("keys", "generate", "--data-directory", tmp.sub("node"))
            try """
                DataDirectory \(tmp.sub("node"))
                Nickname statsrelay
                ORPort 127.0.0.1:\(orport)
                Address 127.0.0.1
                MetricsPort 127.0.0.1:\(metricsPort)
                MetricsPortPolicy accept 127.0.0.1

                """
                .write(toFile: tmp.sub("relaynode.torrc"), atomically: true, encoding: .utf8)
        }

        /// `run` with short intervals: samples every 0.2 s, flushes every `flush` s.
        func start(flush: Double = 0.5, log: String = "relaynode.log") throws -> Daemon {
            let d = try Daemon("relaynode", Programs.relaynode,
                               ["run", "--config", torrc, "--bandwidth-sample-interval", "0.2",
                                "--bandwidth-flush-interval", "\(flush)", "--health-sample-interval", "0.5"],
                               logPath: tmp.sub(log))
            #expect(waitFor(20) { d.log.contains("ORPort listening") }, "\(d.log)")
            return d
        }

        func probe() throws {
            let r = try relaynode("link-probe", "127.0.0.1:\(orport)")
            #expect(r.status == 0, "\(r.stderr)")
        }

        /// Total bytes read and written in the database, per `stats --json`.
        func stored() throws -> (read: Int, written: Int) {
            let r = try relaynode("stats", "--data-directory", data, "--since", "2d", "--until", "now", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            let total = try #require(try jsonObject(r.stdout)["total"] as? [String: Any])
            return (total["read"] as? Int ?? -1, total["written"] as? Int ?? -1)
        }

        /// Waits until the stored totals stop changing across several flushes (the relay is
        /// idle and everything it counted is on disk), then returns them.
        func storedWhenSettled(flush: Double = 0.5) throws -> (read: Int, written: Int) {
            var last = try stored()
            var same = 0
            let deadline = Date() + 30
            while same < 3 && Date() < deadline {
                usleep(useconds_t(flush * 1_000_000))
                let now = try stored()
                same = now == last ? same + 1 : 0
                last = now
            }
            return last
        }
    }

    @Test func historySurvivesKill9AndARestartContinuesIt() throws {
        let node = try Node()
        let relay = try node.start()
        for _ in 0..<3 { try node.probe() }
        // Each probe is a full TLS link handshake: the relay wrote its CERTS cell (two RSA
        // certificates, a few KB) three times.
        let flushed = try node.storedWhenSettled()
        #expect(flushed.read > 3 * 500 && flushed.written > 3 * 2000, "\(flushed)")

        // kill -9 loses nothing that was flushed, and the database opens clean.
        kill(relay.pid, SIGKILL)
        relay.stop()
        #expect(try node.stored() == flushed)

        // A restart adds to the same history and notices the unclean end.
        let again = try node.start(log: "relaynode2.log")
        try node.probe()
        let health = try relaynode("health", "--config", node.torrc, "--probe", "--json")
        #expect(health.status == 0, "\(health.stdout) \(health.stderr)")
        let report = try jsonObject(health.stdout)
        #expect(report["healthy"] as? Bool == true)
        let kinds = (report["events"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(Array(kinds.prefix(2)) == ["start", "crash_recovered"], "\(kinds)")
        #expect((report["probe"] as? [String: Any])?["ok"] as? Bool == true)
        #expect(again.stop() == 0, "\(again.log)")
        let after = try node.stored()
        #expect(after.read > flushed.read && after.written > flushed.written, "\(after) after \(flushed)")
    }

    @Test func killDuringHeavyTrafficLeavesAReadableDatabase() throws {
        let node = try Node()
        let relay = try node.start(flush: 0.2)
        // Probes in flight while the recorder flushes every 0.2 s; then kill -9 mid-stream.
        let probes = (0..<4).map { _ in
            try? Daemon("probe", Programs.relaynode, ["link-probe", "127.0.0.1:\(node.orport)", "--hold", "0"],
                        logPath: node.tmp.sub("probe-\(UUID().uuidString).log"))
        }
        #expect(waitFor(20) { (try? node.stored().read) ?? 0 > 0 })
        kill(relay.pid, SIGKILL)
        relay.stop()
        for p in probes { p?.stop() }
        let check = try run("/usr/bin/env", ["sqlite3", node.data + "/relay.sqlite3", "PRAGMA integrity_check"])
        if check.status == 0 { #expect(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok") }
        #expect(try node.stored().read > 0)
        let health = try relaynode("health", "--data-directory", node.data)
        #expect(health.status == 1, "no ORPort to probe and the process is gone: unhealthy")
        #expect(health.stdout.contains("not running"), "\(health.stdout)")
        #expect(health.stderr.split(separator: "\n").count == 1, "\(health.stderr)")
    }

    /// One daemon per data directory: a second `run` stops with a clear error while the first
    /// runs; after the first is killed with SIGKILL a new one starts (no stale lock).
    @Test func oneDaemonPerDataDirectory() throws {
        let node = try Node()
        let first = try node.start()
        let second = try relaynode("run", "--config", node.torrc)
        #expect(second.status != 0 && second.stderr.contains("another relaynode (pid \(first.pid)) is running with the data directory"),
                "\(second.stderr)")
        kill(first.pid, SIGKILL)
        #expect(first.stop() == nil)
        let third = try node.start(log: "relaynode-third.log")
        defer { third.stop() }
        try node.probe()
    }

    @Test func healthFollowsTheDaemon() throws {
        let node = try Node()
        let before = try relaynode("health", "--config", node.torrc)
        #expect(before.status == 1)
        #expect(before.stdout.contains("never started"), "\(before.stdout)")
        #expect(before.stderr.contains("unhealthy: no Tor link to the ORPort 127.0.0.1:\(node.orport): Connection refused"), "\(before.stderr)")

        let relay = try node.start()
        #expect(waitFor(10) { (try? relaynode("health", "--config", node.torrc).status) == 0 })
        let running = try relaynode("health", "--config", node.torrc, "--probe")
        #expect(running.status == 0, "\(running.stdout) \(running.stderr)")
        #expect(running.stdout.contains("running (pid \(relay.pid))"), "\(running.stdout)")
        #expect(running.stdout.contains("ok, link version 5"), "\(running.stdout)")
        #expect(waitFor(10) { (try? relaynode("health", "--config", node.torrc, "--json").stdout).map {
            (try? jsonObject($0)["sample"]) != nil } ?? false }, "no health sample recorded")
        // The MetricsPort of the running daemon, over HTTP.
        let scrape = try #require(httpGet(port: node.metricsPort, path: "/metrics"))
        #expect(scrape.hasPrefix("HTTP/1.1 200 OK"), "\(scrape)")
        #expect(scrape.contains("tor_relay_traffic_bytes{direction=\"read\"} "), "\(scrape)")
        #expect(scrape.contains("tor_relay_signing_cert_expiry_timestamp "), "\(scrape)")
        #expect(relay.stop() == 0)

        let after = try relaynode("health", "--config", node.torrc, "--json")
        #expect(after.status == 1)
        let report = try jsonObject(after.stdout)
        #expect(report["running"] as? Bool == false)
        #expect((report["events"] as? [[String: Any]])?.first?["kind"] as? String == "stop")
    }

    @Test func badFlagsAndDatabasesGiveOneClearLine() throws {
        let node = try Node()
        for (args, needle) in [
            (["stats", "--data-directory", node.data, "--bin", "2h"], "--bin must be 15m, 1h or 1d"),
            (["stats", "--data-directory", node.data, "--since", "yesterday"], "--since must be ISO 8601"),
            (["stats", "--data-directory", node.data, "--since", "1h", "--until", "2h"], "must be before --until"),
            (["stats", "--data-directory", node.tmp.sub("nowhere")], "no relay database"),
            (["health", "--data-directory", node.tmp.sub("nowhere")], "no relay database"),
        ] {
            let r = try run(Programs.relaynode, args)
            #expect(r.status == 1, "\(args)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        let corrupt = node.tmp.sub("corrupt")
        try FileManager.default.createDirectory(atPath: corrupt, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        FileManager.default.createFile(atPath: corrupt + "/relay.sqlite3", contents: Data(repeating: 0x41, count: 8192),
                                       attributes: [.posixPermissions: 0o600])
        for command in ["stats", "health"] {
            let r = try run(Programs.relaynode, [command, "--data-directory", corrupt])
            #expect(r.status == 1)
            #expect(r.stderr.contains("not a readable relaynode database"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
    }
}

/// One HTTP/1.1 GET to 127.0.0.1 over a plain socket; the whole answer (the server closes).
func httpGet(port: Int, path: String) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else { return nil }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
    guard send(fd, request, request.count, 0) == request.count else { return nil }
    var out = [UInt8](), buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}
