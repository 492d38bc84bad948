/// EXT_FIELD_TYPE of an ntor v3 circuit-extension message (tor-spec create-created-cells
/// "ntor-v3 extensions"; proposal 324 §10.3, proposal 346; CTor trunnel `congestion_control`,
/// `ntorv3`). Open: unknown types stay representable.
public struct NtorV3ExtensionType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// CC_FIELD_REQUEST, client → relay, empty body: "I want congestion control on this hop".
    public static let ccRequest = NtorV3ExtensionType(1)
    /// CC_FIELD_RESPONSE, relay → client, 1 byte: SENDME_INC.
    public static let ccResponse = NtorV3ExtensionType(2)
    /// SUBPROTO_REQUEST, client → relay: pairs of (protocol id, version) to enable.
    public static let subprotocolRequest = NtorV3ExtensionType(3)

    public var description: String {
        switch self {
        case .ccRequest: return "CC_FIELD_REQUEST"
        case .ccResponse: return "CC_FIELD_RESPONSE"
        case .subprotocolRequest: return "SUBPROTO_REQUEST"
        default: return "extension type \(rawValue)"
        }
    }
}

/// One field: EXT_FIELD_TYPE (1) | EXT_FIELD_LEN (1) | EXT_FIELD.
public struct NtorV3Extension: Hashable, Sendable {
    public let type: NtorV3ExtensionType
    public let body: [UInt8]

    public init(type: NtorV3ExtensionType, body: [UInt8] = []) throws {
        guard body.count <= 255 else {
            throw TorProtocolError(.malformed, "ntor v3 \(type) body of \(body.count) bytes exceeds 255")
        }
        self.type = type
        self.body = body
    }

    /// CC_FIELD_REQUEST.
    public static let ccRequest = try! NtorV3Extension(type: .ccRequest)

    /// CC_FIELD_RESPONSE carrying `sendmeIncrement`.
    public static func ccResponse(sendmeIncrement: UInt8) -> NtorV3Extension {
        try! NtorV3Extension(type: .ccResponse, body: [sendmeIncrement])
    }

    /// SUBPROTO_REQUEST for `requests`, sorted and without duplicates as the spec asks.
    public static func subprotocolRequest(_ requests: [NtorV3SubprotocolRequest]) throws -> NtorV3Extension {
        try NtorV3Extension(type: .subprotocolRequest, body: Set(requests).sorted().flatMap { [$0.protocolID, $0.version] })
    }
}

/// One (protocol id, version) pair of a SUBPROTO_REQUEST, e.g. Relay (2) version 6 for CGO.
public struct NtorV3SubprotocolRequest: Hashable, Sendable, Comparable {
    public let protocolID: UInt8
    public let version: UInt8
    public init(protocolID: UInt8, version: UInt8) {
        self.protocolID = protocolID
        self.version = version
    }
    public static func < (a: Self, b: Self) -> Bool { (a.protocolID, a.version) < (b.protocolID, b.version) }
}

/// The plaintext of an ntor v3 client or relay message when ntor v3 extends circuits:
/// N_EXTENSIONS (1) | N × { EXT_FIELD_TYPE (1) | EXT_FIELD_LEN (1) | EXT_FIELD }.
///
/// Per the spec, unknown types are kept (and ignored by the typed accessors), and only the
/// first occurrence of a type counts.
public struct NtorV3ExtensionList: Hashable, Sendable {
    public let extensions: [NtorV3Extension]

    public init(_ extensions: [NtorV3Extension] = []) throws {
        guard extensions.count <= 255 else {
            throw TorProtocolError(.malformed, "an ntor v3 message holds at most 255 extensions, got \(extensions.count)")
        }
        self.extensions = extensions
    }

    /// Parses a decrypted message. A 0-byte message reads as "no extensions" (CTor's client
    /// never sends one, but nothing is gained by refusing it); bytes after the last field
    /// are refused.
    public init(parsing bytes: [UInt8]) throws {
        guard let count = bytes.first else {
            extensions = []
            return
        }
        var fields: [NtorV3Extension] = []
        var i = 1
        for n in 0..<Int(count) {
            guard bytes.count - i >= 2 else {
                throw TorProtocolError(.truncated, "ntor v3 message: extension \(n + 1) of \(count) has no type and length")
            }
            let type = NtorV3ExtensionType(bytes[i]), length = Int(bytes[i + 1])
            i += 2
            guard bytes.count - i >= length else {
                throw TorProtocolError(.truncated, "ntor v3 message: \(type) claims \(length) bytes, \(bytes.count - i) remain")
            }
            fields.append(try NtorV3Extension(type: type, body: Array(bytes[i..<(i + length)])))
            i += length
        }
        guard i == bytes.count else {
            throw TorProtocolError(.malformed, "ntor v3 message: \(bytes.count - i) bytes after the last of \(count) extensions")
        }
        extensions = fields
    }

    /// The wire form; never empty (no extensions encode as the single byte 0x00, which the
    /// CTor client requires).
    public var encoded: [UInt8] {
        var out: [UInt8] = [UInt8(extensions.count)]
        for e in extensions {
            out.append(e.type.rawValue)
            out.append(UInt8(e.body.count))
            out += e.body
        }
        return out
    }

    /// The first field of `type`, if any.
    public func first(_ type: NtorV3ExtensionType) -> NtorV3Extension? {
        extensions.first { $0.type == type }
    }

    /// Whether the client asked for congestion control (any CC_FIELD_REQUEST body is taken:
    /// CTor does not look inside it either).
    public var requestsCongestionControl: Bool { first(.ccRequest) != nil }

    /// SENDME_INC from a relay's CC_FIELD_RESPONSE; nil when there is none.
    public func congestionControlSendmeIncrement() throws -> UInt8? {
        guard let field = first(.ccResponse) else { return nil }
        guard field.body.count == 1 else {
            throw TorProtocolError(.malformed, "ntor v3 CC_FIELD_RESPONSE must be 1 byte (SENDME_INC), got \(field.body.count)")
        }
        return field.body[0]
    }

    /// The (protocol id, version) pairs of a SUBPROTO_REQUEST; empty when there is none.
    public func subprotocolRequests() throws -> [NtorV3SubprotocolRequest] {
        guard let field = first(.subprotocolRequest) else { return [] }
        guard field.body.count % 2 == 0 else {
            throw TorProtocolError(.malformed, "ntor v3 SUBPROTO_REQUEST body must be (protocol, version) pairs, got \(field.body.count) bytes")
        }
        return stride(from: 0, to: field.body.count, by: 2).map {
            NtorV3SubprotocolRequest(protocolID: field.body[$0], version: field.body[$0 + 1])
        }
    }
}

/// How a relay answers the extensions in an ntor v3 client message (checklist §4.4):
/// CC_FIELD_RESPONSE only when the client asked and this relay does congestion control on
/// circuits; subprotocol requests it does not implement refuse the circuit; unknown fields
/// are ignored. The reply is always a well-formed list, so at least `0x00`.
public struct NtorV3ServerNegotiation: Sendable {
    /// The consensus `cc_sendme_inc` to answer a CC request with; nil when this relay does not
    /// run congestion control (FlowCtrl=1): a CC request is then left unanswered and the
    /// client falls back to fixed windows. CTor clients refuse 0 and any value more than 1
    /// away from their own consensus `cc_sendme_inc`, so pass the consensus value.
    public var congestionControlSendmeIncrement: UInt8?
    /// Subprotocol capabilities a client may ask for on this hop.
    public var supportedSubprotocols: Set<NtorV3SubprotocolRequest>

    public init(congestionControlSendmeIncrement: UInt8? = nil, supportedSubprotocols: Set<NtorV3SubprotocolRequest> = []) {
        self.congestionControlSendmeIncrement = congestionControlSendmeIncrement
        self.supportedSubprotocols = supportedSubprotocols
    }

    /// What was agreed for one circuit hop.
    public struct Outcome: Hashable, Sendable {
        /// The relay message to encrypt into the handshake reply.
        public let reply: NtorV3ExtensionList
        /// SENDME_INC when congestion control is on for this hop, else nil.
        public let congestionControlSendmeIncrement: UInt8?
        /// The subprotocol capabilities the client enabled.
        public let subprotocols: [NtorV3SubprotocolRequest]
    }

    /// Decides the reply to a decrypted client message; throws to refuse the circuit.
    public func negotiate(clientMessage: [UInt8]) throws -> Outcome {
        let request = try NtorV3ExtensionList(parsing: clientMessage)
        let subprotocols = try request.subprotocolRequests()
        for s in subprotocols where !supportedSubprotocols.contains(s) {
            throw TorProtocolError(.unsupported, "ntor v3 client requested subprotocol \(s.protocolID) version \(s.version), which this relay does not offer")
        }
        var fields: [NtorV3Extension] = []
        var sendmeInc: UInt8?
        if request.requestsCongestionControl, let inc = congestionControlSendmeIncrement {
            fields.append(.ccResponse(sendmeIncrement: inc))
            sendmeInc = inc
        }
        return Outcome(reply: try NtorV3ExtensionList(fields), congestionControlSendmeIncrement: sendmeInc,
                       subprotocols: subprotocols)
    }
}
