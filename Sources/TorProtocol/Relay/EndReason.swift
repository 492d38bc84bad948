/// The REASON of a RELAY_END (tor-spec closing-streams, CTor `or.h` `END_STREAM_REASON_*`).
/// Open: unknown reasons stay representable (CTor logs and treats them as MISC).
public struct EndReason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// MISC: catch-all; also what a reason-less END means.
    public static let misc = EndReason(1)
    /// RESOLVEFAILED: the exit could not resolve the host name.
    public static let resolveFailed = EndReason(2)
    /// CONNECTREFUSED: the destination refused the connection.
    public static let connectRefused = EndReason(3)
    /// EXITPOLICY: our exit policy rejects the destination; may carry the address and TTL.
    public static let exitPolicy = EndReason(4)
    /// DESTROY: the circuit is being torn down.
    public static let destroy = EndReason(5)
    /// DONE: the connection closed normally.
    public static let done = EndReason(6)
    /// TIMEOUT: connecting to the destination timed out.
    public static let timeout = EndReason(7)
    /// NOROUTE: no route to the destination host.
    public static let noRoute = EndReason(8)
    /// HIBERNATING: the relay is hibernating (out of bandwidth).
    public static let hibernating = EndReason(9)
    /// INTERNAL: an internal error at the relay.
    public static let `internal` = EndReason(10)
    /// RESOURCELIMIT: the relay is out of resources (sockets, memory).
    public static let resourceLimit = EndReason(11)
    /// CONNRESET: the destination reset the connection.
    public static let connectionReset = EndReason(12)
    /// TORPROTOCOL: a Tor protocol violation on this stream.
    public static let torProtocol = EndReason(13)
    /// NOTDIRECTORY: BEGIN_DIR to a relay that is not a directory cache.
    public static let notDirectory = EndReason(14)
    /// ENTRYPOLICY: used by CTor clients internally (`END_STREAM_REASON_ENTRYPOLICY`).
    public static let entryPolicy = EndReason(15)

    public var description: String {
        switch self {
        case .misc: "MISC"
        case .resolveFailed: "RESOLVEFAILED"
        case .connectRefused: "CONNECTREFUSED"
        case .exitPolicy: "EXITPOLICY"
        case .destroy: "DESTROY"
        case .done: "DONE"
        case .timeout: "TIMEOUT"
        case .noRoute: "NOROUTE"
        case .hibernating: "HIBERNATING"
        case .internal: "INTERNAL"
        case .resourceLimit: "RESOURCELIMIT"
        case .connectionReset: "CONNRESET"
        case .torProtocol: "TORPROTOCOL"
        case .notDirectory: "NOTDIRECTORY"
        case .entryPolicy: "ENTRYPOLICY"
        default: "end reason \(rawValue)"
        }
    }
}
