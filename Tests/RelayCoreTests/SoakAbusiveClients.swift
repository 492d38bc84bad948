import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// The abusive clients of `scripts/privnet soak` (issue 9), built on the test client. Not a test of
/// the normal run: the suite only runs when RELAYFLEET_ABUSE names the JSON file the soak writes
/// (the relaynodes' keys and ports, the soak's servers, how long). The soak judges the relays;
/// this only abuses them and counts what it saw into the report file, rewritten every 10 s:
///
/// - flood: a client link sends 300 CREATE2 (ntor, valid node and key ids, random client keys)
///   back to back, collects the answers (CREATED2 or DESTROY with its reason), closes, repeats.
/// - slow readers: a client link builds circuits guard → exit, asks the soak's HTTP server for a
///   large blob on each, then stops reading its socket for 45 s (the relay's queue toward it must
///   stay bounded by the windows), closes, repeats.
/// - SENDME-less downloads: the same, but the client reads and never sends a SENDME; the exit
///   must stop at the stream window (500 DATA cells).
/// - window overruns: a client uploads to a server that never reads without waiting for SENDMEs;
///   the exit must destroy the circuit (PROTOCOL) once the stream window is overrun.
///
/// Each kind connects from its own 127.0.0.x source address, so the per-address limits it trips
/// are its own and not the well-behaved client's.
@Suite(.testThreads, .enabled(if: ProcessInfo.processInfo.environment["RELAYFLEET_ABUSE"] != nil), .timeLimit(.minutes(240)))
struct SoakAbusiveClients {
    struct Config: Decodable {
        struct Relay: Decodable {
            var nickname: String
            var port: Int
            var rsa_fingerprint: String
            var ed25519_identity: String
            var ntor_onion_key: String
            var exit: Bool
        }
        var seconds: Double
        var relays: [Relay]
        var http_port: Int
        var blob_path: String
        var stuck_port: Int
        var report: String
        /// Source addresses for flood, slow readers, SENDME-less downloads, overruns.
        var sources: [String]
    }

    @Test func abuse() async throws {
        let path = try #require(ProcessInfo.processInfo.environment["RELAYFLEET_ABUSE"])
        let cfg = try JSONDecoder().decode(Config.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        let infos = try cfg.relays.map { r in
            (r, RelayInfo(port: r.port, rsa: try RSAFingerprint(text: r.rsa_fingerprint),
                          ed25519: try Ed25519PublicKey(base64: r.ed25519_identity),
                          ntor: try Curve25519PublicKey(bytes: try #require([UInt8](base64Unpadded: r.ntor_onion_key)))))
        }
        let exit = try #require(infos.first { $0.0.exit }?.1, "no exit among the relays")
        let guards = infos.filter { !$0.0.exit }.map(\.1)
        try #require(!guards.isEmpty && cfg.sources.count >= 4)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let counters = AbuseCounters()
        let deadline = Date() + cfg.seconds
        let src = try cfg.sources.map { try SocketAddress(ipAddress: $0, port: 0) }
        let abuse = Abuse(cfg: cfg, group: group, counters: counters, deadline: deadline)
        await withTaskGroup(of: Void.self) { g in
            g.addTask { await abuse.flood(relays: infos.map(\.1), source: src[0]) }
            g.addTask { await abuse.slowReaders(guards: guards, exit: exit, source: src[1]) }
            g.addTask { await abuse.sendmeLess(guards: guards, exit: exit, source: src[2]) }
            g.addTask { await abuse.overrun(guards: guards, exit: exit, source: src[3]) }
            g.addTask {
                while Date() < deadline {
                    try? await Task.sleep(for: .seconds(10))
                    counters.write(to: cfg.report, final: false)
                }
            }
        }
        counters.write(to: cfg.report, final: true)
        try? await group.shutdownGracefully()
    }
}

/// What the abusive clients saw, by name; written as JSON for the soak.
final class AbuseCounters: Sendable {
    private struct State {
        var counts: [String: Int] = [:]
        var lastError: [String: String] = [:]
    }
    private let state = NIOLockedValueBox(State())

    func add(_ key: String, _ n: Int = 1) { state.withLockedValue { $0.counts[key, default: 0] += n } }
    func atLeast(_ key: String, _ v: Int) { state.withLockedValue { $0.counts[key] = max($0.counts[key] ?? 0, v) } }
    func failed(_ kind: String, _ error: any Error) {
        state.withLockedValue { s in
            s.counts["\(kind)_errors", default: 0] += 1
            s.lastError[kind] = String(describing: error)
        }
    }

    func write(to path: String, final: Bool) {
        let s = state.withLockedValue { $0 }
        let doc: [String: Any] = ["counts": s.counts, "last_error": s.lastError, "final": final]
        guard let data = try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys]) else { return }
        try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

struct Abuse: Sendable {
    let cfg: SoakAbusiveClients.Config
    let group: any EventLoopGroup
    let counters: AbuseCounters
    let deadline: Date

    /// Until the deadline: a fresh client link to the next of `relays` (in turn) from `source`,
    /// `body` on it, the link closed; a round that fails is counted under `kind`; `rest`
    /// seconds between rounds.
    private func rounds(_ kind: String, over relays: [RelayInfo], from source: SocketAddress, rest: Double,
                        _ body: (TestCircuitClient, RelayInfo) async throws -> Void) async {
        var round = 0
        while Date() < deadline {
            let relay = relays[round % relays.count]
            round += 1
            do {
                let client = try await TestCircuitClient.connect(to: relay, group: group, source: source)
                do {
                    try await body(client, relay)
                } catch {
                    await client.close()
                    throw error
                }
                await client.close()
            } catch {
                counters.failed(kind, error)
            }
            await pause(rest)
        }
    }

    private func pause(_ seconds: Double) async { try? await Task.sleep(for: .milliseconds(Int(seconds * 1000))) }

    /// CREATE2 floods: 300 at once per link, every answer counted by kind.
    func flood(relays: [RelayInfo], source: SocketAddress) async {
        await rounds("flood", over: relays, from: source, rest: 2) { client, relay in
            var ids: [UInt32] = []
            let rng = SystemRandom()
            for _ in 0..<300 {
                let id = client.allocateCircuitID()
                ids.append(id)
                var x = [UInt8](repeating: 0, count: 32)
                x.withUnsafeMutableBytes { rng.fill($0) }
                let skin = relay.rsa.bytes + relay.ntor.bytes + x
                client.channel.write(client.fixed(id, .create2, [0, 2, 0, UInt8(skin.count)] + skin), promise: nil)
            }
            client.channel.flush()
            counters.add("flood_creates", ids.count)
            let until = Date() + 30
            for id in ids {
                let cell = try await client.receive(on: id, seconds: max(0.1, until.timeIntervalSinceNow))
                switch cell.command {
                case .created2: counters.add("flood_created")
                case .destroy:
                    counters.add("flood_destroy_reason_\(cell.body.getInteger(at: cell.body.readerIndex, as: UInt8.self) ?? 0)")
                default: counters.add("flood_other_answer")
                }
            }
            counters.add("flood_rounds")
        }
    }

    /// Builds `count` circuits guard → exit on one client link, each with a stream fetching the
    /// soak's blob (BEGIN answered by CONNECTED, the GET sent).
    private func streamsFetchingBlob(_ client: TestCircuitClient, guardRelay: RelayInfo, exit: RelayInfo,
                                     count: Int) async throws -> [TestCircuit] {
        var circuits: [TestCircuit] = []
        for _ in 0..<count {
            let c = try await client.createCircuit(to: guardRelay)
            try await c.extend(to: exit)
            _ = try await c.begin(streamID: 1, target: "127.0.0.1:\(cfg.http_port)")
            try await c.send(command: RelayCommand.data.rawValue, streamID: 1,
                             data: Array("GET \(cfg.blob_path) HTTP/1.0\r\n\r\n".utf8))
            circuits.append(c)
        }
        return circuits
    }

    /// Slow readers: 6 streams of a large blob toward a link whose socket is never read for 45 s.
    func slowReaders(guards: [RelayInfo], exit: RelayInfo, source: SocketAddress) async {
        await rounds("slow_reader", over: guards, from: source, rest: 2) { client, g in
            let circuits = try await streamsFetchingBlob(client, guardRelay: g, exit: exit, count: 6)
            try await client.channel.setOption(ChannelOptions.autoRead, value: false).get()
            counters.add("slow_reader_links")
            counters.add("slow_reader_circuits", circuits.count)
            await pause(min(45, max(0, deadline.timeIntervalSinceNow)))
        }
    }

    /// SENDME-less downloads: read DATA, never acknowledge; the exit has to stop at the stream
    /// window. The most DATA cells one stream delivered is kept as `sendmeless_max_data_cells`.
    func sendmeLess(guards: [RelayInfo], exit: RelayInfo, source: SocketAddress) async {
        await rounds("sendmeless", over: guards, from: source, rest: 2) { client, g in
            let circuits = try await streamsFetchingBlob(client, guardRelay: g, exit: exit, count: 2)
            for c in circuits {
                var cells = 0
                // Until nothing more comes for 5 s: the windows are spent.
                while let m = try? await c.receive(seconds: 5) {
                    if m.command == RelayCommand.data.rawValue { cells += 1 }
                    if m.command == 0xFF || m.command == RelayCommand.end.rawValue { break }
                }
                counters.add("sendmeless_streams")
                counters.add("sendmeless_data_cells", cells)
                counters.atLeast("sendmeless_max_data_cells", cells)
            }
        }
    }

    /// Window overruns: 12,000 DATA cells (6 MB, more than the kernel buffers of both sockets
    /// hold on loopback, about 3 MB here) to a server that never reads, sent without waiting for
    /// a SENDME. Circuits the relay destroyed are counted by reason; `overrun_not_destroyed`
    /// counts circuits that took it all (a relay that buffers without bound).
    func overrun(guards: [RelayInfo], exit: RelayInfo, source: SocketAddress) async {
        let payload = [UInt8](repeating: 0x55, count: 498)
        await rounds("overrun", over: guards, from: source, rest: 3) { client, g in
            let c = try await client.createCircuit(to: g)
            try await c.extend(to: exit)
            _ = try await c.begin(streamID: 1, target: "127.0.0.1:\(cfg.stuck_port)")
            for i in 0..<12_000 {
                client.channel.write(c.relayCell(command: RelayCommand.data.rawValue, streamID: 1, data: payload), promise: nil)
                if i % 50 == 49 { client.channel.flush() }
            }
            client.channel.flush()
            counters.add("overrun_circuits")
            // The exit destroys the circuit and the DESTROY comes back (DESTROYED), or our
            // guard kills it first (RESOURCELIMIT). An END first means the server went away.
            var outcome: String?
            var ended: UInt8?
            var sendmes = 0
            let until = Date() + 60
            while outcome == nil, Date() < until {
                let m: RelayMessage
                do {
                    m = try await c.receive(seconds: max(0.1, until.timeIntervalSinceNow))
                } catch {
                    counters.failed("overrun", error)
                    break
                }
                switch m.command {
                case 0xFF: outcome = "overrun_destroy_reason_\(m.data.first ?? 0)"
                case RelayCommand.truncated.rawValue: outcome = "overrun_truncated_reason_\(m.data.first ?? 0)"
                case RelayCommand.end.rawValue: ended = m.data.first ?? 0
                case RelayCommand.sendme.rawValue: sendmes += 1
                default: break
                }
            }
            if let ended { counters.add("overrun_end_reason_\(ended)") }
            counters.add(outcome ?? "overrun_not_destroyed")
            counters.atLeast("overrun_most_sendmes", sendmes)
        }
    }
}
