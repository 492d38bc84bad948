import NIOCore
import Testing
import TorCrypto
@testable import TorProtocol

/// The v0 relay cell header and body layout (tor-spec relay-cells, checklist §4.6).
@Suite struct RelayCellBodyTests {
    @Test func headerLayout() throws {
        let header = RelayCellHeader(command: .data, streamID: 0x1234, length: 498, recognized: 0xabcd, digest: 0x0102_0304)
        var buffer = ByteBuffer()
        header.write(to: &buffer)
        #expect(Array(buffer.readableBytesView) == RelayTest.unhex("02 abcd 1234 01020304 01f2"))
        #expect(try RelayCellHeader(from: buffer) == header)
        #expect(buffer.readableBytes == 11, "reading does not consume")

        var body = [UInt8](repeating: 0xff, count: 509)
        body.withUnsafeMutableBytes { header.write(to: $0) }
        #expect(Array(body[0..<11]) == Array(buffer.readableBytesView))
        #expect(body[11] == 0xff, "writing touches only the header")
        #expect(body.withUnsafeBytes { RelayCellHeader(from: $0) } == header)
    }

    @Test func shortBodyHasNoHeader() {
        RelayTest.expectError(.truncated) { try RelayCellHeader(from: ByteBuffer(bytes: [2, 0, 0])) }
    }

    @Test func lengthOver498IsMalformed() throws {
        var body = try RelayCellBody.make(command: .data, streamID: 1, data: [1, 2, 3])
        body.setInteger(UInt16(499), at: 9)
        RelayTest.expectError(.malformed) { try RelayCellBody.parse(body) }
        RelayTest.expectError(.malformed) { try RelayCellHeader(from: body).dataLength() }
    }

    @Test func parseGivesHeaderAndData() throws {
        let body = try RelayCellBody.make(command: .end, streamID: 9, data: [6])
        #expect(body.readableBytes == 509)
        let (header, data) = try RelayCellBody.parse(body)
        #expect(header == RelayCellHeader(command: .end, streamID: 9, length: 1))
        #expect(Array(data.readableBytesView) == [6])
        let (_, message) = try RelayMessage.parse(cellBody: body)
        #expect(message == .end(EndMessage(reason: .done)))
    }

    /// Padding as CTor writes it: 4 zero bytes after DATA, then random bytes (CELL_PADDING_GAP).
    @Test(arguments: [0, 1, 100, 493, 494, 495, 497, 498])
    func paddingIsFourZerosThenRandom(_ length: Int) throws {
        var rng = TestRandom(seed: UInt64(length))
        let data = [UInt8](repeating: 0x61, count: length)
        let body = Array(try RelayCellBody.make(command: .data, streamID: 1, data: data, random: &rng).readableBytesView)
        #expect(body.count == 509)
        #expect(Array(body[11..<(11 + length)]) == data)
        let zeroEnd = min(11 + length + 4, 509)
        #expect(body[(11 + length)..<zeroEnd].allSatisfy { $0 == 0 })
        var expectedRandom = TestRandom(seed: UInt64(length))
        #expect(Array(body[zeroEnd...]) == expectedRandom.bytes(509 - zeroEnd))
    }

    @Test func zeroPaddedBodyIsZeroAfterData() throws {
        let body = Array(try RelayCellBody.make(command: .data, streamID: 1, data: [1, 2]).readableBytesView)
        #expect(body[13...].allSatisfy { $0 == 0 })
    }

    @Test func dataOverOneCellIsRefused() {
        RelayTest.expectError(.malformed) { try RelayCellBody.make(command: .data, streamID: 1, data: [UInt8](repeating: 0, count: 499)) }
        RelayTest.expectError(.malformed) { try DataMessage(ByteBuffer(repeating: 0, count: 499)).encodedBody() }
    }

    @Test func messageIntoBody() throws {
        var rng = TestRandom(seed: 1)
        let body = try RelayCellBody.make(try BeginMessage(host: "example.com", port: 443), streamID: 5, random: &rng)
        let (header, message) = try RelayMessage.parse(cellBody: body)
        #expect(header.command == .begin && header.streamID == 5 && header.recognized == 0 && header.digest == 0)
        #expect(message == .begin(try BeginMessage(host: "example.com", port: 443)))
    }
}
