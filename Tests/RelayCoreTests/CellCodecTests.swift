import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
import TestSupport
import TorProtocol
@testable import RelayCore

/// Collects cells and, like the link handler, switches the codec to the negotiated width
/// while it handles the peer's VERSIONS cell.
private final class VersionsSwitchingHandler: ChannelInboundHandler {
    typealias InboundIn = Cell
    let decoder: CellDecoder
    let negotiated: UInt16
    var cells: [Cell] = []

    init(decoder: CellDecoder, negotiated: UInt16) {
        self.decoder = decoder
        self.negotiated = negotiated
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let cell = unwrapInboundIn(data)
        cells.append(cell)
        if cell.command == .versions {
            decoder.linkVersionNegotiated(negotiated)
        }
    }
}

@Suite(.testThreads) struct CellCodecTests {
    static let ctorVersions: [UInt8] = [0x00, 0x00, 0x07, 0x00, 0x06, 0x00, 0x03, 0x00, 0x04, 0x00, 0x05]

    func bytes(_ cells: [Cell], _ framing: CellFraming) throws -> ByteBuffer {
        var out = ByteBuffer()
        for cell in cells { try framing.encode(cell, into: &out) }
        return out
    }

    func sampleCells() throws -> [Cell] {
        var relayBody = ByteBuffer()
        for i in 0..<Cell.fixedBodyLength { relayBody.writeInteger(UInt8(truncatingIfNeeded: i)) }
        return [
            try CertsCell(certificates: [.init(type: .rsaIdentityX509, body: [1, 2, 3])]).cell(),
            try AuthChallengeCell(challenge: [UInt8](repeating: 0xC4, count: 32), methods: [.ed25519SHA256RFC5705]).cell(),
            try NetinfoCell(timestamp: 1_790_000_000, otherAddress: .ipv4([192, 0, 2, 1]),
                            myAddresses: [.ipv4([198, 51, 100, 7])]).cell(),
            Cell(circuitID: 0x8000_0001, command: .relay, body: relayBody),
            Cell(circuitID: 0, command: .vpadding, body: ByteBuffer()),
            try PaddingNegotiateCell(paddingCommand: .stop).cell(),
        ]
    }

    @Test func decoderPassesNIOVerifierOnWideLinks() throws {
        let wide = CellFraming(linkVersion: 5)
        let pairs = try sampleCells().map { (try bytes([$0], wide), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { CellDecoder(framing: wide) }
    }

    @Test func decoderPassesNIOVerifierOnVersionsFraming() throws {
        let versions = Cell(circuitID: 0, command: .versions, body: ByteBuffer(bytes: [0, 3, 0, 4, 0, 5]))
        let vpadding = Cell(circuitID: 0, command: .vpadding, body: ByteBuffer(bytes: [0, 0]))
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [
            (ByteBuffer(bytes: Self.ctorVersions), [versions]),
            (ByteBuffer(bytes: [0, 0, 0x80, 0, 2, 0, 0]), [vpadding]),
        ]) { CellDecoder() }
    }

    /// A responder's VERSIONS, CERTS, AUTH_CHALLENGE and NETINFO can arrive in one read; the
    /// width switch made while VERSIONS is handled must apply to the CERTS right behind it.
    @Test(arguments: [false, true])
    func switchesToWideCircuitIDsAfterVersionsInTheSameRead(byteByByte: Bool) throws {
        let decoder = CellDecoder()
        let collector = VersionsSwitchingHandler(decoder: decoder, negotiated: 5)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(decoder), collector])

        let rest = try sampleCells().prefix(3)
        var stream = ByteBuffer(bytes: Self.ctorVersions)
        var tail = try bytes(Array(rest), CellFraming(linkVersion: 5))
        stream.writeBuffer(&tail)
        if byteByByte {
            for byte in stream.readableBytesView { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        } else {
            try channel.writeInbound(stream)
        }
        #expect(collector.cells.map(\.command) == [.versions, .certs, .authChallenge, .netinfo])
        #expect(Array(collector.cells.dropFirst()) == Array(rest))
        #expect(try VersionsCell(cell: collector.cells[0]).versions == [3, 4, 5])
        #expect(decoder.framing.circuitIDWidth == .wide)
        #expect(try channel.finish().isClean)
    }

    @Test func staysNarrowOnLinkVersion3() throws {
        let decoder = CellDecoder()
        let collector = VersionsSwitchingHandler(decoder: decoder, negotiated: 3)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(decoder), collector])
        var stream = ByteBuffer(bytes: Self.ctorVersions)
        var tail = try bytes([Cell(circuitID: 0x0102, command: .destroy, body: ByteBuffer(bytes: [9]))], CellFraming(linkVersion: 3))
        stream.writeBuffer(&tail)
        try channel.writeInbound(stream)
        #expect(collector.cells.map(\.circuitID) == [0, 0x0102])
        #expect(decoder.framing.circuitIDWidth == .narrow)
    }

    @Test func variableCellClaiming65535BytesClosesTheLinkWithAProtocolError() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(CellDecoder(framing: CellFraming(linkVersion: 5))))
        #expect(throws: TorProtocolError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 0, 0x81, 0xFF, 0xFF]))
        }
        _ = try? channel.finish()
    }

    @Test func linkEndingInsideACellIsAnError() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(CellDecoder(framing: CellFraming(linkVersion: 5))))
        var stream = try bytes(Array(try sampleCells().prefix(1)), CellFraming(linkVersion: 5))
        stream.writeBytes([0, 0, 0, 0, 3, 1, 2])  // 7 bytes of a RELAY cell
        try channel.writeInbound(stream)
        #expect(try channel.readInbound(as: Cell.self)?.command == .certs)
        #expect(throws: TorProtocolError.self) { _ = try channel.finish() }
    }

    @Test func linkEndingOnACellBoundaryIsClean() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(CellDecoder(framing: CellFraming(linkVersion: 5))))
        try channel.writeInbound(try bytes(try sampleCells(), CellFraming(linkVersion: 5)))
        var count = 0
        while try channel.readInbound(as: Cell.self) != nil { count += 1 }
        #expect(count == 6)
        #expect(try channel.finish().isClean)
    }

    @Test func encoderWritesNegotiatedWidthAndVersionsNarrow() throws {
        let encoder = CellEncoder()
        let channel = EmbeddedChannel(handler: MessageToByteHandler(encoder))
        let versions = try VersionsCell(versions: [3, 4, 5]).cell()
        try channel.writeOutbound(versions)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: Self.ctorVersions))

        encoder.linkVersionNegotiated(5)
        let cells = try sampleCells()
        for cell in cells { try channel.writeOutbound(cell) }
        var written = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&chunk) }
        #expect(written == (try bytes(cells, CellFraming(linkVersion: 5))))
        #expect(Array(written.readableBytesView.prefix(5)) == [0, 0, 0, 0, 129])  // CERTS, 4-byte CircID 0

        // VERSIONS keeps its 2-byte CircID after the switch.
        try channel.writeOutbound(versions)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: Self.ctorVersions))
        #expect(try channel.finish().isClean)
    }

    @Test func encoderRefusesAFixedBodyOver509Bytes() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(CellEncoder(framing: CellFraming(linkVersion: 5))))
        let cell = Cell(circuitID: 1, command: .relay, body: ByteBuffer(repeating: 0, count: 510))
        #expect(throws: TorProtocolError.self) { try channel.writeOutbound(cell) }
        _ = try? channel.finish()
    }

    @Test func encoderOutputDecodesToTheSameCells() throws {
        let framing = CellFraming(linkVersion: 4)
        let encoderChannel = EmbeddedChannel(handler: MessageToByteHandler(CellEncoder(framing: framing)))
        let decoderChannel = EmbeddedChannel(handler: ByteToMessageHandler(CellDecoder(framing: framing)))
        var cells = try sampleCells()
        cells[3].body = ByteBuffer(bytes: [1, 2, 3])  // short: the encoder pads it
        for cell in cells { try encoderChannel.writeOutbound(cell) }
        while let chunk = try encoderChannel.readOutbound(as: ByteBuffer.self) { try decoderChannel.writeInbound(chunk) }
        var decoded = [Cell]()
        while let cell = try decoderChannel.readInbound(as: Cell.self) { decoded.append(cell) }
        #expect(decoded.count == cells.count)
        #expect(decoded[3].body.readableBytes == Cell.fixedBodyLength)
        #expect(decoded[3].body.getBytes(at: decoded[3].body.readerIndex, length: 4) == [1, 2, 3, 0])
        #expect(Array(decoded.prefix(3)) == Array(cells.prefix(3)))
        #expect(Array(decoded.suffix(2)) == Array(cells.suffix(2)))
        _ = try encoderChannel.finish()
        _ = try decoderChannel.finish()
    }

    /// Random chunks through the pipeline: cells or a TorProtocolError, never a trap.
    @Test func pseudoRandomStreamsOnlyYieldCellsOrProtocolErrors() throws {
        var state: UInt64 = 0x5EED
        func next() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        for _ in 0..<500 {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(CellDecoder(framing: CellFraming(linkVersion: 5))))
            do {
                for _ in 0..<(Int(next()) % 8 + 1) {
                    let length = Int(next()) * 4
                    try channel.writeInbound(ByteBuffer(bytes: (0..<length).map { _ in next() }))
                }
                while try channel.readInbound(as: Cell.self) != nil {}
                _ = try channel.finish()
            } catch is TorProtocolError {
                _ = try? channel.finish()
            }
        }
    }
}
