import NIOCore

/// How cells are laid out on a link (tor-spec cell-packet-format, checklist §3.2):
///
///     fixed:    CircID (2 or 4) | Command (1) | Body (509)
///     variable: CircID (2 or 4) | Command (1) | Length (2, big-endian) | Body (Length)
///
/// Before a link protocol is negotiated, and for every VERSIONS cell, CircID is 2 bytes;
/// from link protocol 4 on it is 4. A framing is a value: the link switches by replacing it
/// (see `init(linkVersion:)`) once VERSIONS are exchanged.
public struct CellFraming: Hashable, Sendable {
    /// The width of the CircID field.
    public enum CircuitIDWidth: Int, Hashable, Sendable {
        /// 2 bytes: VERSIONS cells, everything before negotiation, and link protocol 3.
        case narrow = 2
        /// 4 bytes: link protocol 4 and later.
        case wide = 4
    }

    /// The largest variable-length body `decode` accepts unless configured otherwise. The
    /// Length field allows 65535 and CTor accepts that much; the largest cell a relay
    /// legitimately sends is CERTS at about 1.5 KB, so a larger claim is refused as soon as
    /// its header arrives instead of buffering it.
    public static let defaultMaxVariableBodyLength = 16_384

    public var circuitIDWidth: CircuitIDWidth
    /// Variable-length cells whose Length exceeds this are a protocol violation (the link closes).
    public var maxVariableBodyLength: Int

    public init(circuitIDWidth: CircuitIDWidth = .narrow,
                maxVariableBodyLength: Int = CellFraming.defaultMaxVariableBodyLength) {
        self.circuitIDWidth = circuitIDWidth
        self.maxVariableBodyLength = maxVariableBodyLength
    }

    /// The framing for a negotiated link protocol: narrow CircIDs below version 4, wide from 4.
    public init(linkVersion: UInt16,
                maxVariableBodyLength: Int = CellFraming.defaultMaxVariableBodyLength) {
        self.init(circuitIDWidth: linkVersion >= 4 ? .wide : .narrow, maxVariableBodyLength: maxVariableBodyLength)
    }

    /// Reads one cell from `buffer`. Returns nil, leaving the reader index where it was, when
    /// the cell is not complete yet. Throws when the header claims a variable-length body over
    /// `maxVariableBodyLength` — without waiting for the body. The body of the returned cell
    /// is a slice of `buffer` (no copy).
    public func decode(_ buffer: inout ByteBuffer) throws -> Cell? {
        let idWidth = circuitIDWidth.rawValue
        let start = buffer.readerIndex
        guard buffer.readableBytes >= idWidth + 1 else { return nil }
        let circuitID: UInt32
        switch circuitIDWidth {
        case .narrow: circuitID = UInt32(buffer.getInteger(at: start, as: UInt16.self)!)
        case .wide: circuitID = buffer.getInteger(at: start, as: UInt32.self)!
        }
        let command = CellCommand(buffer.getInteger(at: start + idWidth, as: UInt8.self)!)
        let headerLength: Int
        let bodyLength: Int
        if command.isVariableLength {
            guard let length = buffer.getInteger(at: start + idWidth + 1, as: UInt16.self) else { return nil }
            guard Int(length) <= maxVariableBodyLength else {
                throw TorProtocolError(.malformed,
                    "\(command) cell claims a \(length)-byte body, over the \(maxVariableBodyLength)-byte limit")
            }
            headerLength = idWidth + 3
            bodyLength = Int(length)
        } else {
            headerLength = idWidth + 1
            bodyLength = Cell.fixedBodyLength
        }
        guard buffer.readableBytes >= headerLength + bodyLength else { return nil }
        buffer.moveReaderIndex(forwardBy: headerLength)
        let body = buffer.readSlice(length: bodyLength)!
        return Cell(circuitID: circuitID, command: command, body: body)
    }

    /// Appends `cell` to `buffer`. A fixed-length body shorter than 509 bytes is zero-padded;
    /// a longer one, a variable body over 65535 bytes, or a circuit ID that does not fit the
    /// CircID field is an error, and nothing is written. VERSIONS always gets a 2-byte CircID.
    public func encode(_ cell: Cell, into buffer: inout ByteBuffer) throws {
        let width: CircuitIDWidth = cell.command == .versions ? .narrow : circuitIDWidth
        let bodyLength = cell.body.readableBytes
        if width == .narrow, cell.circuitID > UInt16.max {
            throw TorProtocolError(.malformed, "circuit ID \(cell.circuitID) does not fit a 2-byte CircID (\(cell.command))")
        }
        if cell.command.isVariableLength {
            guard bodyLength <= Int(UInt16.max) else {
                throw TorProtocolError(.malformed, "\(cell.command) body of \(bodyLength) bytes does not fit the 2-byte Length")
            }
        } else {
            guard bodyLength <= Cell.fixedBodyLength else {
                throw TorProtocolError(.malformed,
                    "\(cell.command) body of \(bodyLength) bytes is longer than a fixed cell's \(Cell.fixedBodyLength)")
            }
        }
        switch width {
        case .narrow: buffer.writeInteger(UInt16(cell.circuitID))
        case .wide: buffer.writeInteger(cell.circuitID)
        }
        buffer.writeInteger(cell.command.rawValue)
        if cell.command.isVariableLength {
            buffer.writeInteger(UInt16(bodyLength))
        }
        var body = cell.body
        buffer.writeBuffer(&body)
        if !cell.command.isVariableLength {
            buffer.writeRepeatingByte(0, count: Cell.fixedBodyLength - bodyLength)
        }
    }

    /// The number of bytes `encode` writes for `cell`.
    public func encodedLength(of cell: Cell) -> Int {
        let width = cell.command == .versions ? CircuitIDWidth.narrow : circuitIDWidth
        return cell.command.isVariableLength
            ? width.rawValue + 3 + cell.body.readableBytes
            : width.rawValue + 1 + Cell.fixedBodyLength
    }
}
