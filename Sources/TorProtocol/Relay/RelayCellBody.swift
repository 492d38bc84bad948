import NIOCore
import TorCrypto

/// Building and reading the 509-byte plaintext body of a relay cell (format v0, checklist
/// §4.6). Writing works in place on a caller's buffer so that the per-cell path need not
/// allocate; the `ByteBuffer` forms are conveniences for everything else.
public enum RelayCellBody {
    /// Zero bytes CTor leaves after DATA before the random padding (`CELL_PADDING_GAP` in
    /// `relay.c`). The random rest keeps the other end from predicting every byte of a cell and
    /// so forging an authenticated SENDME without having seen the traffic (proposal 289).
    public static let zeroPaddingLength = 4

    /// Writes a cell we originate into `body` (509 bytes): the header with RECOGNIZED and
    /// DIGEST zero (tor1 fills DIGEST when encrypting), `data`, then padding as CTor writes it
    /// — up to 4 zero bytes, the rest from `random` (proposal 289). Traps if `data` is over
    /// 498 bytes or `body` is not 509: both are programming errors.
    public static func write<R: RandomSource>(command: RelayCommand, streamID: UInt16, data: UnsafeRawBufferPointer,
                                              into body: UnsafeMutableRawBufferPointer, random: inout R) {
        let end = writeHeaderAndData(command: command, streamID: streamID, data: data, into: body)
        let zeroEnd = min(end + zeroPaddingLength, body.count)
        for i in end..<zeroEnd { body[i] = 0 }
        if zeroEnd < body.count {
            random.fill(UnsafeMutableRawBufferPointer(rebasing: body[zeroEnd...]))
        }
    }

    /// As `write(command:streamID:data:into:random:)` with all-zero padding (deterministic:
    /// tests, and cells whose padding nobody can observe).
    public static func write(command: RelayCommand, streamID: UInt16, data: UnsafeRawBufferPointer,
                             into body: UnsafeMutableRawBufferPointer) {
        let end = writeHeaderAndData(command: command, streamID: streamID, data: data, into: body)
        for i in end..<body.count { body[i] = 0 }
    }

    private static func writeHeaderAndData(command: RelayCommand, streamID: UInt16, data: UnsafeRawBufferPointer,
                                           into body: UnsafeMutableRawBufferPointer) -> Int {
        precondition(body.count == RelayCellHeader.bodyLength, "a relay cell body is \(RelayCellHeader.bodyLength) bytes, got \(body.count)")
        precondition(data.count <= RelayCellHeader.maxDataLength, "relay data of \(data.count) bytes is over \(RelayCellHeader.maxDataLength)")
        RelayCellHeader(command: command, streamID: streamID, length: UInt16(data.count)).write(to: body)
        let end = RelayCellHeader.length + data.count
        if !data.isEmpty {
            UnsafeMutableRawBufferPointer(rebasing: body[RelayCellHeader.length..<end]).copyMemory(from: data)
        }
        return end
    }

    /// A new 509-byte body for `command` with `data`, padded as CTor pads. Throws when `data`
    /// does not fit one cell.
    public static func make<R: RandomSource>(command: RelayCommand, streamID: UInt16, data: [UInt8],
                                             random: inout R) throws -> ByteBuffer {
        try checkFits(data.count, command)
        var buffer = ByteBuffer(repeating: 0, count: RelayCellHeader.bodyLength)
        buffer.withUnsafeMutableReadableBytes { body in
            data.withUnsafeBytes { write(command: command, streamID: streamID, data: $0, into: body, random: &random) }
        }
        return buffer
    }

    /// A new 509-byte body with zero padding.
    public static func make(command: RelayCommand, streamID: UInt16, data: [UInt8]) throws -> ByteBuffer {
        try checkFits(data.count, command)
        var buffer = ByteBuffer(repeating: 0, count: RelayCellHeader.bodyLength)
        buffer.withUnsafeMutableReadableBytes { body in
            data.withUnsafeBytes { write(command: command, streamID: streamID, data: $0, into: body) }
        }
        return buffer
    }

    /// A new 509-byte body carrying `message` on `streamID`, padded as CTor pads.
    public static func make<M: RelayMessageBody, R: RandomSource>(_ message: M, streamID: UInt16,
                                                                  random: inout R) throws -> ByteBuffer {
        try make(command: M.command, streamID: streamID, data: message.encodedBody(), random: &random)
    }

    /// The header and DATA of a recognized (decrypted, digest-checked) body. The data is a
    /// slice of `body` (no copy). Throws when the body is short or LENGTH is over 498.
    public static func parse(_ body: ByteBuffer) throws -> (header: RelayCellHeader, data: ByteBuffer) {
        let header = try RelayCellHeader(from: body)
        let length = try header.dataLength()
        guard let data = body.getSlice(at: body.readerIndex + RelayCellHeader.length, length: length) else {
            throw TorProtocolError(.truncated, "\(header.command) relay cell claims \(length) data bytes; the body has \(body.readableBytes - RelayCellHeader.length)")
        }
        return (header, data)
    }

    private static func checkFits(_ count: Int, _ command: RelayCommand) throws {
        guard count <= RelayCellHeader.maxDataLength else {
            throw TorProtocolError(.malformed, "\(command) data of \(count) bytes does not fit one relay cell (\(RelayCellHeader.maxDataLength))")
        }
    }
}
