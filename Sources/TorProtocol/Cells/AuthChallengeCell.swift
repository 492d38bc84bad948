import NIOCore

/// An authentication method of the link handshake: AUTH_CHALLENGE `Methods`, AUTHENTICATE
/// `AuthType` (tor-spec negotiating-channels). Open: unknown methods stay representable.
public struct LinkAuthMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// 1, RSA-SHA256-TLSSecret: removed from CTor.
    public static let rsaSHA256TLSSecret = LinkAuthMethod(rawValue: 1)
    /// 2, RSA-SHA256-RFC5705: never implemented.
    public static let rsaSHA256RFC5705 = LinkAuthMethod(rawValue: 2)
    /// 3, Ed25519-SHA256-RFC5705 (`AUTH0003`): the one CTor 0.4.9 offers and accepts.
    public static let ed25519SHA256RFC5705 = LinkAuthMethod(rawValue: 3)
    public var description: String { "auth method \(rawValue)" }
}

/// AUTH_CHALLENGE (command 130; checklist §3.5): `Challenge (32) | N_Methods (2) | Methods (2 each)`.
public struct AuthChallengeCell: LinkCellBody {
    public static let command = CellCommand.authChallenge
    public static let challengeLength = 32

    /// 32 random bytes chosen by the responder.
    public var challenge: [UInt8]
    public var methods: [LinkAuthMethod]

    public init(challenge: [UInt8], methods: [LinkAuthMethod]) {
        self.challenge = challenge
        self.methods = methods
    }

    /// Bytes after the methods are ignored, as CTor's trunnel parser does.
    public init(parsingBody body: ByteBuffer) throws {
        var reader = CellBodyReader(body, cell: "AUTH_CHALLENGE")
        challenge = try reader.readBytes(Self.challengeLength, "challenge")
        let count: UInt16 = try reader.readInteger("N_Methods")
        guard reader.remaining >= 2 * Int(count) else {
            throw TorProtocolError(.truncated,
                "AUTH_CHALLENGE truncated in methods: \(count) listed, room for \(reader.remaining / 2)")
        }
        var methods = [LinkAuthMethod]()
        methods.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            methods.append(LinkAuthMethod(rawValue: try reader.readInteger("method \(i)")))
        }
        self.methods = methods
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        guard challenge.count == Self.challengeLength else {
            throw TorProtocolError(.malformed, "AUTH_CHALLENGE challenge has \(challenge.count) bytes, expected 32")
        }
        guard methods.count <= Int(UInt16.max) else {
            throw TorProtocolError(.malformed, "AUTH_CHALLENGE cannot list \(methods.count) methods")
        }
        buffer.writeBytes(challenge)
        buffer.writeInteger(UInt16(methods.count))
        for method in methods {
            buffer.writeInteger(method.rawValue)
        }
    }
}
