import NIOCore

/// RELAY_SENDME (command 5; tor-spec flow-control, CTor `sendme.c` and trunnel
/// `sendme_cell`):
///
///     empty                                       version 0 (stream level, or legacy circuit)
///     VERSION (1) | DATA_LEN (2) | DATA (DATA_LEN)
///
/// VERSION 0 ignores DATA; VERSION 1 needs DATA_LEN exactly 20 and DATA the 20-byte tor1
/// digest (the tag) of the cell that triggered it; any other VERSION is refused (CTor's
/// trunnel `IN [0x00, 0x01]`). Bytes after DATA are ignored, as trunnel ignores them. Whether
/// a v0 SENDME is acceptable on a circuit (consensus `sendme_accept_min_version`) is the
/// circuit's decision, not the parser's.
public enum SendmeMessage: RelayMessageBody {
    /// Version 0: no authentication. Encodes as an empty body.
    case v0
    /// Version 1: authenticated with the 20-byte digest tag.
    case v1(tag: [UInt8])

    public static let command = RelayCommand.sendme
    /// Bytes of a v1 tag (the tor1 SHA-1 digest).
    public static let tagLength = 20

    /// A v1 SENDME, checking the tag length.
    public init(tag: [UInt8]) throws {
        guard tag.count == Self.tagLength else {
            throw TorProtocolError(.malformed, "SENDME v1 tag must be \(Self.tagLength) bytes, got \(tag.count)")
        }
        self = .v1(tag: tag)
    }

    public init(parsingBody body: ByteBuffer) throws {
        var r = CellBodyReader(body, cell: "SENDME")
        guard r.remaining > 0 else {
            self = .v0
            return
        }
        let version: UInt8 = try r.readInteger("VERSION")
        guard version <= 1 else {
            throw TorProtocolError(.unsupported, "SENDME version \(version) is not 0 or 1")
        }
        let length: UInt16 = try r.readInteger("DATA_LEN")
        let data = try r.readBytes(Int(length), "DATA")
        guard version == 1 else {
            self = .v0
            return
        }
        guard length == UInt16(Self.tagLength) else {
            throw TorProtocolError(.malformed, "SENDME v1 DATA_LEN is \(length), expected \(Self.tagLength)")
        }
        self = .v1(tag: data)
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        switch self {
        case .v0:
            return
        case .v1(let tag):
            guard tag.count == Self.tagLength else {
                throw TorProtocolError(.malformed, "SENDME v1 tag must be \(Self.tagLength) bytes, got \(tag.count)")
            }
            buffer.writeInteger(UInt8(1))
            buffer.writeInteger(UInt16(Self.tagLength))
            buffer.writeBytes(tag)
        }
    }
}
