import NIOCore

/// The DATA field of a relay cell carrying one relay message (tor-spec relay-cells and the
/// sections each message cites): LENGTH bytes after the 11-byte header, without padding.
/// Each conforming type parses those bytes into a value with the checks CTor 0.4.9 applies,
/// and encodes the value back. Checks that need circuit or stream state (stream ID rules,
/// windows, which hop may send what) belong to the circuit, not here.
public protocol RelayMessageBody: Hashable, Sendable {
    static var command: RelayCommand { get }
    /// Parses a message body: exactly the cell's LENGTH bytes.
    init(parsingBody body: ByteBuffer) throws
    /// Appends the message body.
    func encodeBody(into buffer: inout ByteBuffer) throws
}

extension RelayMessageBody {
    /// Parses a body given as bytes.
    public init(parsingBody bytes: [UInt8]) throws {
        try self.init(parsingBody: ByteBuffer(bytes: bytes))
    }

    /// The encoded body, checked to fit one relay cell (498 bytes).
    public func encodedBody() throws -> [UInt8] {
        var buffer = ByteBuffer()
        try encodeBody(into: &buffer)
        guard buffer.readableBytes <= RelayCellHeader.maxDataLength else {
            throw TorProtocolError(.malformed,
                "\(Self.command) body of \(buffer.readableBytes) bytes does not fit one relay cell (\(RelayCellHeader.maxDataLength))")
        }
        return buffer.readBytes(length: buffer.readableBytes)!
    }
}

extension CellBodyReader {
    /// Reads a big-endian 32-bit TTL or similar; named for the error message.
    mutating func readUInt32(_ field: @autoclosure () -> String) throws -> UInt32 {
        try readInteger(field(), as: UInt32.self)
    }

    /// Everything left, consuming it.
    mutating func readRest() -> [UInt8] {
        buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}

/// Host names and `host:port` targets in relay messages are ASCII without controls or spaces.
/// CTor passes them on as C strings; arti refuses non-ASCII ("target address in begin cell
/// not ascii"). We refuse anything outside 0x21...0x7E, which no valid DNS name, IPv4 or
/// bracketed IPv6 literal contains.
enum RelayText {
    static func isPrintableASCII(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }
}
