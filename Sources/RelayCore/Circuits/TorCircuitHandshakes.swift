import NIOConcurrencyHelpers
import NIOCore
import TorCrypto
import TorProtocol

/// The relay's CREATE2 / CREATE_FAST answers: ntor (HTYPE 2), ntor v3 (HTYPE 3) and
/// CREATE_FAST, with tor1 relay crypto from the resulting keys. Accepts the current and the
/// previous ntor onion key. Congestion control is not offered, so an ntor v3 reply carries an
/// empty extension list (never an empty message).
public final class TorCircuitHandshakes: CircuitHandshakeResponder {
    private let identity: RSAFingerprint
    private let ed25519: Ed25519PublicKey
    private let onionKeys: NIOLockedValueBox<[Curve25519SecretKey]>

    public init(identity: RSAFingerprint, ed25519: Ed25519PublicKey, onionKeys: [Curve25519SecretKey]) {
        self.identity = identity
        self.ed25519 = ed25519
        self.onionKeys = NIOLockedValueBox(onionKeys)
    }

    /// After an onion-key rotation: current first, then the previous one still in its grace period.
    public func setOnionKeys(_ keys: [Curve25519SecretKey]) {
        onionKeys.withLockedValue { $0 = keys }
    }

    public func kind(of cell: Cell) -> String? {
        switch cell.command {
        case .createFast: return "fast"
        case .create2:
            switch cell.body.getInteger(at: cell.body.readerIndex, as: UInt16.self) {
            case NtorHandshake.handshakeType: return "ntor"
            case NtorV3Handshake.handshakeType: return "ntor_v3"
            default: return nil
            }
        default: return nil
        }
    }

    public func respond(to cell: Cell) throws -> CreateResult {
        var rng = SystemRandom()
        let keys = onionKeys.withLockedValue { $0 }
        var body = cell.body
        switch cell.command {
        case .createFast:
            guard let x = body.readBytes(length: CreateFastHandshake.onionskinLength) else {
                throw TorProtocolError(.truncated, "CREATE_FAST body")
            }
            let r = try CreateFastHandshake.serverHandshake(onionskin: x, using: &rng)
            return CreateResult(reply: Self.fixedCell(.createdFast, r.reply), crypto: try Self.crypto(r.keys))
        case .create2:
            guard let htype = body.readInteger(as: UInt16.self), let hlen = body.readInteger(as: UInt16.self),
                  Int(hlen) <= Cell.fixedBodyLength - 4, let hdata = body.readBytes(length: Int(hlen)) else {
                throw TorProtocolError(.malformed, "CREATE2 header")
            }
            let r: CircuitHandshakeReply
            switch htype {
            case NtorHandshake.handshakeType:
                guard hlen == NtorHandshake.onionskinLength else {
                    throw TorProtocolError(.malformed, "ntor onionskin of \(hlen) bytes, expected 84")
                }
                r = try NtorHandshake.serverHandshake(onionskin: hdata, identity: identity, onionKeys: keys, using: &rng)
            case NtorV3Handshake.handshakeType:
                r = try NtorV3Handshake.serverHandshake(onionskin: hdata, identity: ed25519, onionKeys: keys, using: &rng) { message in
                    // Parse what the client asked for; we negotiate nothing (no congestion control yet).
                    _ = try NtorV3ExtensionList(parsing: message)
                    return try NtorV3ExtensionList().encoded
                }
            default:
                throw TorProtocolError(.unsupported, "CREATE2 handshake type \(htype)")
            }
            var out = [UInt8]()
            out.append(UInt8(r.reply.count >> 8))
            out.append(UInt8(r.reply.count & 0xff))
            out += r.reply
            return CreateResult(reply: Self.fixedCell(.created2, out), crypto: try Self.crypto(r.keys))
        default:
            throw TorProtocolError(.unsupported, "not a CREATE cell")
        }
    }

    static func fixedCell(_ command: CellCommand, _ bytes: [UInt8]) -> Cell {
        var b = ByteBuffer()
        b.writeBytes(bytes)
        b.writeRepeatingByte(0, count: Cell.fixedBodyLength - bytes.count)
        return Cell(circuitID: 0, command: command, body: b)
    }

    static func crypto(_ keys: CircuitKeys) throws -> HopCrypto {
        try Tor1RelayCrypto(keys: keys)
    }
}
