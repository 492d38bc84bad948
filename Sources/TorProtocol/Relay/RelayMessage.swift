import NIOCore

/// Any relay message, parsed by its command. Commands without a parser here (obsolete
/// EXTEND/EXTENDED, conflux, onion services, circuit padding, XON/XOFF, UDP, and unknown
/// values) are kept as `.unparsed` with their bytes, for the circuit to drop or handle.
public enum RelayMessage: Hashable, Sendable {
    case begin(BeginMessage)
    case data(DataMessage)
    case end(EndMessage)
    case connected(ConnectedMessage)
    case sendme(SendmeMessage)
    case truncate(TruncateMessage)
    case truncated(TruncatedMessage)
    case drop(DropMessage)
    case resolve(ResolveMessage)
    case resolved(ResolvedMessage)
    case beginDir(BeginDirMessage)
    case extend2(Extend2Message)
    case extended2(Extended2Message)
    case unparsed(RelayCommand, ByteBuffer)

    /// Parses `body` (the cell's DATA field) as a `command` message.
    public init(command: RelayCommand, body: ByteBuffer) throws {
        switch command {
        case .begin: self = .begin(try BeginMessage(parsingBody: body))
        case .data: self = .data(try DataMessage(parsingBody: body))
        case .end: self = .end(try EndMessage(parsingBody: body))
        case .connected: self = .connected(try ConnectedMessage(parsingBody: body))
        case .sendme: self = .sendme(try SendmeMessage(parsingBody: body))
        case .truncate: self = .truncate(try TruncateMessage(parsingBody: body))
        case .truncated: self = .truncated(try TruncatedMessage(parsingBody: body))
        case .drop: self = .drop(try DropMessage(parsingBody: body))
        case .resolve: self = .resolve(try ResolveMessage(parsingBody: body))
        case .resolved: self = .resolved(try ResolvedMessage(parsingBody: body))
        case .beginDir: self = .beginDir(try BeginDirMessage(parsingBody: body))
        case .extend2: self = .extend2(try Extend2Message(parsingBody: body))
        case .extended2: self = .extended2(try Extended2Message(parsingBody: body))
        default: self = .unparsed(command, body)
        }
    }

    /// Parses the message in a recognized 509-byte relay cell body; returns it with the header.
    public static func parse(cellBody: ByteBuffer) throws -> (header: RelayCellHeader, message: RelayMessage) {
        let (header, data) = try RelayCellBody.parse(cellBody)
        return (header, try RelayMessage(command: header.command, body: data))
    }

    public var command: RelayCommand {
        switch self {
        case .begin: .begin
        case .data: .data
        case .end: .end
        case .connected: .connected
        case .sendme: .sendme
        case .truncate: .truncate
        case .truncated: .truncated
        case .drop: .drop
        case .resolve: .resolve
        case .resolved: .resolved
        case .beginDir: .beginDir
        case .extend2: .extend2
        case .extended2: .extended2
        case .unparsed(let command, _): command
        }
    }

    /// Appends the message body (no header, no padding).
    public func encodeBody(into buffer: inout ByteBuffer) throws {
        switch self {
        case .begin(let m): try m.encodeBody(into: &buffer)
        case .data(let m): try m.encodeBody(into: &buffer)
        case .end(let m): try m.encodeBody(into: &buffer)
        case .connected(let m): try m.encodeBody(into: &buffer)
        case .sendme(let m): try m.encodeBody(into: &buffer)
        case .truncate(let m): try m.encodeBody(into: &buffer)
        case .truncated(let m): try m.encodeBody(into: &buffer)
        case .drop(let m): try m.encodeBody(into: &buffer)
        case .resolve(let m): try m.encodeBody(into: &buffer)
        case .resolved(let m): try m.encodeBody(into: &buffer)
        case .beginDir(let m): try m.encodeBody(into: &buffer)
        case .extend2(let m): try m.encodeBody(into: &buffer)
        case .extended2(let m): try m.encodeBody(into: &buffer)
        case .unparsed(_, var bytes): buffer.writeBuffer(&bytes)
        }
    }
}
