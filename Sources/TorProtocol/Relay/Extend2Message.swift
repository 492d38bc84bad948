import NIOCore

/// RELAY_EXTEND2 (command 14) as it is on the wire (tor-spec create-created-cells, CTor trunnel
/// `extend2_cell_body`):
///
///     NSPEC (1) | NSPEC × link specifier | HTYPE (2) | HLEN (2) | HDATA (HLEN)
///
/// This is the unchecked form: parsing only enforces the byte layout (as trunnel does; bytes
/// after HDATA are ignored), so that any well-formed message round-trips. A relay acts only
/// on an `Extend2Request`, made from this by applying CTor's rules — an EXTEND2 without an
/// RSA identity, for one, parses here and is refused there.
public struct Extend2Message: RelayMessageBody {
    public static let command = RelayCommand.extend2

    public var linkSpecifiers: [LinkSpecifier]
    /// HTYPE: 0x0002 ntor, 0x0003 ntor v3 (0x0000 TAP and 0x0001 CREATE_FAST are refused).
    public var handshakeType: UInt16
    /// HDATA: the onionskin, passed unchanged into the CREATE2 for the next hop.
    public var handshakeData: [UInt8]

    public init(linkSpecifiers: [LinkSpecifier], handshakeType: UInt16, handshakeData: [UInt8]) {
        self.linkSpecifiers = linkSpecifiers
        self.handshakeType = handshakeType
        self.handshakeData = handshakeData
    }

    public init(parsingBody body: ByteBuffer) throws {
        var r = CellBodyReader(body, cell: "EXTEND2")
        let count: UInt8 = try r.readInteger("NSPEC")
        var specifiers = [LinkSpecifier]()
        specifiers.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            specifiers.append(try LinkSpecifier(reading: &r, "link specifier \(i)"))
        }
        linkSpecifiers = specifiers
        handshakeType = try r.readInteger("HTYPE")
        let length: UInt16 = try r.readInteger("HLEN")
        handshakeData = try r.readBytes(Int(length), "HDATA")
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        guard linkSpecifiers.count <= Int(UInt8.max) else {
            throw TorProtocolError(.malformed, "EXTEND2 cannot carry \(linkSpecifiers.count) link specifiers")
        }
        guard handshakeData.count <= Int(UInt16.max) else {
            throw TorProtocolError(.malformed, "EXTEND2 HDATA of \(handshakeData.count) bytes does not fit HLEN")
        }
        buffer.writeInteger(UInt8(linkSpecifiers.count))
        for specifier in linkSpecifiers { try specifier.encode(into: &buffer) }
        buffer.writeInteger(handshakeType)
        buffer.writeInteger(UInt16(handshakeData.count))
        buffer.writeBytes(handshakeData)
    }
}

/// RELAY_EXTENDED2 (command 15): the next hop's CREATED2 body, carried back to the client.
///
///     HLEN (2) | HDATA (HLEN)
///
/// As CTor's `extended_cell_parse`: HLEN may not exceed the body (nor 496, which a relay
/// message cannot hold anyway); bytes after HDATA are ignored.
public struct Extended2Message: RelayMessageBody {
    public static let command = RelayCommand.extended2
    /// The most HDATA an EXTENDED2 holds: 498 − 2.
    public static let maxHandshakeLength = RelayCellHeader.maxDataLength - 2

    /// HDATA: the server's handshake reply (ntor: 64 bytes; ntor v3: 64 + message).
    public var handshakeData: [UInt8]

    public init(handshakeData: [UInt8]) throws {
        guard handshakeData.count <= Self.maxHandshakeLength else {
            throw TorProtocolError(.malformed, "EXTENDED2 HDATA of \(handshakeData.count) bytes is over \(Self.maxHandshakeLength)")
        }
        self.handshakeData = handshakeData
    }

    public init(parsingBody body: ByteBuffer) throws {
        var r = CellBodyReader(body, cell: "EXTENDED2")
        let length: UInt16 = try r.readInteger("HLEN")
        guard Int(length) <= Self.maxHandshakeLength else {
            throw TorProtocolError(.malformed, "EXTENDED2 HLEN \(length) is over \(Self.maxHandshakeLength)")
        }
        handshakeData = try r.readBytes(Int(length), "HDATA")
    }

    /// From the body of the CREATED2 cell the next hop sent (`HLEN | HDATA | padding`):
    /// what a relay sends back after extending. A CREATED2 whose reply cannot fit an
    /// EXTENDED2 is refused (CTor 0.4.9.6 bounds CREATED2 HLEN; checklist §9 item 24).
    public init(created2Body body: ByteBuffer) throws {
        var r = CellBodyReader(body, cell: "CREATED2")
        let length: UInt16 = try r.readInteger("HLEN")
        guard Int(length) <= Self.maxHandshakeLength else {
            throw TorProtocolError(.malformed, "CREATED2 HLEN \(length) does not fit an EXTENDED2 (\(Self.maxHandshakeLength))")
        }
        handshakeData = try r.readBytes(Int(length), "HDATA")
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        guard handshakeData.count <= Self.maxHandshakeLength else {
            throw TorProtocolError(.malformed, "EXTENDED2 HDATA of \(handshakeData.count) bytes is over \(Self.maxHandshakeLength)")
        }
        buffer.writeInteger(UInt16(handshakeData.count))
        buffer.writeBytes(handshakeData)
    }
}
