import Foundation
import NIOPosix
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// A real CTor 0.4.9 relay in the middle of a circuit between two of our relays:
/// client → relaynode → CTor → relaynode (exit) → local server. CTor receives our EXTEND2 naming
/// the exit and opens a link to it, so this proves that CTor initiates an *authenticated* link
/// to relaynode's ORPort (issue #3 (a)) and relays data end to end through CTor (issue #4).
@Suite(.testThreads, .timeLimit(.minutes(3)), .serialized)
struct CTorMiddleTests {
    @Test func dataFlowsThroughACTorMiddleThatAuthenticatesToOurExit() async throws {
        let ctor = try await CTorProcess.startRelay(nickname: "ctorMiddle")
        defer { ctor.stop() }
        let middle = try ctor.relayInfo()
        let server = try await TestTCPServer.start(.source, group: ExitTests.group)
        let guardRelay = try await TestRelay.start(group: ExitTests.group)
        let exit = try await TestRelay.start(group: ExitTests.group, exitPolicy: ExitTests.localExit)
        let client = try await TestCircuitClient.connect(to: guardRelay.info, group: ExitTests.group)
        defer { Task { await client.close(); await guardRelay.stop(); await exit.stop(); await server.stop() } }

        let circ = try await client.createCircuit(to: guardRelay.info)
        try await circ.extend(to: middle, handshake: .ntorV3)
        try await circ.extend(to: exit.info)

        // CTor opened an authenticated link to our exit: our registry holds it under CTor's identity,
        // and CTor's log shows it verified our CERTS as an initiator (AUTH_CHALLENGE answered).
        #expect(await eventually { exit.env.registry.link(to: middle.rsa) != nil }, "no authenticated link from CTor")
        #expect(exit.env.registry.link(to: middle.rsa)?.outbound == false)
        #expect(exit.env.registry.link(to: middle.rsa)?.established.peer?.ed25519 == middle.ed25519)
        let info = ctor.infoLog()
        #expect(info.contains("Its ID digest is \(exit.keys.rsaFingerprint.hex)"), "CTor did not open a link to our exit")

        // 4 MiB through the CTor middle, byte-exact, with flow control.
        _ = try await circ.begin(streamID: 1, target: "127.0.0.1:\(server.port)")
        let total = 4 * 1024 * 1024
        try await circ.send(command: RelayCommand.data.rawValue, streamID: 1, data: Array("\(total)\n".utf8))
        let got = try await circ.download(streamID: 1, expecting: total, seconds: 120)
        #expect(got.count == total)
        #expect(firstPatternMismatch(got) == nil)
    }
}
