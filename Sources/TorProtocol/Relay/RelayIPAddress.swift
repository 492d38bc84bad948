import NIOCore

/// An IPv4 or IPv6 address as relay messages and link specifiers carry it: the raw bytes in
/// network order. A client's address is identifying data: redact `description` before
/// logging it.
public enum RelayIPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes.
    case ipv4([UInt8])
    /// 16 bytes.
    case ipv6([UInt8])

    /// Checks the byte count (4 or 16).
    public init(bytes: [UInt8]) throws {
        switch bytes.count {
        case 4: self = .ipv4(bytes)
        case 16: self = .ipv6(bytes)
        default: throw TorProtocolError(.malformed, "an IP address is 4 or 16 bytes, got \(bytes.count)")
        }
    }

    public var bytes: [UInt8] {
        switch self {
        case .ipv4(let b), .ipv6(let b): b
        }
    }

    /// All-zero (0.0.0.0 or ::): "no address" wherever Tor carries one.
    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }

    /// Writes the raw bytes after checking their count against the case.
    func write(to buffer: inout ByteBuffer, _ what: @autoclosure () -> String) throws {
        switch self {
        case .ipv4(let b) where b.count == 4, .ipv6(let b) where b.count == 16:
            buffer.writeBytes(b)
        default:
            throw TorProtocolError(.malformed, "\(what()): \(self) has \(bytes.count) bytes")
        }
    }

    /// Dotted quad, or eight hex groups (uncompressed).
    public var description: String {
        switch self {
        case .ipv4(let b): b.map(String.init).joined(separator: ".")
        case .ipv6(let b):
            stride(from: 0, to: b.count - 1, by: 2)
                .map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
    }
}
