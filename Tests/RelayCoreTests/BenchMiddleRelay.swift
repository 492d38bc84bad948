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
@Suite(.testThreads, .enabled(if: ProcessInfo.processInfo.environment["RELAYFLEET_BENCH"] == "1"), .serialized, .timeLimit(.minutes(20)))
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
        let bin = env["RELAYNODE_BIN"] ?? ""
        guard !bin.isEmpty else { Issue.record("set RELAYNODE_BIN"); return }
        let node = try BenchBench.startRelaynode(bin, loops: Int(loops) ?? 2)
        defer { node.stop() }
        let ours = node.info, pid = node.pid
        try await Self.measure("relaynode(\(loops) loops)", middle: ours, middlePID: pid, circuits: circuits, bytes: mib << 20)

        let ctor = try await CTorProcess.startRelay(nickname: "benchMiddle")
        defer { ctor.stop() }
        try await Self.measure("ctor", middle: try ctor.relayInfo(), middlePID: ctor.pid, circuits: circuits, bytes: mib << 20)
    }
}
