import Foundation
import NIOPosix
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// The ORPort self-test between relays of ours; against CTor relays it runs in the private
/// network (scripts/privnet).
@Suite(.testThreads, .timeLimit(.minutes(2)), .serialized)
struct ReachabilityProbeTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    func target(_ i: RelayInfo, port: Int? = nil) -> CircuitHopTarget {
        CircuitHopTarget(host: i.host, port: port ?? i.port, rsa: i.rsa, ed25519: i.ed25519, ntor: i.ntor)
    }

    @Test func circuitBackToOurselvesThroughAnotherRelay() async throws {
        let other = try await TestRelay.start(group: Self.group)
        let us = try await TestRelay.start(group: Self.group)
        defer { Task { await other.stop(); await us.stop() } }
        let connector = try #require(us.env.relay.connector.withLockedValue { $0 })
        _ = try await ReachabilityProbe.run(via: target(other.info), to: target(us.info), connector: connector)
        #expect(other.stats.extends == 1)
        #expect(us.stats.circuitsCreated == 1)
    }

    @Test func unreachableORPortFails() async throws {
        let other = try await TestRelay.start(group: Self.group)
        let us = try await TestRelay.start(group: Self.group)
        defer { Task { await other.stop() } }
        let connector = try #require(us.env.relay.connector.withLockedValue { $0 })
        let port = us.info.port
        await us.stop()  // nothing listens on our published port any more
        await #expect(throws: ReachabilityError.self) {
            _ = try await ReachabilityProbe.run(via: target(other.info), to: target(us.info, port: port), connector: connector, timeout: .seconds(10))
        }
    }

    @Test func wrongOnionKeyFails() async throws {
        let other = try await TestRelay.start(group: Self.group)
        let us = try await TestRelay.start(group: Self.group)
        defer { Task { await other.stop(); await us.stop() } }
        let connector = try #require(us.env.relay.connector.withLockedValue { $0 })
        var rng = SystemRandom()
        var wrong = us.info
        wrong.ntor = Curve25519SecretKey.generate(using: &rng).publicKey
        await #expect(throws: (any Error).self) {
            _ = try await ReachabilityProbe.run(via: target(other.info), to: target(wrong), connector: connector, timeout: .seconds(10))
        }
    }
}
