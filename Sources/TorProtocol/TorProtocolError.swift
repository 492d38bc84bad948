/// The one error type of TorProtocol: a stable `code` and context naming what was parsed.
public struct TorProtocolError: Error, Equatable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }
        public static let truncated = Code(name: "truncated")
        public static let malformed = Code(name: "malformed")
        public static let wrongType = Code(name: "wrongType")
        public static let badSignature = Code(name: "badSignature")
        public static let expired = Code(name: "expired")
        public static let unsupported = Code(name: "unsupported")
        public static let keyMismatch = Code(name: "keyMismatch")
        public static let badCertificate = Code(name: "badCertificate")
        public static let handshake = Code(name: "handshake")
    }

    public let code: Code
    public let context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String { context }
}
