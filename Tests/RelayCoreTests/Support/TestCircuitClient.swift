import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TorCrypto
import TorProtocol
@testable import RelayCore

/// What a client needs to know about a relay (from its descriptor, in a real network).
struct RelayInfo: Sendable {
    var host = "127.0.0.1"
    var port: Int
    var rsa: RSAFingerprint
    var ed25519: Ed25519PublicKey
    var ntor: Curve25519PublicKey
}

/// Client-side tor1 crypto for one hop: TorProtocol's own.
typealias ClientHop = Tor1ClientHop

/// Cells the test client received, by circuit; a waiting receiver is woken by the link.
final class Mailbox: Sendable {
    struct State {
        var cells: [UInt32: CircularBuffer<Cell>] = [:]
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    let box = NIOLockedValueBox(State())

    func deliver(_ cell: Cell) {
        let w = box.withLockedValue { s -> CheckedContinuation<Void, Never>? in
            s.cells[cell.circuitID, default: CircularBuffer()].append(cell)
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume()
    }

    func close() {
        let w = box.withLockedValue { s -> CheckedContinuation<Void, Never>? in
            s.closed = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume()
    }

    /// Takes the next cell for `circuitID`, waiting up to `seconds`.
    func take(_ circuitID: UInt32, seconds: Double) async throws -> Cell {
        let deadline = Date() + seconds
        while true {
            let (cell, closed) = box.withLockedValue { ($0.cells[circuitID]?.popFirst(), $0.closed) }
            if let cell { return cell }
            if closed { throw ClientError("link closed") }
            guard Date() < deadline else { throw ClientError("timed out waiting for a cell on circuit \(circuitID)") }
            let timer = Task { [box] in
                try? await Task.sleep(for: .milliseconds(200))
                let w = box.withLockedValue { s -> CheckedContinuation<Void, Never>? in defer { s.waiter = nil }; return s.waiter }
                w?.resume()
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = box.withLockedValue { s -> Bool in
                    if s.closed || !(s.cells[circuitID]?.isEmpty ?? true) { return true }
                    s.waiter = c
                    return false
                }
                if ready { c.resume() }
            }
            timer.cancel()
        }
    }
}

/// Receives cells for the test client from the link.
final class ClientCellSink: ChannelInboundHandler, Sendable {
    typealias InboundIn = Cell
    let mailbox: Mailbox
    init(_ m: Mailbox) { mailbox = m }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { mailbox.deliver(unwrapInboundIn(data)) }
    func channelInactive(context: ChannelHandlerContext) { mailbox.close() }
}

struct ClientError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A minimal Tor client for tests: a client link to a first hop, circuits built with ntor,
/// ntor v3 or CREATE_FAST and extended with EXTEND2, relay messages to any hop.
final class TestCircuitClient: @unchecked Sendable {
    let channel: any Channel
    private let mailbox: Mailbox
    private var nextCircuitID: UInt32 = 0x8000_0001

    /// `authenticate`: prove a (fresh) relay identity on the link, as a relay extending a circuit
    /// would; the relay then treats it as a relay link (no per-address CREATE limit).
    /// `source`: the local address to connect from (abusive clients of the soak each use their own).
    static func connect(to relay: RelayInfo, group: any EventLoopGroup, authenticate: Bool = false,
                        source: SocketAddress? = nil) async throws -> TestCircuitClient {
        var rng = SystemRandom()
        let keys = try RelayKeys.generate(now: Date(), lifetimes: KeyLifetimes(), using: &rng)
        var logger = Logger(label: "test-client")
        logger.logLevel = .critical
        let env = LinkEnvironment(credentials: try LinkCredentialStore(try LinkCredentials.generate(keys: keys, now: Date(), using: &rng)),
                                  relay: .linksOnly(ourIdentity: keys.rsaFingerprint, logger: logger), stats: LinkStats(),
                                  ourAddresses: [], configuration: .init(), logger: logger)
        let mailbox = Mailbox()
        let (channel, _) = try await LinkConnector(environment: env, group: group)
            .connect(host: relay.host, port: relay.port,
                     expected: .init(rsaFingerprint: relay.rsa, ed25519: relay.ed25519), authenticate: authenticate,
                     source: source, circuitLayer: { ClientCellSink(mailbox) }).get()
        return TestCircuitClient(channel: channel, mailbox: mailbox)
    }

    private init(channel: any Channel, mailbox: Mailbox) {
        self.channel = channel
        self.mailbox = mailbox
    }

    func send(_ cell: Cell) async throws { try await channel.writeAndFlush(cell) }

    /// The next cell for `circuitID` (cells of other circuits stay queued), within `seconds`.
    func receive(on circuitID: UInt32, seconds: Double = 45) async throws -> Cell {
        try await mailbox.take(circuitID, seconds: seconds)
    }

    func allocateCircuitID() -> UInt32 {
        defer { nextCircuitID += 1 }
        return nextCircuitID
    }

    enum Handshake { case ntor, ntorV3, fast }

    /// CREATE2/CREATE_FAST to the first hop.
    func createCircuit(to relay: RelayInfo, handshake: Handshake = .ntor) async throws -> TestCircuit {
        let id = allocateCircuitID()
        var rng = SystemRandom()
        switch handshake {
        case .fast:
            let (state, x) = CreateFastHandshake.clientCreate(using: &rng)
            try await send(fixed(id, .createFast, x))
            let reply = try await receive(on: id)
            guard reply.command == .createdFast else { throw ClientError("got \(reply.command) instead of CREATED_FAST") }
            let km = try CreateFastHandshake.clientComplete(state, reply: reply.body.getBytes(at: reply.body.readerIndex, length: 40)!)
            return TestCircuit(client: self, id: id, hops: [try ClientHop(keys: km.keys)])
        case .ntor, .ntorV3:
            let (htype, onionskin, complete) = try clientHandshake(to: relay, handshake, using: &rng)
            var body = [UInt8]()
            body += [UInt8(htype >> 8), UInt8(htype & 0xff), UInt8(onionskin.count >> 8), UInt8(onionskin.count & 0xff)]
            body += onionskin
            try await send(fixed(id, .create2, body))
            let reply = try await receive(on: id)
            guard reply.command == .created2 else {
                throw ClientError("got \(reply.command) (reason \(reply.body.getInteger(at: reply.body.readerIndex, as: UInt8.self) ?? 0)) instead of CREATED2")
            }
            let hlen = Int(reply.body.getInteger(at: reply.body.readerIndex, as: UInt16.self)!)
            let keys = try complete(reply.body.getBytes(at: reply.body.readerIndex + 2, length: hlen)!)
            return TestCircuit(client: self, id: id, hops: [try ClientHop(keys: keys)])
        }
    }

    func clientHandshake(to relay: RelayInfo, _ h: Handshake, using rng: inout SystemRandom) throws
        -> (UInt16, [UInt8], ([UInt8]) throws -> CircuitKeys) {
        switch h {
        case .ntorV3:
            let (state, skin) = try NtorV3Handshake.clientCreate(identity: relay.ed25519, onionKey: relay.ntor,
                                                                 message: try NtorV3ExtensionList().encoded, using: &rng)
            return (NtorV3Handshake.handshakeType, skin, { try NtorV3Handshake.clientComplete(state, reply: $0).keys })
        default:
            let (state, skin) = NtorHandshake.clientCreate(identity: relay.rsa, onionKey: relay.ntor, using: &rng)
            return (NtorHandshake.handshakeType, skin, { try NtorHandshake.clientComplete(state, reply: $0).keys })
        }
    }

    func fixed(_ id: UInt32, _ command: CellCommand, _ bytes: [UInt8]) -> Cell {
        var b = ByteBuffer(bytes: bytes)
        b.writeRepeatingByte(0, count: Cell.fixedBodyLength - bytes.count)
        return Cell(circuitID: id, command: command, body: b)
    }

    func close() async { try? await channel.close() }
}

/// A relay message as the client sees it.
struct RelayMessage: Equatable {
    var hop: Int
    var command: UInt8
    var streamID: UInt16
    var data: [UInt8]
}

final class TestCircuit: @unchecked Sendable {
    let client: TestCircuitClient
    let id: UInt32
    private(set) var hops: [ClientHop]

    init(client: TestCircuitClient, id: UInt32, hops: [ClientHop]) {
        self.client = client
        self.id = id
        self.hops = hops
    }

    /// A relay cell to hop `hop` (default: the last), encrypted for the whole path.
    func relayCell(command: UInt8, streamID: UInt16 = 0, data: [UInt8], hop: Int? = nil, early: Bool = false,
                   corruptDigest: Bool = false) -> Cell {
        let target = hop ?? hops.count - 1
        var body = [UInt8](repeating: 0, count: Cell.fixedBodyLength)
        body[0] = command
        body[3] = UInt8(streamID >> 8); body[4] = UInt8(streamID & 0xff)
        body[9] = UInt8(data.count >> 8); body[10] = UInt8(data.count & 0xff)
        body.replaceSubrange(11..<11 + data.count, with: data)
        body.withUnsafeMutableBytes { p in
            // The target hop digests and encrypts; flipping a ciphertext bit then flips the same
            // bit of the digest it will see (CTR mode). Earlier hops add their layers.
            hops[target].encryptForward(p, originating: true)
            if corruptDigest { p[5] ^= 0xff }
            for i in stride(from: target - 1, through: 0, by: -1) { hops[i].encryptForward(p, originating: false) }
        }
        return client.fixed(id, early ? .relayEarly : .relay, body)
    }

    func send(command: UInt8, streamID: UInt16 = 0, data: [UInt8] = [], hop: Int? = nil, early: Bool = false) async throws {
        try await client.send(relayCell(command: command, streamID: streamID, data: data, hop: hop, early: early))
    }

    /// The next relay message (or a DESTROY, as command 0xFF with the reason as data).
    func receive(seconds: Double = 45) async throws -> RelayMessage {
        let cell = try await client.receive(on: id, seconds: seconds)
        if cell.command == .destroy {
            return RelayMessage(hop: -1, command: 0xFF, streamID: 0, data: [cell.body.getInteger(at: cell.body.readerIndex, as: UInt8.self)!])
        }
        guard cell.command == .relay else { throw ClientError("unexpected \(cell.command)") }
        var body = cell.body.getBytes(at: cell.body.readerIndex, length: Cell.fixedBodyLength)!
        for (i, hop) in hops.enumerated() {
            if body.withUnsafeMutableBytes({ hop.decryptBackward($0) }) {
                let len = Int(body[9]) << 8 | Int(body[10])
                return RelayMessage(hop: i, command: body[0], streamID: UInt16(body[3]) << 8 | UInt16(body[4]),
                                    data: Array(body[11..<11 + min(len, 498)]))
            }
        }
        throw ClientError("backward cell recognized by no hop")
    }

    /// Forgets the last hop (after TRUNCATED).
    func dropLastHop() -> ClientHop? { hops.popLast() }

    /// EXTEND2 from the last hop to `relay`; waits for EXTENDED2.
    func extend(to relay: RelayInfo, handshake: TestCircuitClient.Handshake = .ntor) async throws {
        var rng = SystemRandom()
        let (htype, skin, complete) = try client.clientHandshake(to: relay, handshake, using: &rng)
        let ip = relay.host.split(separator: ".").map { UInt8($0)! }
        var data: [UInt8] = [3]
        data += [0, 6] + ip + [UInt8(relay.port >> 8), UInt8(relay.port & 0xff)]
        data += [2, 20] + relay.rsa.bytes
        data += [3, 32] + relay.ed25519.bytes
        data += [UInt8(htype >> 8), UInt8(htype & 0xff), UInt8(skin.count >> 8), UInt8(skin.count & 0xff)] + skin
        try await send(command: 14, data: data, early: true)
        let reply = try await receive()
        guard reply.command == 15 else { throw ClientError("EXTEND2 answered with command \(reply.command) \(reply.data)") }
        let hlen = Int(reply.data[0]) << 8 | Int(reply.data[1])
        hops.append(try ClientHop(keys: try complete(Array(reply.data[2..<2 + hlen]))))
    }
}
