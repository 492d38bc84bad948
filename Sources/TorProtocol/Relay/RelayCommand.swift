/// The one-byte RELAY_COMMAND of a relay cell (tor-spec relay-cells, CTor `or.h`
/// `RELAY_COMMAND_*`). Open: a command this build does not know stays representable, so a
/// circuit can drop it (it still counted in the running digest) instead of failing to parse.
public struct RelayCommand: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// BEGIN: open a stream to `host:port` (exit role).
    public static let begin = RelayCommand(1)
    public static let data = RelayCommand(2)
    public static let end = RelayCommand(3)
    public static let connected = RelayCommand(4)
    /// SENDME: circuit level (stream 0, v1 authenticated) or stream level (empty body).
    public static let sendme = RelayCommand(5)
    /// EXTEND (TAP onionskin): obsolete; 0.4.9 relays refuse it.
    public static let extend = RelayCommand(6)
    /// EXTENDED (TAP): obsolete.
    public static let extended = RelayCommand(7)
    public static let truncate = RelayCommand(8)
    public static let truncated = RelayCommand(9)
    /// DROP: long-range padding, ignored on receipt.
    public static let drop = RelayCommand(10)
    public static let resolve = RelayCommand(11)
    public static let resolved = RelayCommand(12)
    /// BEGIN_DIR: a stream to our directory service, on a circuit that ends at us.
    public static let beginDir = RelayCommand(13)
    public static let extend2 = RelayCommand(14)
    public static let extended2 = RelayCommand(15)
    /// CONNECT_UDP / CONNECTED_UDP / DATAGRAM: reserved for UDP (proposal 339), not deployed.
    public static let connectUDP = RelayCommand(16)
    public static let connectedUDP = RelayCommand(17)
    public static let datagram = RelayCommand(18)
    /// Conflux (proposal 329).
    public static let confluxLink = RelayCommand(19)
    public static let confluxLinked = RelayCommand(20)
    public static let confluxLinkedAck = RelayCommand(21)
    public static let confluxSwitch = RelayCommand(22)
    /// Onion services (rend-spec).
    public static let establishIntro = RelayCommand(32)
    public static let establishRendezvous = RelayCommand(33)
    public static let introduce1 = RelayCommand(34)
    public static let introduce2 = RelayCommand(35)
    public static let rendezvous1 = RelayCommand(36)
    public static let rendezvous2 = RelayCommand(37)
    public static let introEstablished = RelayCommand(38)
    public static let rendezvousEstablished = RelayCommand(39)
    public static let introduceAck = RelayCommand(40)
    /// Circuit padding negotiation (padding-spec).
    public static let paddingNegotiate = RelayCommand(41)
    public static let paddingNegotiated = RelayCommand(42)
    /// Stream flow control under congestion control (proposal 324).
    public static let xoff = RelayCommand(43)
    public static let xon = RelayCommand(44)

    /// Whether a cell with this command names a stream (STREAM_ID ≠ 0), must not (STREAM_ID
    /// = 0), or may do either (SENDME: stream-level or circuit-level). From tor-spec
    /// relay-cells' command table; unknown commands are `.either`, the caller decides.
    public enum StreamUse: Hashable, Sendable {
        case stream
        case control
        case either
    }

    public var streamUse: StreamUse {
        switch self {
        case .begin, .data, .end, .connected, .resolve, .resolved, .beginDir, .xoff, .xon,
             .connectUDP, .connectedUDP, .datagram:
            .stream
        case .extend, .extended, .truncate, .truncated, .drop, .extend2, .extended2,
             .confluxLink, .confluxLinked, .confluxLinkedAck, .confluxSwitch,
             .establishIntro, .establishRendezvous, .introduce1, .introduce2, .rendezvous1,
             .rendezvous2, .introEstablished, .rendezvousEstablished, .introduceAck,
             .paddingNegotiate, .paddingNegotiated:
            .control
        default:
            .either
        }
    }

    public var description: String {
        switch self {
        case .begin: "BEGIN"
        case .data: "DATA"
        case .end: "END"
        case .connected: "CONNECTED"
        case .sendme: "SENDME"
        case .extend: "EXTEND"
        case .extended: "EXTENDED"
        case .truncate: "TRUNCATE"
        case .truncated: "TRUNCATED"
        case .drop: "DROP"
        case .resolve: "RESOLVE"
        case .resolved: "RESOLVED"
        case .beginDir: "BEGIN_DIR"
        case .extend2: "EXTEND2"
        case .extended2: "EXTENDED2"
        case .connectUDP: "CONNECT_UDP"
        case .connectedUDP: "CONNECTED_UDP"
        case .datagram: "DATAGRAM"
        case .confluxLink: "CONFLUX_LINK"
        case .confluxLinked: "CONFLUX_LINKED"
        case .confluxLinkedAck: "CONFLUX_LINKED_ACK"
        case .confluxSwitch: "CONFLUX_SWITCH"
        case .establishIntro: "ESTABLISH_INTRO"
        case .establishRendezvous: "ESTABLISH_RENDEZVOUS"
        case .introduce1: "INTRODUCE1"
        case .introduce2: "INTRODUCE2"
        case .rendezvous1: "RENDEZVOUS1"
        case .rendezvous2: "RENDEZVOUS2"
        case .introEstablished: "INTRO_ESTABLISHED"
        case .rendezvousEstablished: "RENDEZVOUS_ESTABLISHED"
        case .introduceAck: "INTRODUCE_ACK"
        case .paddingNegotiate: "PADDING_NEGOTIATE"
        case .paddingNegotiated: "PADDING_NEGOTIATED"
        case .xoff: "XOFF"
        case .xon: "XON"
        default: "relay command \(rawValue)"
        }
    }
}
