import Foundation
import NIOCore
import NIOPosix

/// An answer from a directory server.
public struct DirectoryResponse: Sendable {
    public let status: Int
    /// The status line's reason phrase: CTor authorities put their verdict on an uploaded
    /// descriptor here ("Missing TAP key in descriptor.", …).
    public let reason: String
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

public struct DirectoryClientError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// HTTP/1.0 to a directory authority's DirPort, the way CTor relays talk to authorities:
/// one request per connection, the server closes after the response.
///
/// The response is framed here rather than by NIOHTTP1's decoder because that decoder
/// discards the reason phrase, and the reason phrase is where a CTor authority says why it
/// rejected a descriptor; the request side is a fixed few lines.
public enum DirectoryHTTPClient {
    public static let defaultMaxResponse = 64 << 20

    public static func get(host: String, port: Int, path: String, group: any EventLoopGroup,
                           timeout: TimeAmount = .seconds(30), maxResponse: Int = defaultMaxResponse) async throws -> DirectoryResponse {
        try await request(method: "GET", host: host, port: port, path: path, body: [], extraHeaders: [],
                          group: group, timeout: timeout, maxResponse: maxResponse)
    }

    public static func post(host: String, port: Int, path: String, body: [UInt8], extraHeaders: [(String, String)] = [],
                            group: any EventLoopGroup, timeout: TimeAmount = .seconds(30)) async throws -> DirectoryResponse {
        try await request(method: "POST", host: host, port: port, path: path, body: body, extraHeaders: extraHeaders,
                          group: group, timeout: timeout, maxResponse: 1 << 20)
    }

    static func request(method: String, host: String, port: Int, path: String, body: [UInt8], extraHeaders: [(String, String)],
                        group: any EventLoopGroup, timeout: TimeAmount, maxResponse: Int) async throws -> DirectoryResponse {
        var head = "\(method) \(path) HTTP/1.0\r\nHost: \(host):\(port)\r\n"
        for (k, v) in extraHeaders { head += "\(k): \(v)\r\n" }
        if method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        let loop = group.next()
        let done = loop.makePromise(of: [UInt8].self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(timeout)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(ResponseCollector(done: done, limit: maxResponse))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            done.fail(error)
            throw DirectoryClientError("cannot connect to \(host):\(port): \(error)")
        }
        let timeoutError = DirectoryClientError("\(host):\(port) did not answer \(method) \(path) within \(timeout.nanoseconds / 1_000_000_000) s")
        let timer = loop.scheduleTask(in: timeout) {
            channel.pipeline.fireErrorCaught(timeoutError)
        }
        var buffer = channel.allocator.buffer(capacity: head.utf8.count + body.count)
        buffer.writeString(head)
        buffer.writeBytes(body)
        channel.writeAndFlush(buffer, promise: nil)
        defer { timer.cancel() }
        let raw = try await done.futureResult.get()
        return try parse(raw, from: "\(host):\(port)")
    }

    /// Splits a complete HTTP/1.x response into status line, headers and body.
    public static func parse(_ raw: [UInt8], from source: String) throws -> DirectoryResponse {
        let sep: [UInt8] = [13, 10, 13, 10]
        guard let end = raw.firstRange(of: sep) else {
            throw DirectoryClientError("\(source) sent an incomplete HTTP response (\(raw.count) bytes)")
        }
        guard let headText = String(bytes: raw[..<end.lowerBound], encoding: .utf8) else {
            throw DirectoryClientError("\(source) sent HTTP headers that are not UTF-8")
        }
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
            throw DirectoryClientError("\(source) sent a bad HTTP status line '\(statusLine.prefix(80))'")
        }
        var headers = [(name: String, value: String)]()
        for l in lines where !l.isEmpty {
            guard let colon = l.firstIndex(of: ":") else { continue }
            headers.append((String(l[..<colon]), l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var body = Array(raw[end.upperBound...])
        if let field = headers.first(where: { $0.name.lowercased() == "content-length" }) {
            guard let cl = Int(field.value), cl >= 0 else {
                throw DirectoryClientError("\(source) sent a bad Content-Length '\(field.value.prefix(20))'")
            }
            if cl < body.count { body = Array(body.prefix(cl)) }
        }
        return DirectoryResponse(status: status, reason: parts.count == 3 ? String(parts[2]) : "", headers: headers, body: body)
    }
}

/// Collects everything the server sends until it closes the connection.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<[UInt8]>
    let limit: Int
    var bytes = [UInt8]()
    var failure: (any Error)?

    init(done: EventLoopPromise<[UInt8]>, limit: Int) {
        self.done = done
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var b = unwrapInboundIn(data)
        bytes += b.readBytes(length: b.readableBytes) ?? []
        if bytes.count > limit, failure == nil {
            failure = DirectoryClientError("directory response over \(limit) bytes")
            context.close(promise: nil)
        }
    }

    /// The promise completes here, exactly once: after a timeout or error the channel is
    /// closed and the recorded failure is reported.
    func channelInactive(context: ChannelHandlerContext) {
        if let failure { done.fail(failure) } else { done.succeed(bytes) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if failure == nil { failure = error }
        context.close(promise: nil)
    }
}
