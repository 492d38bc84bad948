import NIOCore

/// One address in a NETINFO cell: `ATYPE (1) | ALEN (1) | AVAL (ALEN)`.
public enum NetinfoAddress: Hashable, Sendable, CustomStringConvertible {
    /// ATYPE 0x04, ALEN 4: the 4 address bytes in network order.
    case ipv4([UInt8])
    /// ATYPE 0x06, ALEN 16: the 16 address bytes in network order.
    case ipv6([UInt8])
    /// Any other ATYPE, kept as received so that the cell re-encodes byte for byte.
    case unrecognized(type: UInt8, value: [UInt8])

    public static let ipv4Type: UInt8 = 0x04
    public static let ipv6Type: UInt8 = 0x06

    /// Reads one address. ATYPE 4 must have ALEN 4 and ATYPE 6 ALEN 16 — CTor's trunnel
    /// parser fails the whole cell otherwise, wherever the address is; other types are kept.
    init(reading reader: inout CellBodyReader, _ field: String) throws {
        let type: UInt8 = try reader.readInteger("\(field) type")
        let length: UInt8 = try reader.readInteger("\(field) length")
        let value = try reader.readBytes(Int(length), "\(field) value")
        switch type {
        case Self.ipv4Type:
            guard length == 4 else {
                throw TorProtocolError(.malformed, "NETINFO \(field) is IPv4 with length \(length), expected 4")
            }
            self = .ipv4(value)
        case Self.ipv6Type:
            guard length == 16 else {
                throw TorProtocolError(.malformed, "NETINFO \(field) is IPv6 with length \(length), expected 16")
            }
            self = .ipv6(value)
        default:
            self = .unrecognized(type: type, value: value)
        }
    }

    func encode(into buffer: inout ByteBuffer) throws {
        let (type, value): (UInt8, [UInt8])
        switch self {
        case .ipv4(let bytes):
            guard bytes.count == 4 else { throw TorProtocolError(.malformed, "IPv4 NETINFO address has \(bytes.count) bytes") }
            (type, value) = (Self.ipv4Type, bytes)
        case .ipv6(let bytes):
            guard bytes.count == 16 else { throw TorProtocolError(.malformed, "IPv6 NETINFO address has \(bytes.count) bytes") }
            (type, value) = (Self.ipv6Type, bytes)
        case .unrecognized(let t, let bytes):
            guard t != Self.ipv4Type, t != Self.ipv6Type else {
                throw TorProtocolError(.malformed, "NETINFO address type \(t) must be written as .ipv4 or .ipv6")
            }
            guard bytes.count <= Int(UInt8.max) else {
                throw TorProtocolError(.malformed, "NETINFO address of \(bytes.count) bytes does not fit ALEN")
            }
            (type, value) = (t, bytes)
        }
        buffer.writeInteger(type)
        buffer.writeInteger(UInt8(value.count))
        buffer.writeBytes(value)
    }

    /// Dotted quad or uncompressed hex groups. An address is a client's identifying data:
    /// redact it before logging.
    public var description: String {
        switch self {
        case .ipv4(let b): b.map(String.init).joined(separator: ".")
        case .ipv6(let b):
            stride(from: 0, to: b.count - 1, by: 2)
                .map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        case .unrecognized(let type, let value): "address type \(type) (\(value.count) bytes)"
        }
    }
}

/// NETINFO (command 8, fixed-length; tor-spec negotiating-channels, checklist §3.7):
///
///     TIME (4) | OTHERADDR | NMYADDR (1) | NMYADDR × address | zero padding to 509
public struct NetinfoCell: LinkCellBody {
    public static let command = CellCommand.netinfo

    /// TIME: the sender's clock in seconds since the Unix epoch; clients send 0.
    public var timestamp: UInt32
    /// OTHERADDR: the receiver's address as the sender sees it. Parsing accepts only IPv4 and
    /// IPv6 here: CTor closes the link on any other type.
    public var otherAddress: NetinfoAddress
    /// MYADDRS: the sender's own advertised addresses. Unrecognized types are kept (CTor
    /// skips them when matching); the receiver ignores them.
    public var myAddresses: [NetinfoAddress]

    public init(timestamp: UInt32, otherAddress: NetinfoAddress, myAddresses: [NetinfoAddress]) {
        self.timestamp = timestamp
        self.otherAddress = otherAddress
        self.myAddresses = myAddresses
    }

    /// Bytes after the last address are padding and are not examined, as in CTor.
    public init(parsingBody body: ByteBuffer) throws {
        var reader = CellBodyReader(body, cell: "NETINFO")
        timestamp = try reader.readInteger("TIME")
        otherAddress = try NetinfoAddress(reading: &reader, "OTHERADDR")
        if case .unrecognized(let type, _) = otherAddress {
            throw TorProtocolError(.unsupported, "NETINFO OTHERADDR has address type \(type), expected IPv4 or IPv6")
        }
        let count: UInt8 = try reader.readInteger("NMYADDR")
        var addresses = [NetinfoAddress]()
        for i in 0..<Int(count) {
            addresses.append(try NetinfoAddress(reading: &reader, "MYADDR \(i)"))
        }
        myAddresses = addresses
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        guard myAddresses.count <= Int(UInt8.max) else {
            throw TorProtocolError(.malformed, "NETINFO cannot carry \(myAddresses.count) addresses")
        }
        if case .unrecognized(let type, _) = otherAddress {
            throw TorProtocolError(.malformed, "NETINFO OTHERADDR must be IPv4 or IPv6, not address type \(type)")
        }
        buffer.writeInteger(timestamp)
        try otherAddress.encode(into: &buffer)
        buffer.writeInteger(UInt8(myAddresses.count))
        for address in myAddresses {
            try address.encode(into: &buffer)
        }
    }
}
