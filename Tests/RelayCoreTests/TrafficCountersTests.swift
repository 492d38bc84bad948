import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// Byte counting below TLS, over real links on loopback: what one end counts as written, the
/// other counts as read, to the byte.
@Suite(.testThreads, .timeLimit(.minutes(2)))
struct TrafficCountersTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    static func environment(_ creds: LinkCredentials, traffic: TrafficCounters) throws -> LinkEnvironment {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return LinkEnvironment(credentials: try LinkCredentialStore(creds),
                               relay: .linksOnly(ourIdentity: creds.peerIdentity.rsaFingerprint, logger: logger),
                               stats: LinkStats(), ourAddresses: [.ipv4([127, 0, 0, 1])], configuration: .init(), logger: logger,
                               traffic: traffic)
    }

    /// Waits until both ends agree (bytes in flight have landed), then returns both snapshots.
    static func settled(_ server: TrafficCounters, _ client: TrafficCounters) async -> (TrafficTotals, TrafficTotals) {
        let deadline = Date() + 10
        var s = await server.snapshot(), c = await client.snapshot()
        while Date() < deadline, s.read != c.written || s.written != c.read {
            try? await Task.sleep(for: .milliseconds(20))
            s = await server.snapshot()
            c = await client.snapshot()
        }
        return (s, c)
    }

    @Test func bothEndsCountTheSameBytesOverARealTLSLink() async throws {
        // The server counts on per-loop slots (as `run` does); the client on the locked slot.
        let serverTraffic = TrafficCounters(group: Self.group), clientTraffic = TrafficCounters()
        let serverEnv = try Self.environment(LinkTests.relayB, traffic: serverTraffic)
        let server = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: serverEnv)
        defer { Task { try? await server.close() } }
        let clientEnv = try Self.environment(LinkTests.relayA, traffic: clientTraffic)
        let (channel, _) = try await within(LinkConnector(environment: clientEnv, group: Self.group)
            .connect(host: "127.0.0.1", port: server.localAddress!.port!, expected: LinkTests.expectB(),
                     circuitLayer: { DiscardCells() }))

        let (s0, c0) = await Self.settled(serverTraffic, clientTraffic)
        #expect(s0.read == c0.written && s0.written == c0.read)
        // The handshake alone: CERTS with two RSA certificates, AUTHENTICATE, TLS records.
        #expect(s0.read > 1000 && s0.written > 1000)
        #expect(s0.ipv6Read == 0 && s0.ipv6Written == 0)

        // 400 fixed-size cells (514 bytes each on a v4+ link) from the client.
        let cells = 400
        for _ in 0..<cells {
            channel.write(Cell(circuitID: 0, command: .padding, body: ByteBuffer(repeating: 0, count: 509)), promise: nil)
        }
        channel.flush()
        let (s1, c1) = await Self.settled(serverTraffic, clientTraffic)
        #expect(s1.read == c1.written && s1.written == c1.read)
        let plaintext = UInt64(cells * 514)
        let added = s1.read - s0.read
        // Raw bytes are the cells plus TLS record overhead (header, MAC/tag, padding): a few percent.
        #expect(added >= plaintext && added <= plaintext + plaintext / 20, "counted \(added) for \(plaintext) bytes of cells")

        serverTraffic.addDirectory(read: 100, written: 2000)
        let s2 = await serverTraffic.snapshot()
        #expect(s2.dirRead == 100 && s2.dirWritten == 2000)
        #expect(s2.read == s1.read, "directory bytes are not added to the link totals")
        try await channel.close()
    }

    @Test func bytesFromAPeerThatNeverSpeaksTLSAreCounted() async throws {
        let serverTraffic = TrafficCounters(group: Self.group)
        let serverEnv = try Self.environment(LinkTests.relayB, traffic: serverTraffic)
        let server = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: serverEnv)
        defer { Task { try? await server.close() } }
        let garbage = ByteBuffer(repeating: 0x16, count: 3)  // the start of a TLS record header, then silence
        let raw = try await ClientBootstrap(group: Self.group).connect(host: "127.0.0.1", port: server.localAddress!.port!).get()
        try await raw.writeAndFlush(garbage)
        let deadline = Date() + 10
        var s = await serverTraffic.snapshot()
        while Date() < deadline, s.read < 3 {
            try? await Task.sleep(for: .milliseconds(20))
            s = await serverTraffic.snapshot()
        }
        #expect(s.read == 3)
        try await raw.close()
    }
}

/// The layer above a test link: drops whatever arrives.
final class DiscardCells: ChannelInboundHandler, Sendable {
    typealias InboundIn = Cell
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
