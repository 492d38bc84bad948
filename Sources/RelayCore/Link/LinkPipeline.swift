import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TorProtocol

/// The current link credentials and the TLS server context made from them; replaced together
/// when they rotate. Read by every accepted connection, from any loop.
public final class LinkCredentialStore: Sendable {
    public struct Current: Sendable {
        public let credentials: LinkCredentials
        public let serverTLS: TLSContext
        public let clientTLS: TLSContext
    }

    private let box: NIOLockedValueBox<Current>

    public init(_ credentials: LinkCredentials) throws {
        box = NIOLockedValueBox(try Self.make(credentials))
    }

    public var current: Current { box.withLockedValue { $0 } }

    public func replace(with credentials: LinkCredentials) throws {
        let c = try Self.make(credentials)
        box.withLockedValue { $0 = c }
    }

    static func make(_ credentials: LinkCredentials) throws -> Current {
        Current(credentials: credentials,
                serverTLS: try TLSContext(configuration: .server(certificate: credentials.tlsCert, privateKey: credentials.tlsKey)),
                clientTLS: try TLSContext(configuration: .client()))
    }
}

/// What every link needs, shared across loops.
public struct LinkEnvironment: Sendable {
    public let credentials: LinkCredentialStore
    public let relay: RelayContext
    public let stats: LinkStats
    public let ourAddresses: [NetinfoAddress]
    public let configuration: LinkHandler.Configuration
    public let logger: Logger
    /// Raw bytes read and written on every link (below TLS).
    public let traffic: TrafficCounters
    /// BandwidthRate/BandwidthBurst for every link; nil: unlimited.
    public let limiter: BandwidthLimiter?
    public var registry: LinkRegistry { relay.registry }

    public init(credentials: LinkCredentialStore, relay: RelayContext, stats: LinkStats,
                ourAddresses: [NetinfoAddress], configuration: LinkHandler.Configuration, logger: Logger,
                traffic: TrafficCounters = TrafficCounters(), limiter: BandwidthLimiter? = nil) {
        self.traffic = traffic
        self.limiter = limiter
        self.credentials = credentials
        self.relay = relay
        self.stats = stats
        self.ourAddresses = ourAddresses
        self.configuration = configuration
        self.logger = logger
    }
}

enum LinkPipeline {
    /// TLS → cell decoder/encoder → link handler, for an accepted connection.
    static func configureResponder(_ channel: any Channel, _ env: LinkEnvironment) throws {
        let current = env.credentials.current
        let tls = try OpenSSLTLSHandler(context: current.serverTLS)
        let decoder = CellDecoder(), encoder = CellEncoder()
        let link = LinkHandler(responder: current.credentials, ourAddresses: env.ourAddresses,
                               peerAddress: NetinfoAddress(channel.remoteAddress),
                               tls: tls, decoder: decoder, encoder: encoder, registry: env.registry,
                               stats: env.stats, configuration: env.configuration, logger: env.logger)
        let ops = channel.pipeline.syncOperations
        try ops.addHandler(env.traffic.makeHandler())
        if let limiter = env.limiter { try ops.addHandler(BandwidthLimitHandler(limiter: limiter)) }
        try ops.addHandler(tls)
        try ops.addHandler(ByteToMessageHandler(decoder))
        try ops.addHandler(MessageToByteHandler(encoder))
        try ops.addHandler(link)
        try ops.addHandler(LinkMux(relay: env.relay))
    }

    static func configureInitiator(_ channel: any Channel, _ env: LinkEnvironment, authenticate: Bool,
                                   expected: InitiatorHandshake.ExpectedPeer?,
                                   opened: EventLoopPromise<LinkEstablished>,
                                   circuitLayer: (@Sendable () -> any ChannelHandler)? = nil) throws {
        let current = env.credentials.current
        let tls = try OpenSSLTLSHandler(context: current.clientTLS)
        let decoder = CellDecoder(), encoder = CellEncoder()
        let link = LinkHandler(initiator: authenticate ? current.credentials : nil, expected: expected,
                               ourAddresses: env.ourAddresses, peerAddress: NetinfoAddress(channel.remoteAddress),
                               tls: tls, decoder: decoder, encoder: encoder, registry: env.registry,
                               stats: env.stats, configuration: env.configuration, logger: env.logger, opened: opened)
        let ops = channel.pipeline.syncOperations
        try ops.addHandler(env.traffic.makeHandler())
        if let limiter = env.limiter { try ops.addHandler(BandwidthLimitHandler(limiter: limiter)) }
        try ops.addHandler(tls)
        try ops.addHandler(ByteToMessageHandler(decoder))
        try ops.addHandler(MessageToByteHandler(encoder))
        try ops.addHandler(link)
        try ops.addHandler(circuitLayer?() ?? LinkMux(relay: env.relay))
    }
}

/// Counts a connection against its address's cap for as long as it is open.
final class ConnectionCapHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let registry: LinkRegistry
    let address: String
    init(registry: LinkRegistry, address: String) {
        self.registry = registry
        self.address = address
    }
    func handlerAdded(context: ChannelHandlerContext) { registry.track(context.channel) }
    func channelInactive(context: ChannelHandlerContext) {
        registry.release(address: address, channel: context.channel)
        context.fireChannelInactive()
    }
}

/// The ORPort: accepts links on every loop of `group`.
public final class ORListener: Sendable {
    public let channel: any Channel

    public var localAddress: SocketAddress? { channel.localAddress }

    public static func bind(host: String, port: Int, group: any EventLoopGroup, environment env: LinkEnvironment) async throws -> ORListener {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let address = channel.remoteAddress?.ipAddress ?? "?"
                    // Hibernating (AccountingMax): no new connections, as C tor closes its listeners.
                    guard env.relay.hibernation == .awake else { throw LinkError(reason: "hibernating") }
                    guard env.registry.admit(address: address) else {
                        env.stats.refusedOverLimit(ipv6: channel.remoteAddress?.protocol == .inet6)
                        throw LinkError(reason: "too many connections from one address")
                    }
                    try channel.pipeline.syncOperations.addHandler(ConnectionCapHandler(registry: env.registry, address: address))
                    try LinkPipeline.configureResponder(channel, env)
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        return ORListener(channel: channel)
    }

    init(channel: any Channel) { self.channel = channel }

    public func close() async throws {
        try await channel.close()
    }
}

/// Opens links to other relays (for EXTEND) or, without authentication, as a client would.
public struct LinkConnector: Sendable {
    public let environment: LinkEnvironment
    public let group: any EventLoopGroup

    public init(environment: LinkEnvironment, group: any EventLoopGroup) {
        self.environment = environment
        self.group = group
    }

    /// Connects and completes the handshake; the future fails if the peer is not `expected`.
    /// `source`: the local address to connect from (CTor's `OutboundBindAddress`).
    /// `circuitLayer`: the handler above the link instead of a `LinkMux` (test clients).
    public func connect(host: String, port: Int, expected: InitiatorHandshake.ExpectedPeer?,
                        authenticate: Bool = true, timeout: TimeAmount = .seconds(20),
                        source: SocketAddress? = nil,
                        circuitLayer: (@Sendable () -> any ChannelHandler)? = nil) -> EventLoopFuture<(any Channel, LinkEstablished)> {
        let loop = group.next()
        let opened = loop.makePromise(of: LinkEstablished.self)
        let env = environment
        var bootstrap = ClientBootstrap(group: loop)
        if let source { bootstrap = bootstrap.bind(to: source) }
        return bootstrap
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try LinkPipeline.configureInitiator(channel, env, authenticate: authenticate, expected: expected,
                                                        opened: opened, circuitLayer: circuitLayer)
                }
            }
            .connect(host: host, port: port)
            .flatMapError { error in
                opened.fail(error)
                return loop.makeFailedFuture(error)
            }
            .flatMap { channel in opened.futureResult.map { (channel, $0) } }
    }
}
