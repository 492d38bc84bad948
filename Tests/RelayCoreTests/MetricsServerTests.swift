import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// The MetricsPort over real HTTP on 127.0.0.1: CTor's metric names, values that match the
/// relay's counters, a policy that refuses, and errors for other paths.
@Suite(.testThreads, .timeLimit(.minutes(2)))
struct MetricsServerTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    /// Sends `request` and returns everything the server answered before closing.
    static func http(_ port: Int, _ request: String) async throws -> String {
        let collected = Collected()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(collected) } }
            .connect(host: "127.0.0.1", port: port).get()
        // A refused client may find the connection closed before its request is written.
        try? await channel.writeAndFlush(ByteBuffer(string: request))
        try await within(channel.closeFuture)
        return collected.text
    }

    /// Prometheus text format, parsed strictly enough to catch malformed output: every sample
    /// line is `name{label="value",...} number` and its name was declared by a `# TYPE` line.
    static func parse(_ body: String) throws -> [String: Double] {
        var types = [String: String](), samples = [String: Double]()
        for line in body.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let w = line.split(separator: " ")
                try #require(w.count == 4 && ["counter", "gauge"].contains(w[3]), "bad TYPE line: \(line)")
                types[String(w[2])] = String(w[3])
                continue
            }
            if line.hasPrefix("# HELP ") { continue }
            let parts = line.split(separator: " ")
            try #require(parts.count == 2, "bad sample line: \(line)")
            let series = String(parts[0])
            let name = String(series.prefix { $0 != "{" })
            try #require(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }, "bad name: \(line)")
            try #require(types[name] != nil, "\(name) has no TYPE line before it")
            if series.contains("{") {
                try #require(series.hasSuffix("}"), "bad labels: \(line)")
                let labels = series.dropFirst(name.count + 1).dropLast()
                for pair in labels.split(separator: ",") {
                    try #require(pair.contains("=\"") && pair.hasSuffix("\""), "bad label: \(pair)")
                }
            }
            samples[series] = try #require(Double(parts[1]), "bad value: \(line)")
        }
        return samples
    }

    @Test func scrapeShowsCTorNamesWithTheRelaysCounts() async throws {
        let traffic = TrafficCounters(group: Self.group)
        let relayEnv = try TrafficCountersTests.environment(LinkTests.relayB, traffic: traffic)
        let orport = try await ORListener.bind(host: "127.0.0.1", port: 0, group: Self.group, environment: relayEnv)
        defer { Task { try? await orport.close() } }
        let (link, _) = try await within(LinkConnector(environment: try TrafficCountersTests.environment(LinkTests.relayA, traffic: TrafficCounters()),
                                                       group: Self.group)
            .connect(host: "127.0.0.1", port: orport.localAddress!.port!, expected: LinkTests.expectB(), circuitLayer: { DiscardCells() }))
        #expect(await LinkTests.eventually { relayEnv.stats.snapshot.openLinks == 1 })

        let expiry = Date(timeIntervalSince1970: 1_800_000_000)
        let metrics = RelayMetrics(sources: .init(traffic: traffic, links: relayEnv.stats, relay: relayEnv.relay, eventLoops: 2,
                                                  signingCertExpiry: { expiry }))
        let policy = ExitPolicy(rules: try ExitPolicy.parse("accept 127.0.0.1", here: "test") + ExitPolicy.rejectAll.rules)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = try await MetricsServer.bind(host: "127.0.0.1", port: 0, group: Self.group, policy: policy, metrics: metrics, logger: logger)
        defer { Task { try? await server.close() } }
        let port = server.localAddress!.port!

        let response = try await Self.http(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let (head, body) = try #require(response.range(of: "\r\n\r\n").map { (response[..<$0.lowerBound], String(response[$0.upperBound...])) })
        #expect(head.hasPrefix("HTTP/1.1 200 OK"))
        #expect(head.contains("text/plain; version=0.0.4"))
        let samples = try Self.parse(body)
        let counted = await traffic.snapshot()
        #expect(samples[#"tor_relay_traffic_bytes{direction="read"}"#] == Double(counted.read))
        #expect(samples[#"tor_relay_traffic_bytes{direction="written"}"#] == Double(counted.written))
        #expect(counted.read > 0)
        #expect(samples[#"tor_relay_connections{type="OR",direction="received",state="opened",family="ipv4"}"#] == 1)
        #expect(samples[#"tor_relay_connections_total{type="OR",direction="received",state="created",family="ipv4"}"#] == 1)
        #expect(samples[#"tor_relay_circuits_total{state="opened"}"#] == 0)
        #expect(samples[#"tor_relay_load_onionskins_total{type="ntor",action="processed"}"#] == 0)
        #expect(samples[#"tor_relay_load_onionskins_total{type="ntor_v3",action="dropped"}"#] == 0)
        #expect(samples["tor_relay_signing_cert_expiry_timestamp"] == 1_800_000_000)
        #expect(samples["relaynode_queued_cells"] == 0)
        #expect(samples["relaynode_link_muxes"] == 1, "one link open, one circuit switch")

        // Counters only grow; a second scrape after the link closed still counts its bytes.
        try await link.close()
        #expect(await LinkTests.eventually { relayEnv.stats.snapshot.openLinks == 0 })
        let again = try Self.parse(String(try await Self.http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").split(separator: "\r\n\r\n", maxSplits: 1)[1]))
        #expect(again[#"tor_relay_connections{type="OR",direction="received",state="opened",family="ipv4"}"#] == 0)
        #expect(again["relaynode_link_muxes"] == 0, "a closed link's circuit switch is freed")
        #expect(again[#"tor_relay_traffic_bytes{direction="read"}"#]! >= samples[#"tor_relay_traffic_bytes{direction="read"}"#]!)

        #expect(try await Self.http(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 404"))
        #expect(try await Self.http(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").hasPrefix("HTTP/1.1 405"))
    }

    @Test func aClientThePolicyRefusesGetsNothing() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let relayEnv = try TrafficCountersTests.environment(LinkTests.relayB, traffic: TrafficCounters())
        let metrics = RelayMetrics(sources: .init(traffic: relayEnv.traffic, links: relayEnv.stats, relay: relayEnv.relay, eventLoops: 1,
                                                  signingCertExpiry: { nil }))
        let policy = ExitPolicy(rules: try ExitPolicy.parse("accept 10.0.0.0/8", here: "test") + ExitPolicy.rejectAll.rules)
        let server = try await MetricsServer.bind(host: "127.0.0.1", port: 0, group: Self.group, policy: policy, metrics: metrics, logger: logger)
        defer { Task { try? await server.close() } }
        let answer = try await Self.http(server.localAddress!.port!, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(answer.isEmpty)
    }
}

/// Collects what a test HTTP client receives.
final class Collected: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private var bytes = [UInt8]()
    private let lock = NSLock()
    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let b = unwrapInboundIn(data)
        lock.withLock { bytes += b.readableBytesView }
    }
}
