/// The one error type of FleetKit: a code for callers that branch, and one sentence for people
/// (what was being done, what went wrong, how to fix it). Never carries key material.
public struct FleetError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let notFound = Code("not_found")
        public static let conflict = Code("conflict")
        public static let invalid = Code("invalid")
        public static let io = Code("io")
        public static let permissions = Code("permissions")
        public static let database = Code("database")
        public static let newerSchema = Code("newer_schema")
        public static let transport = Code("transport")
        public static let timeout = Code("timeout")
        public static let remoteCommand = Code("remote_command")
        public static let vaultLocked = Code("vault_locked")
        public static let vaultCorrupt = Code("vault_corrupt")
        public static let verification = Code("verification")
    }

    public let code: Code
    public let context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String { context }
}
