import Foundation
import NIOPosix
import TestSupport
import Testing
import TorCrypto
import TorProtocol
@testable import RelayCore

/// Benchmark, not a test: it only runs with RELAYFLEET_BENCH=1 (scripts/bench-middle builds
/// the tests in release mode and runs it) and prints figures; it asserts only that the data
/// arrived intact. The middle hop of client → our guard → MIDDLE → our exit → local server is
/// a separate process, either `relaynode run` or C tor, so its CPU time can be read from /proc.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["RELAYFLEET_BENCH"] == "1"), .serialized, .timeLimit(.minutes(20)))
struct BenchMiddleRelay {
    static func cpuSeconds(_ pid: pid_t) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15 of /proc/PID/stat (11 and 12 after the name).
        return (Double(fields[11]) ?? 0) / 100 + (Double(fields[12]) ?? 0) / 100
    }

    /// Runs `circuits` parallel downloads of `bytes` each through `middle` and prints MB/s and
    /// the middle's CPU seconds per GiB.
    static func measure(_ label: String, middle: RelayInfo, middlePID: pid_t, circuits: Int, bytes: Int) async throws {
        let group = ExitTests.group
        let server = try await TestTCPServer.start(.source, group: group)
        let guardRelay = try await TestRelay.start(group: group)
        let exit = try await TestRelay.start(group: group, exitPolicy: ExitTests.localExit)
        defer { Task { await guardRelay.stop(); await exit.stop(); await server.stop() } }
        var paths = [TestCircuit]()
        for _ in 0..<circuits {
            let client = try await TestCircuitClient.connect(to: guardRelay.info, group: group)
            let circ = try await client.createCircuit(to: guardRelay.info)
            try await circ.extend(to: middle)
            try await circ.extend(to: exit.info)
            _ = try await circ.begin(streamID: 1, target: "127.0.0.1:\(server.port)")
            paths.append(circ)
        }
        let cpu0 = cpuSeconds(middlePID)
        let t0 = Date()
        try await withThrowingTaskGroup(of: Int.self) { g in
            for circ in paths {
                g.addTask {
                    try await circ.send(command: RelayCommand.data.rawValue, streamID: 1, data: Array("\(bytes)\n".utf8))
                    let got = try await circ.download(streamID: 1, expecting: bytes, seconds: 900)
                    #expect(got.count == bytes)
                    return got.count
                }
            }
            var total = 0
            for try await n in g { total += n }
            let seconds = Date().timeIntervalSince(t0)
            let cpu = cpuSeconds(middlePID) - cpu0
            let gib = Double(total) / Double(1 << 30)
            print(String(format: "BENCH %@ middle: %d circuits x %d MiB: %.1f MB/s, middle CPU %.2f s = %.2f CPU-s/GiB",
                         label, circuits, bytes >> 20, Double(total) / seconds / 1e6, cpu, cpu / gib))
        }
        for c in paths { await c.client.close() }
    }

    @Test func middleHopRelaynodeVersusCTor() async throws {
        let env = ProcessInfo.processInfo.environment
        let circuits = Int(env["BENCH_CIRCUITS"] ?? "8") ?? 8
        let mib = Int(env["BENCH_MIB"] ?? "32") ?? 32
        let loops = env["BENCH_LOOPS"] ?? "2"

        // relaynode as a separate process.
        let dir = FileManager.default.temporaryDirectory.path + "/bench-middle-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bin = env["RELAYNODE_BIN"] ?? ""
        guard !bin.isEmpty else { Issue.record("set RELAYNODE_BIN"); return }
        let gen = Process()
        gen.executableURL = URL(fileURLWithPath: bin)
        gen.arguments = ["keys", "generate", "--json", "--data-directory", dir + "/data"]
        let pipe = Pipe()
        gen.standardOutput = pipe
        try gen.run()
        gen.waitUntilExit()
        let json = try JSONSerialization.jsonObject(with: pipe.fileHandleForReading.readDataToEndOfFile()) as! [String: Any]
        let port = Int.random(in: 30000...40000)
        try "DataDirectory \(dir)/data\nORPort 127.0.0.1:\(port)\nAddress 127.0.0.1\nNumCPUs \(loops)\n"
            .write(toFile: dir + "/torrc", atomically: true, encoding: .utf8)
        let pid = try ChildProcess.spawn(bin, ["run", "--config", dir + "/torrc", "--log-level", "error"], output: dir + "/log")
        defer { kill(pid, SIGTERM); var s: Int32 = 0; waitpid(pid, &s, 0) }
        try await Task.sleep(for: .seconds(2))
        let ours = RelayInfo(port: port, rsa: try RSAFingerprint(text: json["rsa_fingerprint"] as! String),
                             ed25519: try Ed25519PublicKey(base64: json["ed25519_identity"] as! String),
                             ntor: try Curve25519PublicKey(bytes: [UInt8](base64Unpadded: json["ntor_onion_key"] as! String)!))
        try await Self.measure("relaynode(\(loops) loops)", middle: ours, middlePID: pid, circuits: circuits, bytes: mib << 20)

        let ctor = try CTorProcess.startRelay(nickname: "benchMiddle")
        defer { ctor.stop() }
        try await Self.measure("ctor", middle: try ctor.relayInfo(), middlePID: ctor.pid, circuits: circuits, bytes: mib << 20)
    }
}
