import NIOCore

/// RELAY_TRUNCATE (command 8; tor-spec tearing-down-circuits): the client asks the hop to
/// tear down everything after it. Body: `REASON (1)`, which CTor's relay passes on in the
/// DESTROY it sends to the next hop; arti sends the message empty.
///
/// An empty body is read as reason NONE (0): CTor 0.4.9.7 stopped reading a reason byte
/// past the end of a reason-less TRUNCATE/TRUNCATED (checklist §9 item 24); the exact default
/// it substitutes could not be confirmed from the sources at hand, and NONE is what a client
/// that gives no reason means. Bytes after REASON are ignored.
public struct TruncateMessage: RelayMessageBody {
    public static let command = RelayCommand.truncate
    public var reason: DestroyReason

    public init(reason: DestroyReason = .none) { self.reason = reason }

    public init(parsingBody body: ByteBuffer) throws {
        reason = DestroyReason(body.getInteger(at: body.readerIndex, as: UInt8.self) ?? DestroyReason.none.rawValue)
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        buffer.writeInteger(reason.rawValue)
    }
}

/// RELAY_TRUNCATED (command 9): the hop tore down the rest of the circuit. Body:
/// `REASON (1)`; CTor's relay answers a TRUNCATE with REQUESTED, and reports a lost next hop
/// with its DESTROY reason. Empty body: reason NONE, as for TRUNCATE.
public struct TruncatedMessage: RelayMessageBody {
    public static let command = RelayCommand.truncated
    public var reason: DestroyReason

    public init(reason: DestroyReason) { self.reason = reason }

    public init(parsingBody body: ByteBuffer) throws {
        reason = DestroyReason(body.getInteger(at: body.readerIndex, as: UInt8.self) ?? DestroyReason.none.rawValue)
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        buffer.writeInteger(reason.rawValue)
    }
}
