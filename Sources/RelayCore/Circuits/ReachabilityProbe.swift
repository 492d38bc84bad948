import Foundation
import NIOCore
import TorCrypto
import TorProtocol

/// A relay as a circuit hop: where it listens, who it is, its ntor onion key.
public struct CircuitHopTarget: Sendable {
    public let host: String
    public let port: Int
    public let rsa: RSAFingerprint
    public let ed25519: Ed25519PublicKey?
    public let ntor: Curve25519PublicKey

    public init(host: String, port: Int, rsa: RSAFingerprint, ed25519: Ed25519PublicKey?, ntor: Curve25519PublicKey) {
        self.host = host
        self.port = port
        self.rsa = rsa
        self.ed25519 = ed25519
        self.ntor = ntor
    }
}

public struct ReachabilityError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}

/// The ORPort self-test CTor relays run: build a circuit through another relay back to our
/// own ORPort. It succeeds only if that relay could open a link to us and we completed the
/// circuit handshake, i.e. the network can reach us as published.
public enum ReachabilityProbe {
    /// Builds `via` → `target` with ntor (CREATE2, then EXTEND2 in RELAY_EARLY); returns the
    /// time it took. The link to `via` does not authenticate: relays refuse to extend a
    /// circuit back to the relay it came from, which is what `target` is when it is us.
    public static func run(via: CircuitHopTarget, to target: CircuitHopTarget, connector: LinkConnector,
                           timeout: TimeAmount = .seconds(30)) async throws -> Duration {
        let started = ContinuousClock.now
        let (stream, continuation) = AsyncThrowingStream<Cell, any Error>.makeStream()
        let (channel, _) = try await connector.connect(
            host: via.host, port: via.port, expected: .init(rsaFingerprint: via.rsa, ed25519: via.ed25519),
            authenticate: false, timeout: timeout, circuitLayer: { ProbeCellSink(continuation) }).get()
        defer { channel.close(promise: nil) }
        let cells = IteratorBox(stream.makeAsyncIterator())
        let seconds = Double(timeout.nanoseconds) / 1e9
        func next() async throws -> Cell {
            try await withThrowingTaskGroup(of: Cell?.self) { group in
                group.addTask { try await cells.iterator.next() }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                    throw ReachabilityError("no answer within \(Int(seconds)) s")
                }
                defer { group.cancelAll() }
                guard let c = try await group.next()!, true else { throw ReachabilityError("link closed") }
                return c
            }
        }
        var rng = SystemRandom()
        let circuitID = 0x8000_0000 | UInt32.random(in: 1...0x7fff_ffff)  // initiator: high bit set
        // Hop 1: CREATE2 with ntor.
        let (state1, skin1) = NtorHandshake.clientCreate(identity: via.rsa, onionKey: via.ntor, using: &rng)
        var create = ByteBuffer()
        create.writeInteger(NtorHandshake.handshakeType)
        create.writeInteger(UInt16(skin1.count))
        create.writeBytes(skin1)
        create.writeRepeatingByte(0, count: Cell.fixedBodyLength - create.readableBytes)
        try await channel.writeAndFlush(Cell(circuitID: circuitID, command: .create2, body: create))
        let created = try await next()
        guard created.command == .created2 else {
            throw ReachabilityError("\(via.rsa.hex) answered CREATE2 with \(created.command)")
        }
        let reply1 = try Extended2Message(created2Body: created.body)
        let hop = try Tor1ClientHop(keys: try NtorHandshake.clientComplete(state1, reply: reply1.handshakeData).keys)
        defer { channel.writeAndFlush(Cell(circuitID: circuitID, command: .destroy, body: ByteBuffer(repeating: 0, count: Cell.fixedBodyLength)), promise: nil) }

        // Hop 2: EXTEND2 to the target.
        let (state2, skin2) = NtorHandshake.clientCreate(identity: target.rsa, onionKey: target.ntor, using: &rng)
        guard let ip = IPv4Address.bytes(target.host) else { throw ReachabilityError("target \(target.host) is not an IPv4 address") }
        var specifiers: [LinkSpecifier] = [.ipv4(address: ip, port: UInt16(target.port)), .rsaIdentity(target.rsa)]
        if let ed = target.ed25519 { specifiers.append(.ed25519Identity(ed.bytes)) }
        let extend = Extend2Message(linkSpecifiers: specifiers, handshakeType: NtorHandshake.handshakeType, handshakeData: skin2)
        var body = try RelayCellBody.make(extend, streamID: 0, random: &rng)
        body.withUnsafeMutableReadableBytes { hop.encryptForward($0, originating: true) }
        try await channel.writeAndFlush(Cell(circuitID: circuitID, command: .relayEarly, body: body))
        while true {
            let cell = try await next()
            guard cell.circuitID == circuitID else { continue }
            if cell.command == .destroy {
                throw ReachabilityError("\(via.rsa.hex) destroyed the circuit (reason \(cell.body.getInteger(at: cell.body.readerIndex, as: UInt8.self) ?? 0))")
            }
            guard cell.command == .relay else { continue }
            var b = cell.body
            guard b.withUnsafeMutableReadableBytes({ hop.decryptBackward($0) }) else {
                throw ReachabilityError("unrecognized backward cell")
            }
            let (header, data) = try RelayCellBody.parse(b)
            switch header.command {
            case .extended2:
                let reply = try Extended2Message(parsingBody: data)
                _ = try NtorHandshake.clientComplete(state2, reply: reply.handshakeData)
                return ContinuousClock.now - started
            case .truncated:
                throw ReachabilityError("\(via.rsa.hex) could not extend to us (TRUNCATED, reason \(data.getInteger(at: data.readerIndex, as: UInt8.self) ?? 0))")
            default:
                continue
            }
        }
    }
}

/// One task at a time reads the probe's cells; the box lets that task be a child task.
private final class IteratorBox: @unchecked Sendable {
    var iterator: AsyncThrowingStream<Cell, any Error>.AsyncIterator
    init(_ i: AsyncThrowingStream<Cell, any Error>.AsyncIterator) { iterator = i }
}

/// Hands the probe's cells to its task.
final class ProbeCellSink: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Cell
    let continuation: AsyncThrowingStream<Cell, any Error>.Continuation
    init(_ c: AsyncThrowingStream<Cell, any Error>.Continuation) { continuation = c }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
    func channelInactive(context: ChannelHandlerContext) { continuation.finish(throwing: ReachabilityError("link closed")) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }
}
