import NIOCore

/// PADDING_NEGOTIATE (command 12, link protocol 5 and later; padding-spec
/// connection-level-padding, checklist §3.8): `version (1) = 0 | command (1) |
/// ito_low_ms (2) | ito_high_ms (2)`, zero-padded to 509 bytes. A relay accepts and may
/// ignore it; relays never send it to clients. CTor drops (does not close on) a malformed one.
public struct PaddingNegotiateCell: LinkCellBody {
    public static let command = CellCommand.paddingNegotiate

    /// CHANNELPADDING_COMMAND_*. Open so that a value can be named in an error; parsing
    /// accepts only `stop` and `start`, as CTor's trunnel parser does.
    public struct Command: RawRepresentable, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let stop = Command(rawValue: 1)
        public static let start = Command(rawValue: 2)
    }

    /// The cell's `command` field (named apart from `LinkCellBody.command`, the cell command).
    public var paddingCommand: Command
    /// Lower bound of the inactivity timeout in milliseconds (0: use the consensus value).
    public var inactivityTimeoutLowMilliseconds: UInt16
    /// Upper bound of the inactivity timeout in milliseconds.
    public var inactivityTimeoutHighMilliseconds: UInt16

    public init(paddingCommand: Command, inactivityTimeoutLowMilliseconds: UInt16 = 0,
                inactivityTimeoutHighMilliseconds: UInt16 = 0) {
        self.paddingCommand = paddingCommand
        self.inactivityTimeoutLowMilliseconds = inactivityTimeoutLowMilliseconds
        self.inactivityTimeoutHighMilliseconds = inactivityTimeoutHighMilliseconds
    }

    public init(parsingBody body: ByteBuffer) throws {
        var reader = CellBodyReader(body, cell: "PADDING_NEGOTIATE")
        let version: UInt8 = try reader.readInteger("version")
        guard version == 0 else {
            throw TorProtocolError(.unsupported, "PADDING_NEGOTIATE version \(version), expected 0")
        }
        paddingCommand = Command(rawValue: try reader.readInteger("command"))
        guard paddingCommand == .stop || paddingCommand == .start else {
            throw TorProtocolError(.unsupported, "PADDING_NEGOTIATE command \(paddingCommand.rawValue), expected 1 (stop) or 2 (start)")
        }
        inactivityTimeoutLowMilliseconds = try reader.readInteger("ito_low_ms")
        inactivityTimeoutHighMilliseconds = try reader.readInteger("ito_high_ms")
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(paddingCommand.rawValue)
        buffer.writeInteger(inactivityTimeoutLowMilliseconds)
        buffer.writeInteger(inactivityTimeoutHighMilliseconds)
    }
}
