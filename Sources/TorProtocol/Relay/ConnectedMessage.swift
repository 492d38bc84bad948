import NIOCore

/// RELAY_CONNECTED (command 4; tor-spec opening-streams, CTor `connected_cell_parse`):
///
///     empty                                    (BEGIN_DIR, or an exit that says nothing)
///     IPv4 ADDR (4) | TTL (4)
///     0x00000000 | 0x06 | IPv6 ADDR (16) | TTL (4)
///
/// Parsing follows CTor: 1–3 bytes → malformed; a non-zero first word is an IPv4 address,
/// whose TTL is read only when 4 more bytes follow; a zero first word needs at least 25 bytes
/// and type byte 6. Bytes after the fields are ignored. CTor reads a TTL over `INT32_MAX` as
/// "no TTL"; we keep the raw value and leave that to the consumer.
public struct ConnectedMessage: RelayMessageBody {
    public static let command = RelayCommand.connected

    /// The address the exit connected to; nil for the empty form.
    public var address: RelayIPAddress?
    /// Seconds the client may cache `address` for. Always present with IPv6; optional with IPv4.
    public var ttl: UInt32?

    /// The empty CONNECTED (what BEGIN_DIR gets).
    public init() {
        address = nil
        ttl = nil
    }

    /// Refuses combinations that cannot be encoded: a TTL without an address, IPv6 without a
    /// TTL, the IPv4 address 0.0.0.0 (its zero word means "IPv6 follows").
    public init(address: RelayIPAddress, ttl: UInt32?) throws {
        self.address = address
        self.ttl = ttl
        try check()
    }

    public init(parsingBody body: ByteBuffer) throws {
        var r = CellBodyReader(body, cell: "CONNECTED")
        guard r.remaining > 0 else {
            address = nil
            ttl = nil
            return
        }
        guard r.remaining >= 4 else {
            throw TorProtocolError(.malformed, "CONNECTED of \(r.remaining) bytes is too short for an address")
        }
        let first = try r.readBytes(4, "IPv4 address")
        if first != [0, 0, 0, 0] {
            address = .ipv4(first)
            ttl = r.remaining >= 4 ? try r.readUInt32("TTL") : nil
            return
        }
        guard r.remaining >= 21 else {
            throw TorProtocolError(.malformed, "CONNECTED with a zero IPv4 word needs an IPv6 address and TTL (25 bytes), got \(r.remaining + 4)")
        }
        let type: UInt8 = try r.readInteger("address type")
        guard type == 6 else {
            throw TorProtocolError(.malformed, "CONNECTED address type \(type) after a zero IPv4 word, expected 6")
        }
        address = .ipv6(try r.readBytes(16, "IPv6 address"))
        ttl = try r.readUInt32("TTL")
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        try check()
        switch address {
        case nil:
            return
        case .ipv4(let b)?:
            buffer.writeBytes(b)
            if let ttl { buffer.writeInteger(ttl) }
        case .ipv6(let b)?:
            buffer.writeInteger(UInt32(0))
            buffer.writeInteger(UInt8(6))
            buffer.writeBytes(b)
            buffer.writeInteger(ttl!)
        }
    }

    private func check() throws {
        switch address {
        case nil:
            guard ttl == nil else { throw TorProtocolError(.malformed, "CONNECTED cannot carry a TTL without an address") }
        case .ipv4(let b)?:
            guard b.count == 4 else { throw TorProtocolError(.malformed, "CONNECTED IPv4 address has \(b.count) bytes") }
            guard b != [0, 0, 0, 0] else {
                throw TorProtocolError(.malformed, "CONNECTED cannot carry 0.0.0.0: a zero first word announces IPv6")
            }
        case .ipv6(let b)?:
            guard b.count == 16 else { throw TorProtocolError(.malformed, "CONNECTED IPv6 address has \(b.count) bytes") }
            guard ttl != nil else { throw TorProtocolError(.malformed, "CONNECTED with an IPv6 address needs a TTL") }
        }
    }
}
