import NIOCore
import TorProtocol

/// Splits a link's decrypted byte stream into `Cell`s with a `CellFraming`.
///
/// How it learns the circuit-ID width: it starts narrow (2-byte CircIDs, for VERSIONS), and
/// the link handler switches it by calling `linkVersionNegotiated(_:)` (or setting `framing`)
/// while it handles the peer's VERSIONS cell in `channelRead`. That is early enough:
/// `ByteToMessageHandler` hands each cell up the pipeline synchronously before decoding the
/// next, so the CERTS cell that may sit in the same read as VERSIONS is already decoded with
/// the new width. The handler keeps a reference to this decoder (it is a class) for that.
/// The decoder does not work out the version itself: which version wins depends on both
/// sides' lists, which only the handshake knows.
public final class CellDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Cell

    public var framing: CellFraming

    public init(framing: CellFraming = CellFraming()) {
        self.framing = framing
    }

    /// Switches to the framing of link protocol `version`; call it from the VERSIONS handling.
    public func linkVersionNegotiated(_ version: UInt16) {
        framing = CellFraming(linkVersion: version, maxVariableBodyLength: framing.maxVariableBodyLength)
    }

    public func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let cell = try framing.decode(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(cell))
        return .continue
    }

    /// At EOF, delivers the complete cells still buffered and then refuses a partial one: a
    /// link that ends mid-cell was cut off. When the handler is merely removed (no EOF), the
    /// remaining bytes are left for whoever comes next.
    public func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if try decode(context: context, buffer: &buffer) == .continue {
            return .continue
        }
        if seenEOF, buffer.readableBytes > 0 {
            throw TorProtocolError(.truncated, "link ended inside a cell: \(buffer.readableBytes) bytes of a partial cell")
        }
        return .needMoreData
    }
}

/// Writes `Cell`s with a `CellFraming`. The link handler switches it to the negotiated width,
/// like `CellDecoder`, before it writes its first cell after VERSIONS (VERSIONS itself is
/// always framed with a 2-byte CircID).
public final class CellEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Cell

    public var framing: CellFraming

    public init(framing: CellFraming = CellFraming()) {
        self.framing = framing
    }

    public func linkVersionNegotiated(_ version: UInt16) {
        framing = CellFraming(linkVersion: version, maxVariableBodyLength: framing.maxVariableBodyLength)
    }

    public func encode(data: Cell, out: inout ByteBuffer) throws {
        try framing.encode(data, into: &out)
    }
}
