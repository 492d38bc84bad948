import NIOCore

/// An ORPort as EXTEND2 names it.
public struct ORPortAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: RelayIPAddress
    public var port: UInt16

    public init(address: RelayIPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// Host and port for a connector; IPv6 without brackets. Identifying: redact before logging.
    public var host: String { address.description }
    public var description: String { "ORPort" }
}

/// An EXTEND2 a relay may act on: the checked form of `Extend2Message`, with CTor's rules
/// applied (`extend_cell_from_extend2_cell_body`, `check_extend_cell`; checklist §4.7):
///
/// * the legacy RSA identity is **required** and must not be all zeros; a second one, or a
///   second Ed25519 identity, refuses the message;
/// * the first IPv4 and the first IPv6 specifier win, later ones are ignored; at least one
///   of them must be usable (non-zero address and port);
/// * unknown specifier types are ignored;
/// * HTYPE 0x0000 (TAP) and 0x0001 (CREATE_FAST) are refused, and ntor (0x0002) needs HLEN
///   84; ntor v3 and unknown types pass, for the next hop to judge.
///
/// An all-zero Ed25519 identity counts as none, as CTor treats it. What needs circuit or
/// link state — EXTEND2 only in RELAY_EARLY, stream ID 0, not extending back to the previous
/// hop or to ourselves, private addresses — is the caller's to check.
public struct Extend2Request: Hashable, Sendable {
    public let rsaIdentity: RSAFingerprint
    /// KP_relayid_ed of the next relay, 32 bytes, when the client named one.
    public let ed25519Identity: [UInt8]?
    /// The first IPv4 ORPort, when given and usable.
    public let ipv4: ORPortAddress?
    /// The first IPv6 ORPort, when given and usable.
    public let ipv6: ORPortAddress?
    public let handshakeType: UInt16
    public let handshakeData: [UInt8]

    static let tapHandshakeType: UInt16 = 0x0000
    static let fastHandshakeType: UInt16 = 0x0001
    static let ntorHandshakeType: UInt16 = 0x0002
    static let ntorOnionskinLength = 84
    /// The most HDATA a CREATE2 cell holds (509 − 4).
    static let maxCreate2HandshakeLength = Cell.fixedBodyLength - 4

    public init(_ message: Extend2Message) throws {
        var rsa: RSAFingerprint?, ed: [UInt8]?
        var firstIPv4: ORPortAddress?, firstIPv6: ORPortAddress?
        for specifier in message.linkSpecifiers {
            switch specifier {
            case .ipv4(let address, let port):
                if firstIPv4 == nil { firstIPv4 = ORPortAddress(address: .ipv4(address), port: port) }
            case .ipv6(let address, let port):
                if firstIPv6 == nil { firstIPv6 = ORPortAddress(address: .ipv6(address), port: port) }
            case .rsaIdentity(let fingerprint):
                guard rsa == nil else { throw TorProtocolError(.malformed, "EXTEND2 names two RSA identities") }
                rsa = fingerprint
            case .ed25519Identity(let key):
                guard ed == nil else { throw TorProtocolError(.malformed, "EXTEND2 names two Ed25519 identities") }
                ed = key
            case .unrecognized:
                continue
            }
        }
        guard let rsa else { throw TorProtocolError(.malformed, "EXTEND2 has no RSA identity link specifier") }
        guard rsa.bytes.contains(where: { $0 != 0 }) else {
            throw TorProtocolError(.malformed, "EXTEND2 names the all-zero RSA identity")
        }
        func usable(_ a: ORPortAddress?) -> ORPortAddress? {
            guard let a, a.port != 0, !a.address.isUnspecified else { return nil }
            return a
        }
        ipv4 = usable(firstIPv4)
        ipv6 = usable(firstIPv6)
        guard ipv4 != nil || ipv6 != nil else {
            throw TorProtocolError(.malformed, firstIPv4 == nil && firstIPv6 == nil
                ? "EXTEND2 has no IPv4 or IPv6 link specifier"
                : "EXTEND2 names no usable ORPort (zero address or port)")
        }
        switch message.handshakeType {
        case Self.tapHandshakeType:
            throw TorProtocolError(.unsupported, "EXTEND2 asks for a TAP handshake, which 0.4.9 relays refuse")
        case Self.fastHandshakeType:
            throw TorProtocolError(.malformed, "EXTEND2 cannot carry CREATE_FAST")
        case Self.ntorHandshakeType where message.handshakeData.count != Self.ntorOnionskinLength:
            throw TorProtocolError(.malformed, "EXTEND2 ntor onionskin is \(message.handshakeData.count) bytes, expected \(Self.ntorOnionskinLength)")
        default:
            break
        }
        guard message.handshakeData.count <= Self.maxCreate2HandshakeLength else {
            throw TorProtocolError(.malformed, "EXTEND2 HDATA of \(message.handshakeData.count) bytes does not fit CREATE2")
        }
        rsaIdentity = rsa
        ed25519Identity = ed.flatMap { $0.contains(where: { $0 != 0 }) ? $0 : nil }
        handshakeType = message.handshakeType
        handshakeData = message.handshakeData
    }

    /// Parses and checks an EXTEND2 body.
    public init(parsingBody body: ByteBuffer) throws {
        try self.init(Extend2Message(parsingBody: body))
    }

    public init(parsingBody bytes: [UInt8]) throws {
        try self.init(Extend2Message(parsingBody: bytes))
    }

    /// The address to connect to: IPv4 when given, else IPv6 (as CTor prefers IPv4 unless
    /// configured otherwise).
    public var preferredORPort: ORPortAddress { (ipv4 ?? ipv6)! }

    /// The CREATE2 body for the next hop: `HTYPE | HLEN | HDATA`, zero-padded to 509 bytes.
    public func create2Body() -> ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(Cell.fixedBodyLength)
        body.writeInteger(handshakeType)
        body.writeInteger(UInt16(handshakeData.count))
        body.writeBytes(handshakeData)
        body.writeRepeatingByte(0, count: Cell.fixedBodyLength - body.readableBytes)
        return body
    }

    /// The CREATE2 cell for the next hop on `circuitID`.
    public func create2Cell(circuitID: UInt32) -> Cell {
        Cell(circuitID: circuitID, command: .create2, body: create2Body())
    }
}
