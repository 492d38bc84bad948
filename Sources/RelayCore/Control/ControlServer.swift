import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TorProtocol

/// One command as the controller sent it: the line, and for "+KEYWORD" commands the lines of
/// the data section (up to the "." line, dot-unstuffed).
public struct ControlCommand: Equatable, Sendable {
    public var line: String
    public var data: [String]?
}

/// Splits the byte stream into commands: lines end in LF (a CR before it is dropped);
/// "+KEYWORD" commands run to a line holding only ".". A line longer than `maxLine` or a data
/// section longer than `maxData` is an error: the connection is answered and closed.
public struct ControlLineDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ControlCommand
    public struct TooLong: Error {}
    let maxLine: Int
    let maxData: Int
    var pending: ControlCommand?
    var pendingBytes = 0

    public init(maxLine: Int = 16 * 1024, maxData: Int = 1 << 20) {
        self.maxLine = maxLine
        self.maxData = maxData
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let lf = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maxLine { throw TooLong() }
            return .needMoreData
        }
        let length = lf - buffer.readerIndex
        guard length <= maxLine else { throw TooLong() }
        var bytes = buffer.readBytes(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        let line = String(decoding: bytes, as: UTF8.self)
        if var p = pending {
            if line == "." {
                pending = nil
                pendingBytes = 0
                context.fireChannelRead(wrapInboundOut(p))
            } else {
                pendingBytes += line.utf8.count + 1
                guard pendingBytes <= maxData else { throw TooLong() }
                p.data!.append(line.hasPrefix(".") ? String(line.dropFirst()) : line)
                pending = p
            }
            return .continue
        }
        if line.hasPrefix("+") {
            pending = ControlCommand(line: line, data: [])
            return .continue
        }
        context.fireChannelRead(wrapInboundOut(ControlCommand(line: line, data: nil)))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// The control listeners and their connections. Event text is pushed with `publish`; each
/// connection gets the events its session asked for with SETEVENTS.
public final class ControlServer: Sendable {
    /// At most this many controllers at once; more are closed at once.
    public static let maxConnections = 16

    let channels: [any Channel]
    let hub: ControlHub

    init(channels: [any Channel], hub: ControlHub) {
        self.channels = channels
        self.hub = hub
    }

    public static func bind(_ listeners: [ControlPortConfig.Listener], group: any EventLoopGroup, auth: ControlAuthConfig,
                            backend: any ControlBackend, logger: Logger) async throws -> ControlServer {
        let hub = ControlHub()
        var channels: [any Channel] = []
        do {
            for l in listeners {
                let bootstrap = ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer { ch in
                        ch.eventLoop.makeCompletedFuture {
                            guard hub.admit() else {
                                ch.close(promise: nil)
                                return
                            }
                            let handler = ControlHandler(session: ControlSession(auth: auth, backend: backend), hub: hub, logger: logger)
                            try ch.pipeline.syncOperations.addHandlers(ByteToMessageHandler(ControlLineDecoder()), handler)
                        }
                    }
                switch l {
                case let .tcp(host, port):
                    channels.append(try await bootstrap.bind(host: host, port: port).get())
                case let .unix(path):
                    channels.append(try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get())
                    chmod(path, 0o600)
                }
            }
        } catch {
            for c in channels { try? await c.close() }
            throw error
        }
        return ControlServer(channels: channels, hub: hub)
    }

    /// Where each listener listens, as GETINFO net/listeners/control prints them.
    public var addresses: [String] {
        channels.compactMap { ch in
            guard let a = ch.localAddress else { return nil }
            if let path = a.pathname { return "unix:\(path)" }
            guard let ip = a.ipAddress, let port = a.port else { return nil }
            return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
    }

    /// Sends an asynchronous event line (without "650 " and CRLF) to every connection that
    /// subscribed to `event`.
    public func publish(_ event: String, _ text: String) {
        hub.publish(event, "650 \(text)\r\n")
    }

    public var connectionCount: Int { hub.count }

    public func close() async {
        for c in channels { try? await c.close() }
        hub.closeAll()
    }
}

/// The open control connections, for events and the connection limit.
final class ControlHub: Sendable {
    struct Entry: Sendable {
        let channel: any Channel
        let deliver: @Sendable (String, String) -> Void
    }
    private let state = NIOLockedValueBox<(admitted: Int, entries: [ObjectIdentifier: Entry])>((0, [:]))

    func admit() -> Bool {
        state.withLockedValue { s in
            guard s.admitted < ControlServer.maxConnections else { return false }
            s.admitted += 1
            return true
        }
    }

    func register(_ id: ObjectIdentifier, _ entry: Entry) { state.withLockedValue { $0.entries[id] = entry } }

    func leave(_ id: ObjectIdentifier) {
        state.withLockedValue { s in
            s.entries.removeValue(forKey: id)
            s.admitted = max(0, s.admitted - 1)
        }
    }

    var count: Int { state.withLockedValue { $0.entries.count } }

    func publish(_ event: String, _ text: String) {
        for e in state.withLockedValue({ Array($0.entries.values) }) { e.deliver(event, text) }
    }

    func closeAll() {
        for e in state.withLockedValue({ Array($0.entries.values) }) { e.channel.close(promise: nil) }
    }
}

/// One control connection: commands in, replies out, events when subscribed.
final class ControlHandler: ChannelInboundHandler {
    typealias InboundIn = ControlCommand
    typealias OutboundOut = ByteBuffer
    let session: ControlSession
    let hub: ControlHub
    let logger: Logger
    private var closing = false

    init(session: ControlSession, hub: ControlHub, logger: Logger) {
        self.session = session
        self.hub = hub
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        hub.register(ObjectIdentifier(self), .init(channel: context.channel, deliver: { event, text in
            loop.execute {
                let (h, ctx) = bound.value
                guard !h.closing, h.session.authenticated, h.session.events.contains(event) else { return }
                ctx.writeAndFlush(NIOAny(ctx.channel.allocator.buffer(string: text)), promise: nil)
            }
        }))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        hub.leave(ObjectIdentifier(self))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let command = unwrapInboundIn(data)
        let reply = session.handle(command.line, data: command.data)
        if !reply.text.isEmpty {
            context.write(wrapOutboundOut(context.channel.allocator.buffer(string: reply.text)), promise: nil)
        }
        if reply.close {
            closing = true
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.flush()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        closing = true
        let text = error is ControlLineDecoder.TooLong ? "500 Line too long\r\n" : "500 Internal error\r\n"
        if !(error is ControlLineDecoder.TooLong) { logger.info("control connection error", metadata: ["error": "\(error)"]) }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text))).whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
