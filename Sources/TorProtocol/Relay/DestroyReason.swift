/// The REASON of a DESTROY cell and of RELAY_TRUNCATE / RELAY_TRUNCATED (tor-spec
/// tearing-down-circuits, CTor `or.h` `END_CIRC_REASON_*`). Open: unknown values stay
/// representable. CTor never passes a remote reason on: a DESTROY from either side goes out
/// to the other side as `.destroyed` (checklist §4.1).
public struct DestroyReason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// NONE: no reason given; what clients send.
    public static let none = DestroyReason(0)
    /// PROTOCOL: a Tor protocol violation.
    public static let protocolViolation = DestroyReason(1)
    /// INTERNAL: an internal error.
    public static let `internal` = DestroyReason(2)
    /// REQUESTED: a TRUNCATE asked for it (the reason CTor puts in TRUNCATED).
    public static let requested = DestroyReason(3)
    /// HIBERNATING: the relay is hibernating.
    public static let hibernating = DestroyReason(4)
    /// RESOURCELIMIT: out of memory, sockets or circuit IDs.
    public static let resourceLimit = DestroyReason(5)
    /// CONNECTFAILED: could not connect to the next relay.
    public static let connectFailed = DestroyReason(6)
    /// OR_IDENTITY: the next relay's identity was not the one EXTEND2 named.
    public static let orIdentity = DestroyReason(7)
    /// CHANNEL_CLOSED: the link carrying the circuit closed.
    public static let channelClosed = DestroyReason(8)
    /// FINISHED: the circuit expired or was retired.
    public static let finished = DestroyReason(9)
    /// TIMEOUT: circuit construction took too long.
    public static let timeout = DestroyReason(10)
    /// DESTROYED: the circuit was destroyed elsewhere (what CTor relays send on).
    public static let destroyed = DestroyReason(11)
    /// NOSUCHSERVICE: no such onion service.
    public static let noSuchService = DestroyReason(12)

    public var description: String {
        switch self {
        case .none: "NONE"
        case .protocolViolation: "PROTOCOL"
        case .internal: "INTERNAL"
        case .requested: "REQUESTED"
        case .hibernating: "HIBERNATING"
        case .resourceLimit: "RESOURCELIMIT"
        case .connectFailed: "CONNECTFAILED"
        case .orIdentity: "OR_IDENTITY"
        case .channelClosed: "CHANNEL_CLOSED"
        case .finished: "FINISHED"
        case .timeout: "TIMEOUT"
        case .destroyed: "DESTROYED"
        case .noSuchService: "NOSUCHSERVICE"
        default: "destroy reason \(rawValue)"
        }
    }
}
