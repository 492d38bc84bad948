import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import TorProtocol

/// The MetricsPort: `GET /metrics` answers Prometheus text; anything else 404 (405 for other
/// methods). A client the `MetricsPortPolicy` does not accept is disconnected before a byte is
/// read. One request per connection (`Connection: close`), as a scraper needs.
public final class MetricsServer: Sendable {
    public let channel: any Channel
    public var localAddress: SocketAddress? { channel.localAddress }

    public static func bind(host: String, port: Int, group: any EventLoopGroup, policy: ExitPolicy,
                            metrics: RelayMetrics, logger: Logger) async throws -> MetricsServer {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard let address = channel.remoteAddress.flatMap(Self.addressBytes), policy.allows(address: address, port: 1) else {
                    logger.info("MetricsPort connection refused by MetricsPortPolicy")
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics))
                }
            }
        return MetricsServer(channel: try await bootstrap.bind(host: host, port: port).get())
    }

    init(channel: any Channel) { self.channel = channel }

    public func close() async throws {
        try await channel.close()
    }

    /// The 4 or 16 address bytes of an IP socket address.
    static func addressBytes(_ a: SocketAddress) -> [UInt8]? {
        switch a {
        case .v4(let v4): return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6): return withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        default: return nil
        }
    }
}

/// Answers one HTTP request on a MetricsPort connection.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: RelayMetrics
    private var request: HTTPRequestHead?

    init(metrics: RelayMetrics) { self.metrics = metrics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            guard head.method == .GET || head.method == .HEAD else {
                return respond(context, head, .methodNotAllowed, "only GET\n", type: "text/plain")
            }
            guard path == "/metrics" else { return respond(context, head, .notFound, "try /metrics\n", type: "text/plain") }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let metrics = self.metrics
            let loop = context.eventLoop
            Task {
                let text = await metrics.render()
                loop.execute {
                    let (handler, context) = bound.value
                    handler.respond(context, head, .ok, text, type: "text/plain; version=0.0.4; charset=utf-8")
                }
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus,
                         _ body: String, type: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension MetricsHTTPHandler: Sendable {}
