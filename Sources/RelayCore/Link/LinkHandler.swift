import Foundation
import Logging
import NIOCore
import TorCrypto
import TorProtocol

/// Owns one link after TLS: runs the pure handshake state machine (either role), switches the
/// codec to wide circuit IDs, enforces the handshake timeout, registers the open link, and
/// closes the link with a logged (redacted) reason and a counted failure on any violation.
public final class LinkHandler: ChannelDuplexHandler {
    public typealias InboundIn = Cell
    public typealias InboundOut = Cell
    public typealias OutboundIn = Cell
    public typealias OutboundOut = Cell

    enum Handshake {
        case responder(ResponderHandshake)
        case initiator(InitiatorHandshake)
    }

    enum State {
        /// Initiator waiting for TLS to finish before sending VERSIONS.
        case awaitingTLS(Handshake)
        case handshaking(Handshake)
        case open(LinkEstablished)
        case closed
    }

    public struct Configuration: Sendable {
        public var handshakeTimeout: TimeAmount = .seconds(30)
        public var safeLog = SafeLog()
        public init() {}
    }

    private var state: State
    private let tls: OpenSSLTLSHandler
    private let decoder: CellDecoder
    private let encoder: CellEncoder
    private let registry: LinkRegistry
    private let stats: LinkStats
    private let configuration: Configuration
    private var logger: Logger
    private var peerCertificate: [UInt8]?
    private var timeout: Scheduled<Void>?
    private var rng = SystemRandom()
    private var isOutbound: Bool
    private let openPromise: EventLoopPromise<LinkEstablished>?

    /// A link we accepted on the ORPort.
    public init(responder credentials: LinkCredentials, ourAddresses: [NetinfoAddress], peerAddress: NetinfoAddress,
                tls: OpenSSLTLSHandler, decoder: CellDecoder, encoder: CellEncoder,
                registry: LinkRegistry, stats: LinkStats, configuration: Configuration, logger: Logger) {
        state = .handshaking(.responder(ResponderHandshake(credentials: credentials, ourAddresses: ourAddresses, peerAddress: peerAddress)))
        self.tls = tls
        self.decoder = decoder
        self.encoder = encoder
        self.registry = registry
        self.stats = stats
        self.configuration = configuration
        self.logger = logger
        isOutbound = false
        openPromise = nil
    }

    /// A link we opened; `opened` completes when the handshake does (or fails with the reason).
    public init(initiator credentials: LinkCredentials?, expected: InitiatorHandshake.ExpectedPeer?,
                ourAddresses: [NetinfoAddress], peerAddress: NetinfoAddress,
                tls: OpenSSLTLSHandler, decoder: CellDecoder, encoder: CellEncoder,
                registry: LinkRegistry, stats: LinkStats, configuration: Configuration, logger: Logger,
                opened: EventLoopPromise<LinkEstablished>) {
        state = .awaitingTLS(.initiator(InitiatorHandshake(credentials: credentials, expected: expected,
                                                           ourAddresses: ourAddresses, peerAddress: peerAddress)))
        self.tls = tls
        self.decoder = decoder
        self.encoder = encoder
        self.registry = registry
        self.stats = stats
        self.configuration = configuration
        self.logger = logger
        isOutbound = true
        openPromise = opened
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        logger[metadataKey: "peer"] = "\(configuration.safeLog.address(context.remoteAddress))"
        if context.channel.isActive { armTimeout(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        armTimeout(context)
        context.fireChannelActive()
    }

    private var kind: LinkStats.Kind {
        LinkStats.Kind(outbound: isOutbound, ipv6: peerIsIPv6)
    }
    private var peerIsIPv6 = false

    private func armTimeout(_ context: ChannelHandlerContext) {
        guard timeout == nil else { return }
        // Runs once, when the connection is up: count it.
        peerIsIPv6 = context.remoteAddress?.protocol == .inet6
        stats.created(kind)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: configuration.handshakeTimeout) {
            let (handler, context) = loopBound.value
            handler.fail(context, category: "timeout", reason: "link handshake did not finish in time")
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let done = event as? TLSHandshakeCompleted {
            peerCertificate = done.peerCertificateDER
            if case var .awaitingTLS(.initiator(h)) = state {
                let actions = h.start(peerAddress: NetinfoAddress(context.remoteAddress))
                state = .handshaking(.initiator(h))
                perform(actions, context)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let cell = unwrapInboundIn(data)
        switch state {
        case var .handshaking(.responder(h)):
            let actions = h.receive(cell, now: Date(), using: &rng, exporter: exporter)
            state = .handshaking(.responder(h))
            perform(actions, context)
        case var .handshaking(.initiator(h)):
            let actions = h.receive(cell, now: Date(), peerTLSCertificateDER: peerCertificate, using: &rng, exporter: exporter)
            state = .handshaking(.initiator(h))
            perform(actions, context)
        case .awaitingTLS:
            fail(context, category: "protocol", reason: "cell before the TLS handshake finished")
        case .open:
            handleOpenLinkCell(cell, context)
        case .closed:
            break
        }
    }

    /// Cells on an open link go to the circuit layer; padding stays here; handshake cells
    /// after the handshake are a violation.
    private func handleOpenLinkCell(_ cell: Cell, _ context: ChannelHandlerContext) {
        switch cell.command {
        case .padding, .vpadding, .paddingNegotiate:
            return
        case .versions, .certs, .authChallenge, .authenticate, .netinfo:
            fail(context, category: "protocol", reason: "handshake cell \(cell.command) on an open link")
        default:
            context.fireChannelRead(wrapInboundOut(cell))
        }
    }

    private var exporter: ([UInt8]) throws -> [UInt8] {
        { [tls] ctx in try tls.exportKeyingMaterial(label: "EXPORTER FOR TOR TLS CLIENT BINDING AUTH0003", context: ctx, length: 32) }
    }

    private func perform(_ actions: [LinkAction], _ context: ChannelHandlerContext) {
        var wrote = false
        for action in actions {
            switch action {
            case let .send(cell):
                context.write(wrapOutboundOut(cell), promise: nil)
                wrote = true
            case .useWideCircuitIDs:
                decoder.linkVersionNegotiated(4)
                encoder.linkVersionNegotiated(4)
            case let .open(established):
                if wrote { context.flush(); wrote = false }
                opened(established, context)
            case let .close(reason):
                if wrote { context.flush(); wrote = false }
                fail(context, category: Self.category(of: reason), reason: reason)
                return
            }
        }
        if wrote { context.flush() }
    }

    private func opened(_ e: LinkEstablished, _ context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = nil
        state = .open(e)
        stats.opened(authenticated: e.peer != nil, kind: kind)
        logger.info("link open", metadata: [
            "version": "\(e.linkVersion)",
            "peer_identity": "\(e.peer.map { $0.rsaFingerprint.dollarHex } ?? "client")",
            "direction": "\(isOutbound ? "outbound" : "inbound")",
        ])
        context.fireUserInboundEventTriggered(LinkOpened(established: e, outbound: isOutbound))
        openPromise?.succeed(e)
    }

    private func fail(_ context: ChannelHandlerContext, category: String, reason: String) {
        switch state {
        case .closed: return
        case .open: break
        case .awaitingTLS, .handshaking: stats.failed(category)
        }
        logger.notice("closing link", metadata: ["reason": "\(reason)"])
        openPromise?.fail(LinkError(reason: reason))
        finish(context)
        context.close(promise: nil)
    }

    private func finish(_ context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = nil
        if case let .open(e) = state {
            stats.closedOpen(authenticated: e.peer != nil, kind: kind)
        }
        state = .closed
    }

    public func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .open, .closed:
            break
        default:
            stats.failed("closed")
            openPromise?.fail(LinkError(reason: "connection closed during the link handshake"))
        }
        finish(context)
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        let category = error is TLSError ? "tls" : "protocol"
        fail(context, category: category, reason: "\(error)")
    }

    static func category(of reason: String) -> String {
        if reason.contains("certificate") || reason.contains("CERTS") { return "certificate" }
        if reason.contains("expected") { return "identity" }
        return "protocol"
    }
}

@available(*, unavailable)
extension LinkHandler: Sendable {}

public struct LinkError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public var description: String { reason }
}
