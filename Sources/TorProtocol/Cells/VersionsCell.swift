import NIOCore

/// VERSIONS (command 7): the link protocol versions the sender supports, each a big-endian
/// u16 (tor-spec negotiating-channels; checklist §3.2). CTor 0.4.9 sends `[3, 4, 5]`.
public struct VersionsCell: LinkCellBody {
    public static let command = CellCommand.versions

    public var versions: [UInt16]

    public init(versions: [UInt16]) {
        self.versions = versions
    }

    /// An odd body length is refused (CTor closes the link); so is an empty list, which can
    /// share no version with anyone.
    public init(parsingBody body: ByteBuffer) throws {
        guard body.readableBytes % 2 == 0 else {
            throw TorProtocolError(.malformed, "VERSIONS body has odd length \(body.readableBytes)")
        }
        guard body.readableBytes > 0 else {
            throw TorProtocolError(.malformed, "VERSIONS cell lists no versions")
        }
        var reader = CellBodyReader(body, cell: "VERSIONS")
        var versions = [UInt16]()
        versions.reserveCapacity(body.readableBytes / 2)
        while reader.remaining > 0 {
            versions.append(try reader.readInteger("version \(versions.count)"))
        }
        self.versions = versions
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        guard !versions.isEmpty else {
            throw TorProtocolError(.malformed, "VERSIONS cell must list at least one version")
        }
        guard versions.count <= Int(UInt16.max) / 2 else {
            throw TorProtocolError(.malformed, "VERSIONS cell lists \(versions.count) versions, too many for one cell")
        }
        for version in versions {
            buffer.writeInteger(version)
        }
    }
}
