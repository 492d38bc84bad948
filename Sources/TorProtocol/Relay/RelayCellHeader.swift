import NIOCore

/// The header of a relay cell in format v0 (tor-spec relay-cells, checklist §4.6), the first
/// 11 bytes of the 509-byte body of a RELAY or RELAY_EARLY cell:
///
///     RELAY_COMMAND (1) | RECOGNIZED (2) | STREAM_ID (2) | DIGEST (4) | LENGTH (2) |
///     DATA (LENGTH, ≤ 498) | PADDING
///
/// Before tor1 decryption at the right hop the bytes are ciphertext; only a body whose
/// `decryptForward`/`decryptBackward` returned true has a meaningful header. The readers and
/// writers here work in place on the body and do not allocate.
public struct RelayCellHeader: Hashable, Sendable {
    /// Bytes of the header.
    public static let length = 11
    /// Bytes of a relay cell body (CELL_BODY_LEN).
    public static let bodyLength = Cell.fixedBodyLength
    /// The most DATA bytes one relay cell carries (RELAY_PAYLOAD_SIZE, 509 − 11).
    public static let maxDataLength = bodyLength - length

    static let recognizedOffset = 1
    static let streamIDOffset = 3
    static let digestOffset = 5
    static let lengthOffset = 9

    public var command: RelayCommand
    /// RECOGNIZED: 0 in every plaintext cell.
    public var recognized: UInt16
    /// STREAM_ID: 0 for circuit-level messages.
    public var streamID: UInt16
    /// DIGEST: the first 4 bytes of the running tor1 digest, big-endian as on the wire.
    public var digest: UInt32
    /// LENGTH: how many DATA bytes follow the header. Not checked here; see `dataLength()`.
    public var length: UInt16

    public init(command: RelayCommand, streamID: UInt16, length: UInt16, recognized: UInt16 = 0, digest: UInt32 = 0) {
        self.command = command
        self.recognized = recognized
        self.streamID = streamID
        self.digest = digest
        self.length = length
    }

    /// Reads the header at the start of `body` (at least 11 bytes: a programming error otherwise).
    public init(from body: UnsafeRawBufferPointer) {
        precondition(body.count >= Self.length, "a relay cell body is \(Self.bodyLength) bytes")
        command = RelayCommand(body[0])
        recognized = UInt16(bigEndian: body.loadUnaligned(fromByteOffset: Self.recognizedOffset, as: UInt16.self))
        streamID = UInt16(bigEndian: body.loadUnaligned(fromByteOffset: Self.streamIDOffset, as: UInt16.self))
        digest = UInt32(bigEndian: body.loadUnaligned(fromByteOffset: Self.digestOffset, as: UInt32.self))
        length = UInt16(bigEndian: body.loadUnaligned(fromByteOffset: Self.lengthOffset, as: UInt16.self))
    }

    /// Reads the header at `body`'s reader index without moving it.
    public init(from body: ByteBuffer) throws {
        guard body.readableBytes >= Self.length else {
            throw TorProtocolError(.truncated, "relay cell body of \(body.readableBytes) bytes has no room for the 11-byte header")
        }
        self = body.withUnsafeReadableBytes { RelayCellHeader(from: $0) }
    }

    /// Writes the header over the first 11 bytes of `body`.
    public func write(to body: UnsafeMutableRawBufferPointer) {
        precondition(body.count >= Self.length, "a relay cell body is \(Self.bodyLength) bytes")
        body[0] = command.rawValue
        body.storeBytes(of: recognized.bigEndian, toByteOffset: Self.recognizedOffset, as: UInt16.self)
        body.storeBytes(of: streamID.bigEndian, toByteOffset: Self.streamIDOffset, as: UInt16.self)
        body.storeBytes(of: digest.bigEndian, toByteOffset: Self.digestOffset, as: UInt32.self)
        body.storeBytes(of: length.bigEndian, toByteOffset: Self.lengthOffset, as: UInt16.self)
    }

    /// Appends the 11 header bytes to `buffer`.
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(command.rawValue)
        buffer.writeInteger(recognized)
        buffer.writeInteger(streamID)
        buffer.writeInteger(digest)
        buffer.writeInteger(length)
    }

    /// LENGTH as a count, after checking it fits the cell. CTor closes the circuit with
    /// TORPROTOCOL on a recognized cell whose LENGTH exceeds 498 (`relay.c`).
    public func dataLength() throws -> Int {
        guard Int(length) <= Self.maxDataLength else {
            throw TorProtocolError(.malformed, "\(command) relay cell claims \(length) data bytes, over the \(Self.maxDataLength)-byte limit")
        }
        return Int(length)
    }
}
