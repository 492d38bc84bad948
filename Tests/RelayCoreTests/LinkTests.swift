import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// Links between our own initiator and responder over real TLS on loopback, and the hostile
/// inputs issue #3 lists. Every server and connection here is closed by the test.
@Suite(.testThreads, .timeLimit(.minutes(2)))
struct LinkTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    static func credentials(_ seed: Int) -> LinkCredentials {
        var rng = SystemRandom()
        let keys = try! RelayKeys.generate(now: Date(), lifetimes: KeyLifetimes(), using: &rng)
        return try! LinkCredentials.generate(keys: keys, now: Date(), using: &rng)
    }
    static let relayA = credentials(1)
    static let relayB = credentials(2)

    static func environment(_ creds: LinkCredentials, handshakeTimeout: TimeAmount = .seconds(10),
                            maxPerAddress: Int = 50) throws -> LinkEnvironment {
        var config = LinkHandler.Configuration()
        config.handshakeTimeout = handshakeTimeout
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return LinkEnvironment(credentials: try LinkCredentialStore(creds),
                               relay: .linksOnly(ourIdentity: creds.peerIdentity.rsaFingerprint,
                                                 registry: LinkRegistry(maxConnectionsPerAddress: maxPerAddress), logger: logger),
                               stats: LinkStats(), ourAddresses: [.ipv4([127, 0, 0, 1])], configuration: config, logger: logger)
    }

    static func expectB() -> InitiatorHandshake.ExpectedPeer {
        .init(rsaFingerprint: relayB.peerIdentity.rsaFingerprint, ed25519: relayB.ed25519Identity)
    }

    /// Polls `condition` for up to `seconds`.
    static func eventually(_ seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
        let deadline = Date() + seconds
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test func relayToRelayAuthenticatedLink() async throws {
        let serverEnv = try Self.environment(Self.relayB)
        let server = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: serverEnv)
        defer { Task { try? await server.close() } }
        let clientEnv = try Self.environment(Self.relayA)
        let port = try #require(server.localAddress?.port)
        let (channel, established) = try await within(LinkConnector(environment: clientEnv, group: Self.group)
            .connect(host: "127.0.0.1", port: port, expected: Self.expectB()))
        #expect(established.peer == Self.relayB.peerIdentity)
        #expect(established.linkVersion == 5)
        #expect(clientEnv.registry.link(to: Self.relayB.peerIdentity.rsaFingerprint) != nil)
        // The responder registered the initiator under the identity it proved.
        #expect(await Self.eventually { serverEnv.registry.link(to: Self.relayA.peerIdentity.rsaFingerprint) != nil })
        #expect(serverEnv.stats.snapshot.openAuthenticatedLinks == 1)
        try await channel.close()
        #expect(await Self.eventually { serverEnv.stats.snapshot.openLinks == 0 })
        #expect(serverEnv.registry.link(to: Self.relayA.peerIdentity.rsaFingerprint) == nil)
    }

    @Test func clientLinkIsUnauthenticated() async throws {
        let serverEnv = try Self.environment(Self.relayB)
        let server = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: serverEnv)
        defer { Task { try? await server.close() } }
        let (channel, established) = try await within(LinkConnector(environment: try Self.environment(Self.relayA), group: Self.group)
            .connect(host: "127.0.0.1", port: server.localAddress!.port!, expected: Self.expectB(), authenticate: false))
        #expect(established.peer == Self.relayB.peerIdentity)
        #expect(await Self.eventually { serverEnv.stats.snapshot.openLinks == 1 })
        #expect(serverEnv.stats.snapshot.openAuthenticatedLinks == 0)
        #expect(serverEnv.registry.authenticatedLinkCount == 0)
        try await channel.close()
    }

    @Test func wrongIdentityIsRefused() async throws {
        let serverEnv = try Self.environment(Self.relayB)
        let server = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: serverEnv)
        defer { Task { try? await server.close() } }
        let wrong = InitiatorHandshake.ExpectedPeer(rsaFingerprint: Self.relayA.peerIdentity.rsaFingerprint, ed25519: nil)
        await #expect(throws: LinkError.self) {
            _ = try await within(LinkConnector(environment: try Self.environment(Self.relayA), group: Self.group)
                .connect(host: "127.0.0.1", port: server.localAddress!.port!, expected: wrong))
        }
    }

    // MARK: hostile peers

    /// A raw TCP client: sends `payload`, then waits for the server to close the connection.
    static func rawConnect(port: Int, from source: String? = nil) async throws -> any Channel {
        var b = ClientBootstrap(group: group)
        if let source { b = b.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        return try await b.channelInitializer { $0.eventLoop.makeSucceededVoidFuture() }.connect(host: "127.0.0.1", port: port).get()
    }

    /// A TLS client that completes TLS and then sends `payload` as application data.
    static func tlsConnect(port: Int, payload: [UInt8]) async throws -> any Channel {
        let tls = try OpenSSLTLSHandler(context: try TLSContext(configuration: .client()))
        let channel = try await ClientBootstrap(group: group).channelInitializer { ch in
            ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(tls) }
        }.connect(host: "127.0.0.1", port: port).get()
        // The server may already have closed the link (e.g. a short handshake timeout on a loaded
        // machine); what the tests check is that it closes, so a failed write is fine.
        if !payload.isEmpty { try? await channel.writeAndFlush(ByteBuffer(bytes: payload)) }
        return channel
    }

    static func closesSoon(_ channel: any Channel, within seconds: Double = 10) async -> Bool {
        await eventually(seconds) { !channel.isActive }
    }

    @Test func garbageInsteadOfTLSIsClosed() async throws {
        let env = try Self.environment(Self.relayB)
        let server = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: env)
        defer { Task { try? await server.close() } }
        let port = server.localAddress!.port!
        let raw = try await Self.rawConnect(port: port)
        var rng = SystemRandom()
        try await raw.writeAndFlush(ByteBuffer(bytes: rng.bytes(4096)))
        #expect(await Self.closesSoon(raw))
        #expect(await Self.eventually { env.stats.snapshot.handshakesFailed == 1 })
        // The node still serves.
        let (c, _) = try await within(LinkConnector(environment: try Self.environment(Self.relayA), group: Self.group)
            .connect(host: "127.0.0.1", port: port, expected: Self.expectB()))
        try await c.close()
    }

    @Test(arguments: [
        ("VERSIONS with an odd length", [0x00, 0x00, 0x07, 0x00, 0x03, 0x00, 0x04, 0x00] as [UInt8]),
        ("a variable cell claiming 65535 bytes", [0x00, 0x00, 0x80, 0xFF, 0xFF] + [UInt8](repeating: 0x41, count: 2000)),
        ("a RELAY cell before VERSIONS", [0x00, 0x00, 0x03] + [UInt8](repeating: 0, count: 509)),
        ("VERSIONS offering only version 3", [0x00, 0x00, 0x07, 0x00, 0x02, 0x00, 0x03]),
    ])
    func tlsThenBadCellsIsClosed(why: String, payload: [UInt8]) async throws {
        let env = try Self.environment(Self.relayB)
        let server = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: env)
        defer { Task { try? await server.close() } }
        let c = try await Self.tlsConnect(port: server.localAddress!.port!, payload: payload)
        #expect(await Self.closesSoon(c), "not closed after \(why)")
        #expect(await Self.eventually { env.stats.snapshot.handshakesFailed == 1 }, "\(why) was not counted")
    }

    @Test func stalledHandshakeTimesOut() async throws {
        let env = try Self.environment(Self.relayB, handshakeTimeout: .milliseconds(500))
        let server = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: env)
        defer { Task { try? await server.close() } }
        // TLS done, then a valid VERSIONS and silence: the peer stops mid-handshake.
        let c = try await Self.tlsConnect(port: server.localAddress!.port!, payload: [0x00, 0x00, 0x07, 0x00, 0x04, 0x00, 0x04, 0x00, 0x05])
        #expect(await Self.closesSoon(c, within: 5))
        #expect(env.stats.snapshot.failuresByReason["timeout"] == 1)
    }

    @Test func thousandHalfOpenConnectionsDoNotStopService() async throws {
        let env = try Self.environment(Self.relayB, handshakeTimeout: .seconds(2))
        let server = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: env)
        defer { Task { try? await server.close() } }
        let port = server.localAddress!.port!
        var idle = [any Channel]()
        for _ in 0..<1000 { idle.append(try await Self.rawConnect(port: port)) }
        // Over the per-address cap they are refused at once; the rest time out.
        #expect(await Self.eventually { env.stats.snapshot.refusedOverPerAddressLimit > 0 })
        // A relay on another address still gets a link while they hang.
        let (c, e) = try await within(LinkConnector(environment: try Self.environment(Self.relayA), group: Self.group)
            .connect(host: "127.0.0.1", port: port, expected: Self.expectB(),
                     source: try SocketAddress(ipAddress: "127.0.0.2", port: 0)))
        #expect(e.peer == Self.relayB.peerIdentity)
        try await c.close()
        // Every half-open connection is closed by the server.
        #expect(await Self.eventually(15) { idle.allSatisfy { !$0.isActive } })
        // Each one was either refused at accept or closed by the handshake timeout.
        #expect(await Self.eventually(15) {
            let s = env.stats.snapshot
            return s.refusedOverPerAddressLimit + s.failuresByReason["timeout", default: 0] == 1000
        }, "\(env.stats.snapshot)")
        for ch in idle { try? await ch.close() }
    }
}
