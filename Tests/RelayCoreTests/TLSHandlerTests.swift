import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import RelayCore
import Testing
import TestSupport
import TorCrypto

/// OpenSSLTLSHandler: two handlers in memory (EmbeddedChannel) and over loopback TCP, Debian's
/// `openssl s_server` / `s_client` as independent peers, and peers that send garbage or stop
/// half-way. Every test has a hard limit and stops what it starts.
@Suite(.testThreads) struct TLSHandlerTests {
    // MARK: - In memory

    @Test(.timeLimit(.minutes(1))) func embeddedPairHandshakeEarlyWritesAndCleanClose() throws {
        let (client, clientProbe) = try makeEmbedded(TLSFixtures.clientContext)
        let (server, serverProbe) = try makeEmbedded(TLSFixtures.serverContext)
        #expect(throws: TLSError.self) {
            try clientProbe.tls.exportKeyingMaterial(label: TLSProbe.exporterLabel, context: TLSProbe.exporterContext, length: 32)
        }
        server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1), promise: nil)
        client.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9001), promise: nil)
        // Written and flushed before the handshake: buffered, sent once it completes.
        client.writeAndFlush(ByteBuffer(string: "early"), promise: nil)
        try shuttle(client, server)

        let c = try #require(clientProbe.handshakeResult)
        let s = try #require(serverProbe.handshakeResult)
        #expect(c.event.protocolVersion == "TLSv1.3")
        #expect(c.event.peerCertificateDER == TLSFixtures.certificates.link.der)
        #expect(s.event.localCertificateDER == TLSFixtures.certificates.link.der)
        #expect(s.event.peerCertificateDER == nil && c.event.localCertificateDER == nil)
        #expect(c.exporter == s.exporter && c.exporterOtherContext == s.exporterOtherContext)
        #expect(c.exporter != c.exporterOtherContext)
        #expect(serverProbe.bytes == Array("early".utf8))

        server.writeAndFlush(ByteBuffer(string: "late"), promise: nil)
        try shuttle(client, server)
        #expect(clientProbe.bytes == Array("late".utf8))

        client.close(promise: nil)  // close_notify → server answers with its own → both close
        try shuttle(client, server)
        #expect(!client.isActive && !server.isActive)
        #expect(clientProbe.errors.isEmpty && serverProbe.errors.isEmpty, "\(clientProbe.errors) \(serverProbe.errors)")
        #expect(clientProbe.inactive && serverProbe.inactive)
    }

    @Test(.timeLimit(.minutes(1))) func embeddedServerGetsGarbageInsteadOfClientHello() throws {
        let (server, probe) = try makeEmbedded(TLSFixtures.serverContext)
        server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1), promise: nil)
        try server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: relay\r\n\r\n"))
        #expect(probe.errors.contains { ($0 as? TLSError)?.code == .handshakeFailed }, "\(probe.errors)")
        #expect(!server.isActive && probe.inactive)
    }

    @Test(.timeLimit(.minutes(1))) func embeddedClientGetsGarbageInsteadOfServerHello() throws {
        let (client, probe) = try makeEmbedded(TLSFixtures.clientContext)
        client.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1), promise: nil)
        #expect(try client.readOutbound(as: ByteBuffer.self)?.readableBytesView.first == 0x16, "a ClientHello record")
        var rng = SystemRandom()
        try client.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x03, 0x00, 0x40] + rng.bytes(64)))
        #expect(probe.errors.contains { ($0 as? TLSError)?.code == .handshakeFailed }, "\(probe.errors)")
        #expect(!client.isActive && probe.inactive)
    }

    // MARK: - Loopback TCP

    @Test(.timeLimit(.minutes(1))) func loopbackHandshakeExporterFourMiBEchoAndCleanClose() async throws {
        let peers = try await LoopbackPair.start(clientExpects: 4 << 20)
        defer { peers.stop() }

        let c = try await within(peers.client.handshake.futureResult)
        let s = try await within(peers.server.probe.handshake.futureResult)
        #expect(c.event.protocolVersion == "TLSv1.3")
        #expect(c.event.peerCertificateDER == TLSFixtures.certificates.link.der)
        #expect(s.event.localCertificateDER == TLSFixtures.certificates.link.der)
        #expect(s.event.peerCertificateDER == nil)
        #expect(c.exporter.count == 32 && c.exporter == s.exporter)
        #expect(c.exporterOtherContext == s.exporterOtherContext && c.exporter != c.exporterOtherContext)

        // 4 MiB in uneven buffers, one flush; the server echoes each chunk it decrypts.
        var rng = SystemRandom()
        let payload = rng.bytes(4 << 20)
        var offset = 0, sizes = [1, 514, 16_384, 16_385, 65_536, 300_000, 1 << 20]
        while offset < payload.count {
            let n = min(sizes.first!, payload.count - offset)
            sizes.append(sizes.removeFirst())
            peers.clientChannel.write(ByteBuffer(bytes: payload[offset..<offset + n]), promise: nil)
            offset += n
        }
        try await within(peers.clientChannel.writeAndFlush(ByteBuffer()))
        let echoed = try await within(peers.client.received.futureResult)
        #expect(echoed.count == payload.count)
        #expect(echoed == payload, "byte-exact after a round trip through both directions")

        try await within(peers.clientChannel.close())
        let clientOutcome = try await within(peers.client.closed.futureResult)
        let serverOutcome = try await within(peers.server.probe.closed.futureResult)
        #expect(serverOutcome.receivedCount == payload.count)
        #expect(clientOutcome.errors.isEmpty && serverOutcome.errors.isEmpty, "\(clientOutcome.errors) \(serverOutcome.errors)")
        #expect(clientOutcome.otherErrors.isEmpty && serverOutcome.otherErrors.isEmpty,
                "\(clientOutcome.otherErrors) \(serverOutcome.otherErrors)")
    }

    @Test(.timeLimit(.minutes(1))) func loopbackHalfClose() async throws {
        let peers = try await LoopbackPair.start(clientExpects: 3, serverHalfClosure: true) { context in
            // The client closed its direction: we may still answer, then close ours.
            context.writeAndFlush(NIOAny(ByteBuffer(string: "bye")), promise: nil)
            context.close(promise: nil)
        }
        defer { peers.stop() }
        _ = try await within(peers.client.handshake.futureResult)
        try await within(peers.clientChannel.writeAndFlush(ByteBuffer(string: "hi")))
        try await within(peers.clientChannel.close(mode: .output))
        #expect(try await within(peers.client.received.futureResult) == Array("bye".utf8))
        let serverOutcome = try await within(peers.server.probe.closed.futureResult)
        let clientOutcome = try await within(peers.client.closed.futureResult)
        #expect(serverOutcome.sawInputClosed)
        #expect(serverOutcome.receivedCount == 2)
        #expect(clientOutcome.errors.isEmpty && serverOutcome.errors.isEmpty, "\(clientOutcome.errors) \(serverOutcome.errors)")
        #expect(clientOutcome.otherErrors.isEmpty && serverOutcome.otherErrors.isEmpty,
                "\(clientOutcome.otherErrors) \(serverOutcome.otherErrors)")
    }

    @Test(.timeLimit(.minutes(1))) func tcpPeerSendsGarbageInsteadOfClientHello() async throws {
        let server = try await TLSServer.start()
        defer { server.stop() }
        let raw = try await RawPeer.connect(to: server.port, send: Array("SSH-2.0-OpenSSH_9.2\r\n".utf8) + [UInt8](repeating: 0x41, count: 1000), thenClose: false)
        let outcome = try await within(server.probe.closed.futureResult)
        #expect(outcome.errors.contains { $0.code == .handshakeFailed }, "\(outcome.errors)")
        try await within(raw.closeFuture)  // the server hung up on it
    }

    @Test(.timeLimit(.minutes(1))) func tcpPeerSendsHalfAHandshakeAndCloses() async throws {
        let hello = try clientHello()
        let server = try await TLSServer.start()
        defer { server.stop() }
        let raw = try await RawPeer.connect(to: server.port, send: Array(hello.prefix(hello.count / 2)), thenClose: true)
        let outcome = try await within(server.probe.closed.futureResult)
        #expect(outcome.errors.contains { $0.code == .uncleanShutdown }, "\(outcome.errors)")
        #expect(outcome.handshakeCompleted == false)
        try await within(raw.closeFuture)
    }

    // MARK: - Debian's openssl as the peer

    @Test(.timeLimit(.minutes(3)), arguments: ["-tls1_2", "-tls1_3"])
    func ourServerWithOpenSSLClient(versionFlag: String) async throws {
        guard let openssl = OpenSSLProcess.path else { return }
        let server = try await TLSServer.start(echo: true)
        defer { server.stop() }
        let client = try OpenSSLProcess(openssl, ["s_client", "-connect", "127.0.0.1:\(server.port)", "-brief",
                                                  "-servername", "www.qwertyuiop.com", versionFlag])
        defer { client.kill() }
        try client.send("hello relay\n")
        _ = try await client.waitForOutput(matching: /hello relay\n/)
        client.closeInput()  // s_client sends close_notify and exits
        #expect(await client.waitForExit() == 0, "\(client.output)")

        let expected = versionFlag == "-tls1_2" ? "TLSv1.2" : "TLSv1.3"
        let s = try await within(server.probe.handshake.futureResult)
        #expect(s.event.protocolVersion == expected)
        #expect(client.output.contains("Protocol version: \(expected)"), "\(client.output)")
        let outcome = try await within(server.probe.closed.futureResult)
        #expect(outcome.receivedCount == "hello relay\n".utf8.count)
        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
    }

    @Test(.timeLimit(.minutes(3)), arguments: ["-tls1_2", "-tls1_3"])
    func ourClientWithOpenSSLServer(versionFlag: String) async throws {
        guard let openssl = OpenSSLProcess.path else { return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relayfleet-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(TLSFixtures.certificates.link.der).write(to: URL(fileURLWithPath: dir + "/link.der"))
        try Data(TLSFixtures.linkKey.dangerouslyExportPEM().utf8).write(to: URL(fileURLWithPath: dir + "/link.pem"))

        let server = try OpenSSLProcess(openssl, ["s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-rev",
                                                  "-cert", dir + "/link.der", "-certform", "DER", "-key", dir + "/link.pem", versionFlag])
        defer { server.kill() }
        let accept = try await server.waitForOutput(matching: /ACCEPT 127\.0\.0\.1:(\d+)\n/)
        let port = try #require(Int(accept.1))

        let probe = ProbePromises.make()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    let tls = try OpenSSLTLSHandler(context: TLSFixtures.clientContext)
                    try ch.pipeline.syncOperations.addHandlers(tls, TLSProbe(tls: tls, promises: probe, expectedBytes: 12))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }

        let c = try await within(probe.handshake.futureResult)
        #expect(c.event.protocolVersion == (versionFlag == "-tls1_2" ? "TLSv1.2" : "TLSv1.3"))
        #expect(c.event.peerCertificateDER == TLSFixtures.certificates.link.der)
        #expect(c.exporter.count == 32 && c.exporter != c.exporterOtherContext)
        try await within(channel.writeAndFlush(ByteBuffer(string: "hello relay\n")))
        #expect(try await within(probe.received.futureResult) == Array("yaler olleh\n".utf8), "s_server -rev reverses the line")
        try await within(channel.close())
        let outcome = try await within(probe.closed.futureResult)
        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
        #expect(await server.waitForExit() == 0, "\(server.output)")
    }
}

// MARK: - Fixtures

enum TLSFixtures {
    static let identityKey = try! RSAPrivateKey.generate(bits: 1024)
    static let linkKey = try! RSAPrivateKey.generate(bits: 2048)
    static let certificates: (link: X509Certificate, identity: X509Certificate) = {
        var rng = SystemRandom()
        return try! X509Certificate.issueCTorStyle(linkKey: linkKey.publicKey, identityKey: identityKey, now: Date(), using: &rng)
    }()
    static let serverContext = try! TLSContext(configuration: .server(certificate: certificates.link, privateKey: linkKey))
    static let clientContext = try! TLSContext(configuration: .client(serverName: "www.abcdefghij.com"))
}

struct TestTimeout: Error, CustomStringConvertible {
    var context = "timed out"
    var description: String { context }
}

/// Awaits `future`, failing after `seconds` instead of hanging.
func within<T: Sendable>(_ future: EventLoopFuture<T>, seconds: Int64 = 20) async throws -> T {
    let promise = future.eventLoop.makePromise(of: T.self)
    future.cascade(to: promise)
    let timer = future.eventLoop.scheduleTask(in: .seconds(seconds)) { promise.fail(TestTimeout()) }
    defer { timer.cancel() }
    return try await promise.futureResult.get()
}

/// A ClientHello from our client handler, captured in memory.
func clientHello() throws -> [UInt8] {
    let (client, _) = try makeEmbedded(TLSFixtures.clientContext)
    client.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1), promise: nil)
    let hello = try #require(try client.readOutbound(as: ByteBuffer.self))
    _ = try? client.finish(acceptAlreadyClosed: true)
    return Array(hello.readableBytesView)
}

func makeEmbedded(_ context: TLSContext) throws -> (EmbeddedChannel, TLSProbe) {
    let channel = EmbeddedChannel()
    let probe = TLSProbe(tls: try OpenSSLTLSHandler(context: context), promises: ProbePromises(on: channel.eventLoop), expectedBytes: 0)
    try channel.pipeline.syncOperations.addHandlers(probe.tls, probe)
    return (channel, probe)
}

/// Moves bytes between two in-memory channels until neither has anything to send.
func shuttle(_ a: EmbeddedChannel, _ b: EmbeddedChannel) throws {
    for _ in 0..<100 {
        var moved = false
        for (from, to) in [(a, b), (b, a)] {
            while let bytes = try from.readOutbound(as: ByteBuffer.self) {
                moved = true
                if to.isActive { try to.writeInbound(bytes) }
            }
        }
        if !moved { return }
    }
    Issue.record("in-memory TLS peers never went quiet")
}

// MARK: - Probe

/// Sits after the TLS handler: records the handshake (and exporter values), data, errors and
/// the end of the channel; optionally echoes. Results are kept both as properties (for
/// EmbeddedChannel tests) and as promises (for tests over sockets).
final class TLSProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let exporterLabel = "EXPORTER FOR TOR TLS CLIENT BINDING AUTH0003"
    static let exporterContext = [UInt8](repeating: 0xA5, count: 32)
    static let otherExporterContext = [UInt8](repeating: 0x5A, count: 32)

    struct Handshake: Sendable {
        var event: TLSHandshakeCompleted
        var exporter: [UInt8]
        var exporterOtherContext: [UInt8]
    }

    struct Outcome: Sendable {
        var errors: [TLSError]
        var otherErrors: [String]
        var receivedCount: Int
        var sawInputClosed: Bool
        var handshakeCompleted: Bool
    }

    let tls: OpenSSLTLSHandler
    let echo: Bool
    let expectedBytes: Int
    let onInputClosed: (@Sendable (ChannelHandlerContext) -> Void)?
    let handshake: EventLoopPromise<Handshake>
    let received: EventLoopPromise<[UInt8]>
    let closed: EventLoopPromise<Outcome>

    private(set) var handshakeResult: Handshake?
    private(set) var bytes: [UInt8] = []
    private(set) var receivedCount = 0
    private(set) var errors: [any Error] = []
    private(set) var inactive = false
    private var sawInputClosed = false

    init(tls: OpenSSLTLSHandler, promises: ProbePromises, echo: Bool = false, expectedBytes: Int,
         onInputClosed: (@Sendable (ChannelHandlerContext) -> Void)? = nil) {
        self.tls = tls
        self.echo = echo
        self.expectedBytes = expectedBytes
        self.onInputClosed = onInputClosed
        handshake = promises.handshake
        received = promises.received
        closed = promises.closed
        if expectedBytes > 0 { bytes.reserveCapacity(expectedBytes) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let done = event as? TLSHandshakeCompleted {
            do {
                let result = Handshake(
                    event: done,
                    exporter: try tls.exportKeyingMaterial(label: Self.exporterLabel, context: Self.exporterContext, length: 32),
                    exporterOtherContext: try tls.exportKeyingMaterial(label: Self.exporterLabel, context: Self.otherExporterContext, length: 32))
                handshakeResult = result
                handshake.succeed(result)
            } catch {
                handshake.fail(error)
            }
        } else if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed {
            sawInputClosed = true
            onInputClosed?(context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        receivedCount += buffer.readableBytes
        if echo {
            context.write(data, promise: nil)
        } else {
            bytes.append(contentsOf: buffer.readableBytesView)
            if expectedBytes > 0, bytes.count >= expectedBytes { received.succeed(bytes) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if echo { context.flush() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
        handshake.fail(error)
        received.fail(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        handshake.fail(ChannelError.ioOnClosedChannel)
        received.fail(ChannelError.ioOnClosedChannel)
        closed.succeed(Outcome(errors: errors.compactMap { $0 as? TLSError },
                               otherErrors: errors.filter { !($0 is TLSError) }.map { "\($0)" },
                               receivedCount: receivedCount, sawInputClosed: sawInputClosed,
                               handshakeCompleted: handshakeResult != nil))
        context.fireChannelInactive()
    }
}

/// The results of a probe made inside a channel initializer, awaited by the test.
struct ProbePromises: Sendable {
    let handshake: EventLoopPromise<TLSProbe.Handshake>
    let received: EventLoopPromise<[UInt8]>
    let closed: EventLoopPromise<TLSProbe.Outcome>

    init(on loop: any EventLoop) {
        handshake = loop.makePromise()
        received = loop.makePromise()
        closed = loop.makePromise()
    }

    static func make() -> ProbePromises { ProbePromises(on: MultiThreadedEventLoopGroup.singleton.any()) }
}

// MARK: - Peers

/// Our TLS server on 127.0.0.1 (port 0) with a probe on the one connection it expects.
struct TLSServer: Sendable {
    let channel: any Channel
    let probe: ProbePromises
    let child: EventLoopPromise<any Channel>
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(echo: Bool = false, halfClosure: Bool = false,
                      onInputClosed: (@Sendable (ChannelHandlerContext) -> Void)? = nil) async throws -> TLSServer {
        let probe = ProbePromises.make()
        let child = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: (any Channel).self)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: halfClosure)
            .childChannelInitializer { ch in
                child.succeed(ch)
                return ch.eventLoop.makeCompletedFuture {
                    let tls = try OpenSSLTLSHandler(context: TLSFixtures.serverContext)
                    try ch.pipeline.syncOperations.addHandlers(
                        tls, TLSProbe(tls: tls, promises: probe, echo: echo, expectedBytes: 0, onInputClosed: onInputClosed))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TLSServer(channel: channel, probe: probe, child: child)
    }

    func stop() {
        channel.close(promise: nil)
        child.futureResult.whenSuccess { $0.close(promise: nil) }
        child.fail(ChannelError.ioOnClosedChannel)  // no connection came: nothing to close
    }
}

/// Our client connected to our server over loopback TCP.
struct LoopbackPair: Sendable {
    let server: TLSServer
    let clientChannel: any Channel
    let client: ProbePromises

    static func start(clientExpects: Int, serverHalfClosure: Bool = false,
                      onServerInputClosed: (@Sendable (ChannelHandlerContext) -> Void)? = nil) async throws -> LoopbackPair {
        let server = try await TLSServer.start(echo: !serverHalfClosure, halfClosure: serverHalfClosure, onInputClosed: onServerInputClosed)
        let client = ProbePromises.make()
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        let tls = try OpenSSLTLSHandler(context: TLSFixtures.clientContext)
                        try ch.pipeline.syncOperations.addHandlers(tls, TLSProbe(tls: tls, promises: client, expectedBytes: clientExpects))
                    }
                }
                .connect(host: "127.0.0.1", port: server.port).get()
            return LoopbackPair(server: server, clientChannel: channel, client: client)
        } catch {
            server.stop()
            throw error
        }
    }

    func stop() {
        clientChannel.close(promise: nil)
        server.stop()
    }
}

/// A plain TCP peer with no TLS at all.
enum RawPeer {
    static func connect(to port: Int, send bytes: [UInt8], thenClose: Bool) async throws -> any Channel {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
        if thenClose { try await channel.close().get() }
        return channel
    }
}

/// Debian's `openssl` running as a TLS peer: output collected as it comes, killed by PID.
final class OpenSSLProcess: @unchecked Sendable {
    static let path: String? = ["/usr/bin/openssl", "/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    private let process = Process()
    private let input = Pipe()
    private let lock = NSLock()
    private var collected = Data()

    init(_ program: String, _ arguments: [String]) throws {
        signal(SIGPIPE, SIG_IGN)  // writing to a peer that already exited must not kill the tests
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let reader = output.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let data = reader.availableData
                if data.isEmpty { return }
                lock.withLock { collected.append(data) }
            }
        }
    }

    var output: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

    func send(_ text: String) throws { try input.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }

    func closeInput() { try? input.fileHandleForWriting.close() }

    /// Generous: under a loaded machine (parallel suites, builds) openssl has been seen to need
    /// more than 20 s to print its ACCEPT line.
    func waitForOutput<Output>(matching regex: Regex<Output>, seconds: Double = 60) async throws -> Output {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let match = output.firstMatch(of: regex) { return match.output }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestTimeout(context: "openssl output never matched; got: \(output)")
    }

    /// The exit status, or nil if it did not exit within `seconds`.
    func waitForExit(seconds: Double = 60) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        closeInput()
    }
}
