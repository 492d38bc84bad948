import COpenSSL

/// The one error type of TorCrypto: a stable `code` plus context naming what was being done.
public struct CryptoError: Error, Equatable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }
        public static let invalidLength = Code(name: "invalidLength")
        public static let invalidKey = Code(name: "invalidKey")
        public static let badSignature = Code(name: "badSignature")
        public static let decodeFailed = Code(name: "decodeFailed")
        public static let library = Code(name: "library")
        public static let degenerateResult = Code(name: "degenerateResult")
    }

    public let code: Code
    public let context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String { "\(context) (\(code))" }

    /// An OpenSSL call failed: capture (and clear) the thread's error queue entry.
    static func openssl(_ what: String) -> CryptoError {
        var buf = [CChar](repeating: 0, count: 256)
        let e = shim_ERR_get_error_string(&buf, buf.count)
        let detail = e == 0 ? "no detail" : String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return CryptoError(.library, "\(what) failed: \(detail)")
    }
}

@inline(__always)
func requireLength(_ bytes: some Collection<UInt8>, _ n: Int, _ what: String) throws {
    guard bytes.count == n else {
        throw CryptoError(.invalidLength, "\(what) must be \(n) bytes, got \(bytes.count)")
    }
}
