import NIOCore

/// RELAY_DATA (command 2): stream bytes, 0 to 498 of them. CTor accepts an empty DATA cell
/// (it still counts against the windows).
public struct DataMessage: RelayMessageBody {
    public static let command = RelayCommand.data

    /// The stream bytes; after parsing, a slice of the cell body (no copy).
    public var data: ByteBuffer

    public init(_ data: ByteBuffer) throws {
        guard data.readableBytes <= RelayCellHeader.maxDataLength else {
            throw TorProtocolError(.malformed, "DATA of \(data.readableBytes) bytes does not fit one relay cell (\(RelayCellHeader.maxDataLength))")
        }
        self.data = data
    }

    public init(_ bytes: [UInt8]) throws {
        try self.init(ByteBuffer(bytes: bytes))
    }

    public init(parsingBody body: ByteBuffer) throws {
        try self.init(body)
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        var copy = data
        buffer.writeBuffer(&copy)
    }
}

/// RELAY_DROP (command 10): long-range padding. Whatever the body holds is ignored on
/// receipt (the cell only counts in the digest); we send it empty, as CTor's circuit padding does.
public struct DropMessage: RelayMessageBody {
    public static let command = RelayCommand.drop
    public init() {}
    public init(parsingBody body: ByteBuffer) throws {}
    public func encodeBody(into buffer: inout ByteBuffer) throws {}
}
