import NIOCore
import Testing
@testable import TorProtocol

@Suite struct CellFramingTests {
    let narrow = CellFraming(circuitIDWidth: .narrow)
    let wide = CellFraming(circuitIDWidth: .wide)

    func encode(_ cell: Cell, _ framing: CellFraming) throws -> [UInt8] {
        var out = ByteBuffer()
        try framing.encode(cell, into: &out)
        return Array(out.readableBytesView)
    }

    func decodeAll(_ bytes: [UInt8], _ framing: CellFraming) throws -> (cells: [Cell], leftover: Int) {
        var buf = ByteBuffer(bytes: bytes)
        var cells = [Cell]()
        while let cell = try framing.decode(&buf) { cells.append(cell) }
        return (cells, buf.readableBytes)
    }

    func expectError(_ code: TorProtocolError.Code, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected a \(code) error")
        } catch let e as TorProtocolError {
            #expect(e.code == code, "\(e)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func commandCodesAndVariableLength() {
        let table: [(CellCommand, UInt8)] = [
            (.padding, 0), (.create, 1), (.created, 2), (.relay, 3), (.destroy, 4), (.createFast, 5),
            (.createdFast, 6), (.versions, 7), (.netinfo, 8), (.relayEarly, 9), (.create2, 10),
            (.created2, 11), (.paddingNegotiate, 12), (.vpadding, 128), (.certs, 129),
            (.authChallenge, 130), (.authenticate, 131), (.authorize, 132),
        ]
        for (command, raw) in table {
            #expect(command.rawValue == raw)
            #expect(!command.description.hasPrefix("command "), "\(raw) has no name")
        }
        for raw in 0...255 {
            let command = CellCommand(UInt8(raw))
            #expect(command.isVariableLength == (raw == 7 || raw >= 128), "command \(raw)")
        }
        #expect(CellCommand(200).description == "command 200")
    }

    @Test func ctorVersionsCellDecodesAndReencodes() throws {
        let bytes = CellVectors.ctorVersionsCell
        let (cells, leftover) = try decodeAll(bytes, narrow)
        #expect(leftover == 0)
        let cell = try #require(cells.first)
        #expect(cells.count == 1)
        #expect(cell.circuitID == 0)
        #expect(cell.command == .versions)
        #expect(try VersionsCell(cell: cell).versions == [3, 4, 5])
        #expect(try encode(cell, narrow) == bytes)
        // VERSIONS keeps its 2-byte CircID on a link already framed wide.
        #expect(try encode(cell, wide) == bytes)
        #expect(try encode(try VersionsCell(versions: [3, 4, 5]).cell(), wide) == bytes)
        #expect(wide.encodedLength(of: cell) == bytes.count)
    }

    @Test func linkVersionSelectsWidth() {
        #expect(CellFraming(linkVersion: 3).circuitIDWidth == .narrow)
        #expect(CellFraming(linkVersion: 4).circuitIDWidth == .wide)
        #expect(CellFraming(linkVersion: 5).circuitIDWidth == .wide)
        #expect(CellFraming().circuitIDWidth == .narrow)
        #expect(CellFraming().maxVariableBodyLength == CellFraming.defaultMaxVariableBodyLength)
    }

    @Test func fixedCellRoundTripsAtBothWidths() throws {
        var body = ByteBuffer()
        for i in 0..<Cell.fixedBodyLength { body.writeInteger(UInt8(truncatingIfNeeded: i &* 7)) }
        for (framing, circuitID, size) in [(wide, UInt32(0x8000_0001), 514), (narrow, UInt32(0x8001), 512)] {
            let cell = Cell(circuitID: circuitID, command: .relay, body: body)
            let bytes = try encode(cell, framing)
            #expect(bytes.count == size)
            #expect(framing.encodedLength(of: cell) == size)
            let (cells, leftover) = try decodeAll(bytes, framing)
            #expect(cells == [cell])
            #expect(leftover == 0)
            #expect(try encode(cells[0], framing) == bytes)
        }
        let wideBytes = try encode(Cell(circuitID: 0x8000_0001, command: .relay, body: body), wide)
        #expect(Array(wideBytes.prefix(5)) == [0x80, 0x00, 0x00, 0x01, 0x03])
    }

    @Test func shortFixedBodyIsZeroPadded() throws {
        let cell = Cell(circuitID: 5, command: .destroy, body: ByteBuffer(bytes: [0x04]))
        let bytes = try encode(cell, wide)
        #expect(bytes == [0, 0, 0, 5, 4, 4] + [UInt8](repeating: 0, count: 508))
        let decoded = try #require(try decodeAll(bytes, wide).cells.first)
        #expect(decoded.body.readableBytes == 509)
        #expect(decoded.body.getBytes(at: decoded.body.readerIndex, length: 1) == [4])
    }

    @Test func fixedBodyLongerThan509IsRefusedAndNothingWritten() {
        let cell = Cell(circuitID: 1, command: .relay, body: ByteBuffer(repeating: 1, count: 510))
        var out = ByteBuffer(bytes: [0xAA])
        expectError(.malformed) { try wide.encode(cell, into: &out) }
        #expect(Array(out.readableBytesView) == [0xAA])
    }

    @Test func circuitIDTooWideForNarrowFramingIsRefused() {
        let cell = Cell(circuitID: 0x1_0000, command: .relay, body: ByteBuffer())
        var out = ByteBuffer()
        expectError(.malformed) { try narrow.encode(cell, into: &out) }
        #expect(out.readableBytes == 0)
        let versions = Cell(circuitID: 0x1_0000, command: .versions, body: ByteBuffer(bytes: [0, 4]))
        expectError(.malformed) { try wide.encode(versions, into: &out) }
    }

    @Test func variableCellsRoundTrip() throws {
        for framing in [narrow, wide] {
            for (command, length) in [(CellCommand.vpadding, 0), (.certs, 1), (.authorize, 300), (CellCommand(250), 16_384)] {
                var body = ByteBuffer()
                for i in 0..<length { body.writeInteger(UInt8(truncatingIfNeeded: i)) }
                let cell = Cell(circuitID: 0, command: command, body: body)
                let bytes = try encode(cell, framing)
                #expect(bytes.count == framing.circuitIDWidth.rawValue + 3 + length)
                let (cells, leftover) = try decodeAll(bytes, framing)
                #expect(cells == [cell])
                #expect(leftover == 0)
                #expect(try encode(cells[0], framing) == bytes)
            }
        }
    }

    @Test func variableBodyOver65535IsRefusedOnEncode() {
        let cell = Cell(circuitID: 0, command: .vpadding, body: ByteBuffer(repeating: 0, count: 65_536))
        var out = ByteBuffer()
        expectError(.malformed) { try wide.encode(cell, into: &out) }
        #expect(out.readableBytes == 0)
    }

    @Test func variableCellClaiming65535BytesIsOverTheLimitBeforeItsBodyArrives() {
        // Only the 7-byte header is there: the claim alone is enough to refuse the link.
        var buf = ByteBuffer(bytes: [0, 0, 0, 0, 0x80, 0xFF, 0xFF])
        expectError(.malformed) { _ = try wide.decode(&buf) }
        var narrowBuf = ByteBuffer(bytes: [0, 0, 0x81, 0x40, 0x01])  // 16385: one over
        expectError(.malformed) { _ = try narrow.decode(&narrowBuf) }
    }

    @Test func limitIsConfigurable() throws {
        let roomy = CellFraming(circuitIDWidth: .wide, maxVariableBodyLength: 65_535)
        let cell = Cell(circuitID: 0, command: .vpadding, body: ByteBuffer(repeating: 0, count: 65_535))
        let bytes = try encode(cell, roomy)
        #expect(try decodeAll(bytes, roomy).cells == [cell])
        let strict = CellFraming(circuitIDWidth: .wide, maxVariableBodyLength: 10)
        var buf = ByteBuffer(bytes: try encode(Cell(circuitID: 0, command: .certs, body: ByteBuffer(repeating: 0, count: 11)), wide))
        expectError(.malformed) { _ = try strict.decode(&buf) }
        var ok = ByteBuffer(bytes: try encode(Cell(circuitID: 0, command: .certs, body: ByteBuffer(repeating: 0, count: 10)), wide))
        #expect(try strict.decode(&ok) != nil)
    }

    @Test func incompleteCellLeavesReaderIndexUntouched() throws {
        var stream = ByteBuffer()
        try wide.encode(Cell(circuitID: 0, command: .certs, body: ByteBuffer(bytes: [1, 2, 3])), into: &stream)
        try wide.encode(Cell(circuitID: 0x8000_0002, command: .create2, body: ByteBuffer(bytes: [0, 2])), into: &stream)
        let all = Array(stream.readableBytesView)
        for n in 0...all.count {
            var buf = ByteBuffer(bytes: Array(all.prefix(n)))
            var decoded = 0
            while true {
                let before = buf.readerIndex
                guard let cell = try wide.decode(&buf) else {
                    #expect(buf.readerIndex == before, "prefix \(n)")
                    break
                }
                #expect(buf.readerIndex - before == wide.encodedLength(of: cell))
                decoded += 1
            }
            let expected = n >= all.count ? 2 : (n >= 10 ? 1 : 0)
            #expect(decoded == expected, "prefix \(n)")
        }
    }

    @Test func decodesAtAnOffsetReaderIndex() throws {
        var buf = ByteBuffer(bytes: [9, 9, 9])
        buf.moveReaderIndex(forwardBy: 3)
        buf.writeBytes(CellVectors.ctorVersionsCell)
        let cell = try #require(try narrow.decode(&buf))
        #expect(try VersionsCell(cell: cell).versions == [3, 4, 5])
        #expect(buf.readableBytes == 0)
    }
}
