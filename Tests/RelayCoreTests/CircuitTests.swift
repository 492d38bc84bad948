import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// A relay of ours on 127.0.0.1 with the full circuit layer.
final class TestRelay: @unchecked Sendable {
    let keys: RelayKeys
    let env: LinkEnvironment
    let listener: ORListener
    var info: RelayInfo

    static func start(group: any EventLoopGroup, exitPolicy: ExitPolicy = .rejectAll,
                      limits: CircuitLimits = CircuitLimits(),
                      createRate: CreateRateLimiter.Settings = .init(),
                      directory: DirectoryCache? = nil, limiter: BandwidthLimiter? = nil) async throws -> TestRelay {
        var rng = SystemRandom()
        let keys = try RelayKeys.generate(now: Date(), lifetimes: KeyLifetimes(), using: &rng)
        var logger = Logger(label: "relay")
        logger.logLevel = .critical
        let relay = RelayContext(
            handshakes: TorCircuitHandshakes(identity: keys.rsaFingerprint, ed25519: keys.masterPublic, onionKeys: [keys.onionCurrent.ntor]),
            workers: OnionskinWorkers(threads: 2), registry: LinkRegistry(), stats: CircuitStats(), limits: limits,
            ourIdentity: keys.rsaFingerprint, logger: logger, exitPolicy: exitPolicy, createRate: createRate, directory: directory)
        let env = LinkEnvironment(credentials: try LinkCredentialStore(try LinkCredentials.generate(keys: keys, now: Date(), using: &rng)),
                                  relay: relay, stats: LinkStats(), ourAddresses: [.ipv4([127, 0, 0, 1])],
                                  configuration: .init(), logger: logger, limiter: limiter)
        relay.connector.withLockedValue { $0 = LinkConnector(environment: env, group: group) }
        let listener = try await ORListener.bind(host: "127.0.0.1", port: 0, group: group, environment: env)
        let info = RelayInfo(port: listener.localAddress!.port!, rsa: keys.rsaFingerprint, ed25519: keys.masterPublic,
                             ntor: keys.onionCurrent.ntor.publicKey)
        return TestRelay(keys: keys, env: env, listener: listener, info: info)
    }

    init(keys: RelayKeys, env: LinkEnvironment, listener: ORListener, info: RelayInfo) {
        self.keys = keys
        self.env = env
        self.listener = listener
        self.info = info
    }

    var stats: CircuitStats.Snapshot { env.relay.stats.snapshot }
    func stop() async { try? await listener.close() }
}

@Suite(.testThreads, .timeLimit(.minutes(2)), .serialized)
struct CircuitTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    static func relays(_ n: Int) async throws -> [TestRelay] {
        var out = [TestRelay]()
        for _ in 0..<n { out.append(try await TestRelay.start(group: group)) }
        return out
    }

    @Test(arguments: [TestCircuitClient.Handshake.ntor, .ntorV3, .fast])
    func oneHopCircuit(handshake: TestCircuitClient.Handshake) async throws {
        let r = try await Self.relays(1)[0]
        defer { Task { await r.stop() } }
        let client = try await TestCircuitClient.connect(to: r.info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: r.info, handshake: handshake)
        // DROP is silently consumed; BEGIN on a non-exit is answered END(EXITPOLICY) by hop 0,
        // which proves both directions of the relay crypto and digests.
        try await circ.send(command: 10, data: [1, 2, 3])
        try await circ.send(command: 1, streamID: 7, data: Array("example.com:80\u{0}".utf8))
        let reply = try await circ.receive()
        #expect(reply == RelayMessage(hop: 0, command: 3, streamID: 7, data: [4]))
        #expect(r.stats.circuitsCreated == 1)
    }

    @Test func threeHopsThroughOurRelays() async throws {
        let rs = try await Self.relays(3)
        defer { Task { for r in rs { await r.stop() } } }
        let client = try await TestCircuitClient.connect(to: rs[0].info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: rs[0].info)
        try await circ.extend(to: rs[1].info, handshake: .ntorV3)
        try await circ.extend(to: rs[2].info)
        #expect(circ.hops.count == 3)
        // Each hop answers for itself: hop 2 at the edge, hops 0 and 1 through their n-side loops.
        for hop in [2, 1, 0] {
            try await circ.send(command: 1, streamID: UInt16(10 + hop), data: Array("a.example:443\u{0}".utf8), hop: hop)
            let m = try await circ.receive()
            #expect(m == RelayMessage(hop: hop, command: 3, streamID: UInt16(10 + hop), data: [4]))
        }
        // The middle relay reused nothing and made one authenticated link to the third.
        #expect(rs[1].env.registry.link(to: rs[2].info.rsa) != nil)
        #expect(rs[0].stats.extends == 1 && rs[1].stats.extends == 1)

        // A second circuit through the same path reuses the existing links.
        let circ2 = try await client.createCircuit(to: rs[0].info)
        try await circ2.extend(to: rs[1].info)
        try await circ2.extend(to: rs[2].info)
        #expect(rs[1].env.stats.snapshot.handshakesCompleted == 1 + 1)  // inbound from r0, outbound to r2

        // DESTROY from the client tears the circuit down along the path.
        try await client.send(Cell(circuitID: circ.id, command: .destroy, body: ByteBuffer(bytes: [0] + [UInt8](repeating: 0, count: 508))))
        #expect(await eventually { rs.allSatisfy { $0.stats.circuitsDestroyed.values.reduce(0, +) >= 1 } })
        #expect(await eventually { rs[2].stats.circuitsOpen == 1 })  // circ2 remains
    }

    @Test func truncateThenExtendAgain() async throws {
        let rs = try await Self.relays(3)
        defer { Task { for r in rs { await r.stop() } } }
        let client = try await TestCircuitClient.connect(to: rs[0].info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: rs[0].info)
        try await circ.extend(to: rs[1].info)
        try await circ.send(command: 8, data: [], hop: 0)  // TRUNCATE at hop 0
        let t = try await circ.receive()
        #expect(t.hop == 0 && t.command == 9)
        _ = circ.dropLastHop()
        try await circ.extend(to: rs[2].info)
        try await circ.send(command: 1, streamID: 3, data: Array("x:1\u{0}".utf8))
        #expect(try await circ.receive() == RelayMessage(hop: 1, command: 3, streamID: 3, data: [4]))
    }

    // MARK: bad input closes the right circuit, never the process

    func expectDestroy(_ circ: TestCircuit, reason: DestroyReason) async throws {
        let m = try await circ.receive()
        #expect(m.command == 0xFF, "expected DESTROY, got \(m)")
        #expect(m.data == [reason.rawValue])
    }

    @Test func extend2OutsideRelayEarlyIsRefused() async throws {
        let rs = try await Self.relays(2)
        defer { Task { for r in rs { await r.stop() } } }
        let client = try await TestCircuitClient.connect(to: rs[0].info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: rs[0].info)
        try await circ.send(command: 14, data: [0, 0, 2, 0, 0], early: false)
        try await expectDestroy(circ, reason: .protocolViolation)
        #expect(rs[0].stats.circuitsDestroyed["extend2_not_relay_early"] == 1)
        // The link and other circuits carry on.
        let other = try await client.createCircuit(to: rs[0].info)
        try await other.send(command: 1, streamID: 1, data: Array("x:1\u{0}".utf8))
        #expect(try await other.receive().command == 3)
    }

    @Test func moreThanEightRelayEarlyIsRefused() async throws {
        let r = try await Self.relays(1)[0]
        defer { Task { await r.stop() } }
        let client = try await TestCircuitClient.connect(to: r.info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: r.info)
        for _ in 0..<9 { try await circ.send(command: 10, data: [], early: true) }
        try await expectDestroy(circ, reason: .protocolViolation)
        #expect(r.stats.circuitsDestroyed["too_many_relay_early"] == 1)
    }

    @Test func extendBackToPreviousHopIsRefused() async throws {
        let rs = try await Self.relays(2)
        defer { Task { for r in rs { await r.stop() } } }
        let client = try await TestCircuitClient.connect(to: rs[0].info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: rs[0].info)
        try await circ.extend(to: rs[1].info)
        // From rs[1], extending back to rs[0] (its previous hop).
        await #expect(throws: (any Error).self) { try await circ.extend(to: rs[0].info) }
        #expect(rs[1].stats.circuitsDestroyed["extend_to_previous_hop"] == 1)
    }

    @Test func badDigestAtTheEdgeDestroysTheCircuit() async throws {
        let r = try await Self.relays(1)[0]
        defer { Task { await r.stop() } }
        let client = try await TestCircuitClient.connect(to: r.info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: r.info)
        try await client.send(circ.relayCell(command: 10, data: [], corruptDigest: true))
        try await expectDestroy(circ, reason: .protocolViolation)
        #expect(r.stats.circuitsDestroyed["unrecognized_at_edge"] == 1)
    }

    @Test(arguments: [
        ("unknown handshake type", [0x00, 0x09, 0x00, 0x04, 1, 2, 3, 4] as [UInt8]),
        ("ntor onionskin of the wrong length", [0x00, 0x02, 0x00, 0x10] + [UInt8](repeating: 7, count: 16)),
        ("ntor onionskin for another relay", [0x00, 0x02, 0x00, 0x54] + [UInt8](repeating: 7, count: 84)),
        ("CREATE2 length past the cell", [0x00, 0x02, 0x01, 0xFF]),
    ])
    func malformedCreate2IsRefused(why: String, body: [UInt8]) async throws {
        let r = try await Self.relays(1)[0]
        defer { Task { await r.stop() } }
        let client = try await TestCircuitClient.connect(to: r.info, group: Self.group)
        defer { Task { await client.close() } }
        let id = client.allocateCircuitID()
        try await client.send(client.fixed(id, .create2, body))
        let reply = try await client.receive(on: id)
        #expect(reply.command == .destroy, "\(why) was not refused")
        // The link still works.
        _ = try await client.createCircuit(to: r.info)
    }

    @Test func createWithTheWrongCircuitIDBitIsRefused() async throws {
        let r = try await Self.relays(1)[0]
        defer { Task { await r.stop() } }
        let client = try await TestCircuitClient.connect(to: r.info, group: Self.group)
        defer { Task { await client.close() } }
        // We initiated the link, so our IDs must have the high bit set; 5 does not.
        try await client.send(client.fixed(5, .createFast, [UInt8](repeating: 1, count: 20)))
        let reply = try await client.receive(on: 5)
        #expect(reply.command == .destroy)
        #expect(r.stats.createsRefused["create_bad_circuit_id"] == 1)
    }

    /// A client creating circuits faster than the per-address budget (burst, then rate) gets
    /// DESTROY RESOURCELIMIT; a relay extending through us is not limited.
    @Test func createFloodFromAClientIsRateLimited() async throws {
        var rate = CreateRateLimiter.Settings()
        rate.burst = 10
        rate.ratePerSecond = 0.001
        let rs = [try await TestRelay.start(group: Self.group), try await TestRelay.start(group: Self.group, createRate: rate)]
        defer { Task { for r in rs { await r.stop() } } }
        let client = try await TestCircuitClient.connect(to: rs[1].info, group: Self.group)
        defer { Task { await client.close() } }
        for _ in 0..<10 { _ = try await client.createCircuit(to: rs[1].info, handshake: .fast) }
        await #expect(throws: (any Error).self) { _ = try await client.createCircuit(to: rs[1].info, handshake: .fast) }
        #expect(rs[1].stats.createsRefused["create_rate_limited"] == 1)
        // Through rs[0], the creates reach rs[1] over an authenticated relay link: not limited.
        let viaRelay = try await TestCircuitClient.connect(to: rs[0].info, group: Self.group)
        defer { Task { await viaRelay.close() } }
        for _ in 0..<12 {
            let c = try await viaRelay.createCircuit(to: rs[0].info)
            try await c.extend(to: rs[1].info)
        }
        #expect(rs[1].stats.createsRefused["create_rate_limited"] == 1)
    }

    @Test func relayCellsOnUnknownCircuitsAreIgnored() async throws {
        let r = try await Self.relays(1)[0]
        defer { Task { await r.stop() } }
        let client = try await TestCircuitClient.connect(to: r.info, group: Self.group)
        defer { Task { await client.close() } }
        try await client.send(client.fixed(0x8000_7777, .relay, [UInt8](repeating: 9, count: 509)))
        let circ = try await client.createCircuit(to: r.info)
        try await circ.send(command: 1, streamID: 1, data: Array("x:1\u{0}".utf8))
        #expect(try await circ.receive().command == 3)
        #expect(client.channel.isActive)
    }

    /// As CTor: a link without circuits is closed after its idle time (clients: the base plus up to
    /// half of it; relays: 75-125 % of theirs), and a link carrying a circuit is not.
    @Test func linksWithoutCircuitsAreClosedWhenIdle() async throws {
        var limits = CircuitLimits()
        limits.idleClientLinkSeconds = 1
        limits.idleRelayLinkSeconds = 2
        let r = try await TestRelay.start(group: Self.group, limits: limits)
        defer { Task { await r.stop() } }
        let start = Date()
        let idle = try await TestCircuitClient.connect(to: r.info, group: Self.group)
        let relayLink = try await TestCircuitClient.connect(to: r.info, group: Self.group, authenticate: true)
        let busy = try await TestCircuitClient.connect(to: r.info, group: Self.group)
        defer { Task { await idle.close(); await relayLink.close(); await busy.close() } }
        let circ = try await busy.createCircuit(to: r.info, handshake: .fast)

        #expect(await eventually(10) { !idle.channel.isActive })
        let idleClosed = Date().timeIntervalSince(start)
        #expect(idleClosed >= 0.9, "closed after \(idleClosed) s, before its idle time")
        #expect(await eventually(10) { !relayLink.channel.isActive })
        let relayClosed = Date().timeIntervalSince(start)
        #expect(relayClosed >= 1.4, "relay link closed after \(relayClosed) s, before 75 % of its idle time")
        #expect(busy.channel.isActive, "a link with a circuit was closed")
        #expect(r.stats.idleLinksClosed == 2)

        // Once its circuit is gone, the busy link goes the same way.
        try await busy.send(busy.fixed(circ.id, .destroy, [0]))
        #expect(await eventually(10) { !busy.channel.isActive })
        #expect(r.stats.idleLinksClosed == 3)
        #expect(r.stats.circuitsOpen == 0)

        // A client that drops its link with circuits open: they are gone, and counted as gone.
        let dropper = try await TestCircuitClient.connect(to: r.info, group: Self.group)
        _ = try await dropper.createCircuit(to: r.info, handshake: .fast)
        _ = try await dropper.createCircuit(to: r.info, handshake: .fast)
        #expect(r.stats.circuitsOpen == 2)
        await dropper.close()
        #expect(await eventually(10) { r.stats.circuitsOpen == 0 }, "\(r.stats.circuitsOpen) circuits still counted open")
    }
}

func eventually(_ seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = Date() + seconds
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
