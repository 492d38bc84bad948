import Foundation
import NIOPosix
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// With real tor: a CTor relay as the next hop of our EXTEND2 accepts our authenticated link,
/// and the circuit works end to end.
///
/// Path: test client → our relay (TestRelay, ntor) → CTor 0.4.9 relay (EXTEND2 with ntor or
/// ntor v3). The end-to-end proof is a directory request answered by CTor itself over
/// RELAY_BEGIN_DIR on hop 1: every relay cell crosses our relay in both directions (tor1 crypto
/// at both hops, our relay's switching between its two links), and CTor must have accepted
/// the CREATE2 our relay forwarded.
///
/// The document: `GET /tor/server/authority` is CTor's "your own descriptor" URL
/// (dircache.c `handle_get_descriptor` → dirserv.c `dirserv_get_routerdesc_spool`, key
/// "authority" → `router_get_my_routerinfo()`), served by any relay with DirCache 1 (the
/// default) without it being in a consensus or having published anything
/// (PublishServerDescriptor 0): the descriptor only has to have been built, which tor does
/// about a second after start (CTorProcess waits for that). Uncompressed (no
/// Accept-Encoding), one descriptor is ~2–3 KB, i.e. well under 10 RELAY_DATA cells, so no
/// SENDME is owed in either direction (stream window 500/50, circuit window 1000/100).
@Suite(.testThreads, .timeLimit(.minutes(2)), .serialized)
struct CTorNextHopTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    /// Relay commands (tor-spec relay-cells).
    enum Cmd {
        static let begin: UInt8 = 1, data: UInt8 = 2, end: UInt8 = 3, connected: UInt8 = 4
        static let beginDir: UInt8 = 13
    }

    @Test(arguments: [TestCircuitClient.Handshake.ntor, .ntorV3])
    func ctorAsNextHopCarriesABeginDirStream(handshake: TestCircuitClient.Handshake) async throws {
        let nickname = handshake == .ntor ? "ctorNextHopNtor" : "ctorNextHopNtorV3"
        let ctor = try await CTorProcess.startRelay(nickname: nickname)
        defer { ctor.cleanUp() }
        /// Records CTor's warnings and the tail of its info log next to a failure.
        func ctorLog() -> String {
            let info = ctor.infoLog()
            let notable = info.split(separator: "\n").filter { $0.contains("[warn]") || $0.contains("[err]") || $0.contains("rotocol") }
            return "CTor warnings:\n\(notable.suffix(20).joined(separator: "\n"))\nCTor info log tail:\n\(info.suffix(4000))"
        }
        func step<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
            do { return try await body() } catch {
                Issue.record("\(what) failed: \(error)\n\(ctorLog())")
                throw error
            }
        }

        // 2. CTor's identities and ntor key, from its DataDirectory.
        let next = try ctor.relayInfo()
        #expect(next.port == ctor.orPort && next.port > 0)

        // 3. One of our relays, a client link to it, a circuit, and EXTEND2 to CTor.
        let ours = try await TestRelay.start(group: Self.group)
        let client = try await TestCircuitClient.connect(to: ours.info, group: Self.group)
        let circ = try await step("CREATE2 (ntor) to our relay") { try await client.createCircuit(to: ours.info) }
        try await step("EXTEND2 (\(handshake)) through our relay to CTor") { try await circ.extend(to: next, handshake: handshake) }
        #expect(circ.hops.count == 2)
        #expect(ours.env.registry.link(to: next.rsa) != nil, "our relay holds no link to the CTor relay")

        // BEGIN_DIR to hop 1 (CTor) on a fresh stream; CTor answers CONNECTED with no body.
        let stream: UInt16 = 0x2a17
        try await circ.send(command: Cmd.beginDir, streamID: stream, data: [], hop: 1)
        let connected = try await step("waiting for RELAY_CONNECTED") { try await circ.receive() }
        #expect(connected == RelayMessage(hop: 1, command: Cmd.connected, streamID: stream, data: []),
                "BEGIN_DIR answered with \(connected)\n\(ctorLog())")
        guard connected.command == Cmd.connected else { return }

        // The HTTP request in RELAY_DATA (fits one cell), then RELAY_DATA until RELAY_END.
        try await circ.send(command: Cmd.data, streamID: stream, data: Array("GET /tor/server/authority HTTP/1.0\r\n\r\n".utf8), hop: 1)
        var response = [UInt8]()
        var dataCells = 0
        var end: RelayMessage?
        while end == nil {
            let m = try await step("reading the directory response (\(dataCells) RELAY_DATA so far)") { try await circ.receive() }
            #expect(m.hop == 1 && m.streamID == stream, "unexpected \(m)")
            switch m.command {
            case Cmd.data: response += m.data; dataCells += 1
            case Cmd.end: end = m
            default:
                Issue.record("unexpected relay message \(m) while reading the response\n\(ctorLog())")
                return
            }
            // A descriptor is a few cells; far from the 50-cell stream / 100-cell circuit
            // SENDME points, so we owe CTor no SENDME (and would be wrong to send one).
            try #require(dataCells < 50, "response unexpectedly large; this test sends no SENDMEs")
        }
        #expect(end?.data.first == 6, "RELAY_END reason \(end?.data ?? []) (expected 6 = DONE)")

        let text = String(decoding: response, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.0 200"), "response:\n\(text.prefix(600))\n\(ctorLog())")
        #expect(text.contains("\r\n\r\nrouter \(nickname) 127.0.0.1 \(next.port) 0 0\n"), "response:\n\(text.prefix(600))")
        #expect(text.contains("\nfingerprint \(next.rsa.spaced)\n"), "response has no fingerprint \(next.rsa.spaced)")
        #expect(text.contains("\nmaster-key-ed25519 \(next.ed25519.base64)\n"))
        #expect(text.contains("\nntor-onion-key \(next.ntor.bytes.base64Unpadded)"))

        // 4. CTor accepted our relay's link as an authenticated relay link: it opened the
        // connection under our RSA identity (a client link would log an all-zero digest).
        let ourFP = ours.keys.rsaFingerprint.hex
        let info = ctor.infoLog()
        #expect(info.contains("Its ID digest is \(ourFP)"), "CTor did not open our link as relay \(ourFP)\n\(ctorLog())")
        #expect(!info.contains("Its ID digest is 0000000000000000000000000000000000000000"), "CTor saw a client link")
        #expect(info.contains("ID=\(ours.keys.masterPublic.base64) RSA_ID=\(ourFP)"), "CTor did not record our Ed25519 identity")

        await client.close()
        await ours.stop()
        #expect(ctor.stop() == 0, "tor did not exit cleanly on SIGTERM:\n\(ctor.stdoutLog().suffix(2000))")
    }
}
