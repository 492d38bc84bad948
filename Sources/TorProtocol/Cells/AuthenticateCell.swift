import NIOCore

/// AUTHENTICATE (command 131; checklist §3.6): `AuthType (2) | AuthLen (2) | Authentication (AuthLen)`.
/// For AuthType 3 the authenticator is an `Auth0003`.
public struct AuthenticateCell: LinkCellBody {
    public static let command = CellCommand.authenticate

    public var authType: LinkAuthMethod
    /// The Authentication field, unparsed.
    public var authenticator: [UInt8]

    public init(authType: LinkAuthMethod, authenticator: [UInt8]) {
        self.authType = authType
        self.authenticator = authenticator
    }

    /// An Ed25519-SHA256-RFC5705 AUTHENTICATE cell carrying `auth`.
    public init(_ auth: Auth0003) throws {
        self.init(authType: .ed25519SHA256RFC5705, authenticator: try auth.encode())
    }

    /// Bytes after AuthLen bytes of authenticator are ignored, as CTor does.
    public init(parsingBody body: ByteBuffer) throws {
        var reader = CellBodyReader(body, cell: "AUTHENTICATE")
        authType = LinkAuthMethod(rawValue: try reader.readInteger("AuthType"))
        let length: UInt16 = try reader.readInteger("AuthLen")
        authenticator = try reader.readBytes(Int(length), "authenticator")
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        guard authenticator.count <= Int(UInt16.max) else {
            throw TorProtocolError(.malformed, "AUTHENTICATE authenticator of \(authenticator.count) bytes does not fit AuthLen")
        }
        buffer.writeInteger(authType.rawValue)
        buffer.writeInteger(UInt16(authenticator.count))
        buffer.writeBytes(authenticator)
    }
}
