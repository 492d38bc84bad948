/// The one-byte COMMAND of a link cell (tor-spec cell-packet-format). Open: a command this
/// build does not know stays representable, so the link handler can decide what to do with it.
public struct CellCommand: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// PADDING: link keepalive, ignored on receipt.
    public static let padding = CellCommand(0)
    /// CREATE (TAP): refused by 0.4.9 relays.
    public static let create = CellCommand(1)
    public static let created = CellCommand(2)
    public static let relay = CellCommand(3)
    public static let destroy = CellCommand(4)
    public static let createFast = CellCommand(5)
    public static let createdFast = CellCommand(6)
    /// VERSIONS: variable-length although below 128, and always framed with a 2-byte CircID.
    public static let versions = CellCommand(7)
    public static let netinfo = CellCommand(8)
    public static let relayEarly = CellCommand(9)
    public static let create2 = CellCommand(10)
    public static let created2 = CellCommand(11)
    /// PADDING_NEGOTIATE (link protocol 5 and later).
    public static let paddingNegotiate = CellCommand(12)
    /// VPADDING: variable-length padding, ignored on receipt (also before VERSIONS).
    public static let vpadding = CellCommand(128)
    public static let certs = CellCommand(129)
    public static let authChallenge = CellCommand(130)
    public static let authenticate = CellCommand(131)
    /// AUTHORIZE: reserved, never sent.
    public static let authorize = CellCommand(132)

    /// True for commands whose cells carry a 2-byte length and a body of that length:
    /// VERSIONS and every command from 128 up (link protocol 3 and later, and before any
    /// version is negotiated, as CTor's `cell_command_is_var_length`).
    public var isVariableLength: Bool { self == .versions || rawValue >= 128 }

    public var description: String {
        switch self {
        case .padding: "PADDING"
        case .create: "CREATE"
        case .created: "CREATED"
        case .relay: "RELAY"
        case .destroy: "DESTROY"
        case .createFast: "CREATE_FAST"
        case .createdFast: "CREATED_FAST"
        case .versions: "VERSIONS"
        case .netinfo: "NETINFO"
        case .relayEarly: "RELAY_EARLY"
        case .create2: "CREATE2"
        case .created2: "CREATED2"
        case .paddingNegotiate: "PADDING_NEGOTIATE"
        case .vpadding: "VPADDING"
        case .certs: "CERTS"
        case .authChallenge: "AUTH_CHALLENGE"
        case .authenticate: "AUTHENTICATE"
        case .authorize: "AUTHORIZE"
        default: "command \(rawValue)"
        }
    }
}
