import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TorProtocol
@testable import RelayCore

/// Deterministic test bytes: a byte stream anyone can regenerate from the offset. It repeats
/// every 2^21 bytes (the byte is the low 8 bits of (i·K >> 13) ^ i, which depend only on
/// i mod 2^21), so tests copy and compare slices of one table instead of computing byte by
/// byte: in a debug build, and more so under ThreadSanitizer, the per-byte loop made the test
/// server and the checks the slowest part of the bulk tests, on event loops the relays share.
let patternPeriod = 1 << 21
let patternTable: [UInt8] = (0..<patternPeriod).map { UInt8(truncatingIfNeeded: ($0 &* 2654435761) >> 13 ^ $0) }
func patternByte(_ i: Int) -> UInt8 { patternTable[i & (patternPeriod - 1)] }

/// Writes pattern bytes [offset, offset + count) into `buffer`.
func writePattern(into buffer: inout ByteBuffer, from offset: Int, count: Int) {
    var at = offset, left = count
    while left > 0 {
        let start = at % patternPeriod
        let n = min(left, patternPeriod - start)
        buffer.writeBytes(patternTable[start..<start + n])
        at += n
        left -= n
    }
}

/// The first index where `bytes` differs from the pattern, or nil if it matches throughout.
func firstPatternMismatch(_ bytes: [UInt8]) -> Int? {
    bytes.withUnsafeBytes { got in
        patternTable.withUnsafeBytes { table in
            var at = 0
            while at < got.count {
                let n = min(got.count - at, patternPeriod)
                if memcmp(got.baseAddress! + at, table.baseAddress!, n) != 0 {
                    return (at..<at + n).first { got[$0] != patternByte($0) }
                }
                at += n
            }
            return nil
        }
    }
}

/// A TCP server on 127.0.0.1 for exit tests. `source`: reads "N\n", sends N pattern bytes,
/// closes. `echo`: sends back what it reads.
final class TestTCPServer: @unchecked Sendable {
    enum Mode { case source, echo }
    let channel: any Channel
    /// Connections accepted and not yet closed.
    let open: NIOLockedValueBox<Int>
    var port: Int { channel.localAddress!.port! }
    var openConnections: Int { open.withLockedValue { $0 } }

    /// `keepsSendingAfterEOF`: a server that goes on with its answer when the other side has
    /// closed its half (as most servers in the middle of a response do).
    static func start(_ mode: Mode, group: any EventLoopGroup, keepsSendingAfterEOF: Bool = false) async throws -> TestTCPServer {
        let open = NIOLockedValueBox(0)
        let ch = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: keepsSendingAfterEOF)
            .childChannelInitializer { c in
                c.eventLoop.makeCompletedFuture {
                    try c.pipeline.syncOperations.addHandler(ConnectionCounter(open))
                    try c.pipeline.syncOperations.addHandler(mode == .source ? SourceHandler() as any ChannelHandler : EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TestTCPServer(channel: ch, open: open)
    }
    init(channel: any Channel, open: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.open = open
    }
    func stop() async { try? await channel.close() }

    final class ConnectionCounter: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let open: NIOLockedValueBox<Int>
        init(_ open: NIOLockedValueBox<Int>) { self.open = open }
        func channelActive(context: ChannelHandlerContext) {
            open.withLockedValue { $0 += 1 }
            context.fireChannelActive()
        }
        func channelInactive(context: ChannelHandlerContext) {
            open.withLockedValue { $0 -= 1 }
            context.fireChannelInactive()
        }
    }

    final class EchoHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.writeAndFlush(data, promise: nil) }
    }

    final class SourceHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        var request = ""
        var sent = false
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !sent else { return }
            var b = unwrapInboundIn(data)
            request += b.readString(length: b.readableBytes) ?? ""
            guard let nl = request.firstIndex(of: "\n"), let n = Int(request[..<nl]) else { return }
            sent = true
            var offset = 0
            let chunk = 64 * 1024
            func writeMore() {
                while offset < n && context.channel.isWritable {
                    let m = min(chunk, n - offset)
                    var out = context.channel.allocator.buffer(capacity: m)
                    writePattern(into: &out, from: offset, count: m)
                    offset += m
                    context.write(wrapOutboundOut(out), promise: nil)
                }
                context.flush()
                if offset >= n { context.close(mode: .output, promise: nil) }
            }
            self.writeMore = writeMore
            writeMore()
        }
        var writeMore: (() -> Void)?
        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable { writeMore?() }
        }
    }
}

@available(*, unavailable)
extension TestTCPServer.SourceHandler: Sendable {}

extension TestCircuit {
    /// BEGIN to the last hop; returns the CONNECTED message (or throws with the END reason).
    func begin(streamID: UInt16, target: String) async throws -> RelayMessage {
        try await send(command: RelayCommand.begin.rawValue, streamID: streamID, data: Array("\(target)\u{0}".utf8))
        let m = try await receive()
        guard m.command == RelayCommand.connected.rawValue else {
            throw ClientError("BEGIN answered by command \(m.command) data \(m.data)")
        }
        return m
    }

    /// Reads a stream until END, sending circuit SENDMEs (v1, with the digest tag) every 100
    /// DATA cells and stream SENDMEs every 50, as a client must.
    func download(streamID: UInt16, expecting total: Int, seconds: Double = 120) async throws -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(total)
        var circuitCells = 0, streamCells = 0
        let deadline = Date() + seconds
        while Date() < deadline {
            let m = try await receive(seconds: max(1, deadline.timeIntervalSinceNow))
            if m.command == RelayCommand.end.rawValue && m.streamID == streamID { return out }
            if m.command == 0xFF { throw ClientError("circuit destroyed, reason \(m.data)") }
            guard m.command == RelayCommand.data.rawValue, m.streamID == streamID else { continue }
            out += m.data
            circuitCells += 1
            streamCells += 1
            if circuitCells % 100 == 0 {
                try await send(command: RelayCommand.sendme.rawValue, data: try SendmeMessage(tag: hops[m.hop].lastBackwardDigest).encodedBody())
            }
            if streamCells % 50 == 0 {
                try await send(command: RelayCommand.sendme.rawValue, streamID: streamID)
            }
        }
        throw ClientError("download timed out after \(out.count) bytes")
    }
}

/// A TCP listener on 127.0.0.1 whose accept queue is full, so new connections to it hang in
/// SYN retries (Linux drops SYNs to a full backlog). Closed by the test.
final class StuckListener: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let fillers: [Int32]

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard listen(fd, 0) == 0 else { throw ClientError("listen failed") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        var fillers: [Int32] = []
        // Fill the backlog with connections nobody accepts.
        for _ in 0..<4 {
            let c = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(c, $0, len) } }
            fillers.append(c)
        }
        self.fillers = fillers
        usleep(100_000)
    }

    func close() {
        for c in fillers { Glibc.close(c) }
        Glibc.close(fd)
    }
}
