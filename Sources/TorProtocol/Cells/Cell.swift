import NIOCore

/// One link cell (tor-spec cell-packet-format): a circuit ID, a command and a body.
///
/// A fixed-length cell's body is `fixedBodyLength` (509) bytes on the wire; `CellFraming`
/// zero-pads a shorter body when encoding and always decodes the full 509 bytes. A
/// variable-length cell's body is exactly as long as it is.
public struct Cell: Hashable, Sendable, CustomStringConvertible {
    /// CELL_BODY_LEN: the body of every fixed-length cell.
    public static let fixedBodyLength = 509

    /// CircID: 0 for link-level cells; 2 bytes wide on the wire before link protocol 4, 4 after.
    public var circuitID: UInt32
    public var command: CellCommand
    public var body: ByteBuffer

    public init(circuitID: UInt32, command: CellCommand, body: ByteBuffer) {
        self.circuitID = circuitID
        self.command = command
        self.body = body
    }

    /// Never the body: it may carry relay payloads or addresses.
    public var description: String {
        "Cell(\(command), circuit \(circuitID), \(body.readableBytes) body bytes)"
    }
}
