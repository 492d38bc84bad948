import Foundation
import NIOCore
import TestSupport
import Testing
import TorCrypto
import TorProtocol
@testable import RelayCore

/// Benchmark, not a test: only with RELAYFLEET_BENCH=1 (scripts/bench-handshakes). Circuit
/// handshakes (CREATE2 with ntor) answered per second by a relay in its own process —
/// relaynode with 1 and with 2 event loops (and as many handshake workers), then C tor — under
/// the same load: `BENCH_LINKS` authenticated links (relay links, so no per-address CREATE
/// limit applies), each keeping `BENCH_WINDOW` CREATE2 cells outstanding until
/// `BENCH_CREATES` circuits in all are answered. The client's onionskins are made before the
/// clock starts; the relay's CPU seconds come from /proc. Asserts only that every CREATE2 got
/// CREATED2 or a DESTROY (counted).
@Suite(.testThreads, .enabled(if: ProcessInfo.processInfo.environment["RELAYFLEET_BENCH"] == "1"), .serialized, .timeLimit(.minutes(20)))
struct BenchCircuitHandshakes {
    static func measure(_ label: String, relay: RelayInfo, pid: pid_t, links: Int, window: Int, creates: Int) async throws {
        let group = ExitTests.group
        var clients: [TestCircuitClient] = []
        for _ in 0..<links { clients.append(try await TestCircuitClient.connect(to: relay, group: group, authenticate: true)) }
        // Onionskins made ahead: the clock measures the relay, not our X25519.
        var rng = SystemRandom()
        let perLink = creates / links
        var cells: [[Cell]] = []
        for c in clients {
            var mine: [Cell] = []
            for _ in 0..<perLink {
                let (_, skin) = NtorHandshake.clientCreate(identity: relay.rsa, onionKey: relay.ntor, using: &rng)
                let htype = NtorHandshake.handshakeType
                let body = [UInt8(htype >> 8), UInt8(htype & 0xff), UInt8(skin.count >> 8), UInt8(skin.count & 0xff)] + skin
                mine.append(c.fixed(c.allocateCircuitID(), .create2, body))
            }
            cells.append(mine)
        }
        let cpu0 = BenchMiddleRelay.cpuSeconds(pid)
        let t0 = Date()
        let all = clients
        let results = try await withThrowingTaskGroup(of: (Int, Int).self) { g in
            for (i, c) in all.enumerated() {
                let mine = cells[i]
                g.addTask {
                    var created = 0, refused = 0, next = 0, answered = 0
                    var outstanding: [UInt32] = []
                    while answered < mine.count {
                        while outstanding.count < window && next < mine.count {
                            let cell = mine[next]
                            next += 1
                            outstanding.append(cell.circuitID)
                            c.channel.write(cell, promise: nil)
                        }
                        c.channel.flush()
                        let reply = try await c.receive(on: outstanding.removeFirst(), seconds: 120)
                        if reply.command == .created2 { created += 1 } else { refused += 1 }
                        answered += 1
                    }
                    return (created, refused)
                }
            }
            var total = (0, 0)
            for try await r in g { total.0 += r.0; total.1 += r.1 }
            return total
        }
        let seconds = Date().timeIntervalSince(t0)
        let cpu = BenchBench.cpu(pid) - cpu0
        for c in clients { await c.close() }
        #expect(results.0 + results.1 == perLink * links)
        print(String(format: "BENCH %@: %d ntor CREATE2 over %d links (window %d): %.0f handshakes/s, %d refused, relay CPU %.2f s = %.3f ms per handshake",
                     label, perLink * links, links, window, Double(results.0) / seconds, results.1, cpu, cpu * 1000 / Double(max(1, results.0))))
    }

    @Test func ntorHandshakesRelaynodeVersusCTor() async throws {
        let env = ProcessInfo.processInfo.environment
        let links = Int(env["BENCH_LINKS"] ?? "4") ?? 4
        let window = Int(env["BENCH_WINDOW"] ?? "32") ?? 32
        let creates = Int(env["BENCH_CREATES"] ?? "8000") ?? 8000
        let bin = env["RELAYNODE_BIN"] ?? ""
        guard !bin.isEmpty else { Issue.record("set RELAYNODE_BIN"); return }
        for loops in [1, 2] {
            let node = try BenchBench.startRelaynode(bin, loops: loops)
            defer { node.stop() }
            try await Self.measure("relaynode (\(loops) loop\(loops == 1 ? "" : "s"))", relay: node.info, pid: node.pid,
                                   links: links, window: window, creates: creates)
        }
        let ctor = try await CTorProcess.startRelay(nickname: "benchCreate", extraTorrc: "NumCPUs 2\n")
        defer { ctor.stop() }
        try await Self.measure("ctor (NumCPUs 2)", relay: try ctor.relayInfo(), pid: ctor.pid, links: links, window: window, creates: creates)
    }
}

/// A relaynode process for the benchmarks: fresh keys, ORPort on 127.0.0.1, `NumCPUs loops`.
enum BenchBench {
    static func cpu(_ pid: pid_t) -> Double { BenchMiddleRelay.cpuSeconds(pid) }

    final class Node {
        let dir: String
        let pid: pid_t
        let info: RelayInfo
        init(dir: String, pid: pid_t, info: RelayInfo) { self.dir = dir; self.pid = pid; self.info = info }
        func stop() {
            kill(pid, SIGTERM)
            var s: Int32 = 0
            waitpid(pid, &s, 0)
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    static func startRelaynode(_ bin: String, loops: Int) throws -> Node {
        let dir = FileManager.default.temporaryDirectory.path + "/bench-relay-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let gen = Process()
        gen.executableURL = URL(fileURLWithPath: bin)
        gen.arguments = ["keys", "generate", "--json", "--data-directory", dir + "/data"]
        let pipe = Pipe()
        gen.standardOutput = pipe
        try gen.run()
        gen.waitUntilExit()
        let json = try JSONSerialization.jsonObject(with: pipe.fileHandleForReading.readDataToEndOfFile()) as! [String: Any]
        let port = freeLoopbackPort()
        try "DataDirectory \(dir)/data\nORPort 127.0.0.1:\(port)\nAddress 127.0.0.1\nNumCPUs \(loops)\n"
            .write(toFile: dir + "/torrc", atomically: true, encoding: .utf8)
        let pid = try ChildProcess.spawn(bin, ["run", "--config", dir + "/torrc", "--log-level", "error"], output: dir + "/log")
        let deadline = Date() + 30
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            close(fd)
            if rc == 0 { break }
            usleep(50_000)
        }
        let info = RelayInfo(port: port, rsa: try RSAFingerprint(text: json["rsa_fingerprint"] as! String),
                             ed25519: try Ed25519PublicKey(base64: json["ed25519_identity"] as! String),
                             ntor: try Curve25519PublicKey(bytes: [UInt8](base64Unpadded: json["ntor_onion_key"] as! String)!))
        return Node(dir: dir, pid: pid, info: info)
    }
}
