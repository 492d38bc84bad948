import NIOCore
import TorProtocol

/// How peer addresses appear in logs: scrubbed unless the operator set `SafeLogging 0`
/// (CTor's default is to scrub).
public struct SafeLog: Sendable {
    public var scrubAddresses: Bool
    public init(scrubAddresses: Bool = true) { self.scrubAddresses = scrubAddresses }

    public func address(_ a: SocketAddress?) -> String {
        guard !scrubAddresses else { return "[scrubbed]" }
        return a.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
    }
}

extension NetinfoAddress {
    /// The NETINFO form of a socket address (unspecified types become an empty IPv4 address,
    /// which peers ignore).
    public init(_ address: SocketAddress?) {
        switch address {
        case let .v4(a)?:
            let raw = a.address.sin_addr.s_addr.bigEndian
            self = .ipv4([UInt8(raw >> 24), UInt8(raw >> 16 & 0xff), UInt8(raw >> 8 & 0xff), UInt8(raw & 0xff)])
        case let .v6(a)?:
            var addr = a.address.sin6_addr
            self = .ipv6(withUnsafeBytes(of: &addr) { Array($0) })
        default:
            self = .ipv4([0, 0, 0, 0])
        }
    }
}
