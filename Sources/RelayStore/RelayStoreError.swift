/// The one error type of RelayStore. `context` is a sentence for the operator: what, where,
/// and how to fix it.
public struct RelayStoreError: Error, Equatable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }
        public static let notFound = Code(name: "notFound")
        public static let alreadyExists = Code(name: "alreadyExists")
        public static let permissions = Code(name: "permissions")
        public static let corrupt = Code(name: "corrupt")
        public static let newerSchema = Code(name: "newerSchema")
        public static let invalidKey = Code(name: "invalidKey")
        public static let io = Code(name: "io")
        public static let masterKeyOffline = Code(name: "masterKeyOffline")
    }

    public let code: Code
    public let context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String { context }
}
