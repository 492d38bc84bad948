import NIOCore

/// The body of a link-level cell — one with a fixed meaning on circuit 0 during or after the
/// link handshake (tor-spec negotiating-channels). Each conforming type parses a cell body
/// into a value and encodes it back; checks that need handshake state (circuit ID is 0, at
/// most one cert per type, ...) belong to the handshake, not here.
public protocol LinkCellBody: Hashable, Sendable {
    static var command: CellCommand { get }
    /// Parses a cell body. Fixed-length bodies arrive with their padding, which is ignored.
    init(parsingBody body: ByteBuffer) throws
    /// Appends the body without any padding.
    func encodeBody(into buffer: inout ByteBuffer) throws
}

extension LinkCellBody {
    /// Parses `cell`'s body, after checking that its command is `Self.command`.
    public init(cell: Cell) throws {
        guard cell.command == Self.command else {
            throw TorProtocolError(.wrongType, "expected a \(Self.command) cell, got \(cell.command)")
        }
        try self.init(parsingBody: cell.body)
    }

    /// Parses a body given as bytes.
    public init(parsingBody bytes: [UInt8]) throws {
        try self.init(parsingBody: ByteBuffer(bytes: bytes))
    }

    /// The body as it goes on the wire: fixed-length commands are zero-padded to 509 bytes.
    public func encodedBody() throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try encodeBody(into: &buffer)
        if !Self.command.isVariableLength {
            guard buffer.readableBytes <= Cell.fixedBodyLength else {
                throw TorProtocolError(.malformed,
                    "\(Self.command) body of \(buffer.readableBytes) bytes does not fit a \(Cell.fixedBodyLength)-byte cell")
            }
            buffer.writeRepeatingByte(0, count: Cell.fixedBodyLength - buffer.readableBytes)
        } else if buffer.readableBytes > Int(UInt16.max) {
            throw TorProtocolError(.malformed, "\(Self.command) body of \(buffer.readableBytes) bytes is over 65535")
        }
        return buffer
    }

    /// This body in a cell; link-level cells use circuit 0.
    public func cell(circuitID: UInt32 = 0) throws -> Cell {
        Cell(circuitID: circuitID, command: Self.command, body: try encodedBody())
    }
}

/// Reads the fields of a cell body, turning every shortfall into a `truncated` error that
/// names the cell and the field. Internal to the cell parsers.
struct CellBodyReader {
    var buffer: ByteBuffer
    let cell: String

    init(_ buffer: ByteBuffer, cell: String) {
        self.buffer = buffer
        self.cell = cell
    }

    var remaining: Int { buffer.readableBytes }

    mutating func readInteger<T: FixedWidthInteger>(_ field: @autoclosure () -> String, as: T.Type = T.self) throws -> T {
        guard let value = buffer.readInteger(as: T.self) else {
            throw TorProtocolError(.truncated, "\(cell) truncated in \(field())")
        }
        return value
    }

    mutating func readBytes(_ count: Int, _ field: @autoclosure () -> String) throws -> [UInt8] {
        guard count >= 0, let bytes = buffer.readBytes(length: count) else {
            throw TorProtocolError(.truncated, "\(cell) truncated in \(field()): needs \(count) bytes, \(buffer.readableBytes) left")
        }
        return bytes
    }
}
