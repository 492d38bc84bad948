import COpenSSL

/// Errors of the TLS layer: a stable `code` plus context naming what was being done. Messages
/// carry OpenSSL's reason string, never key material or peer addresses.
public struct TLSError: Error, Equatable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }
        /// The TLS context could not be set up (bad certificate/key pair, OpenSSL failure).
        public static let configuration = Code(name: "configuration")
        /// The TLS handshake failed (bad peer bytes, no common version or cipher, …).
        public static let handshakeFailed = Code(name: "handshakeFailed")
        /// A record could not be decrypted or encrypted after the handshake.
        public static let protocolFailure = Code(name: "protocolFailure")
        /// The peer closed TCP without sending close_notify (truncation).
        public static let uncleanShutdown = Code(name: "uncleanShutdown")
        /// An operation that needs a finished handshake was called before it finished.
        public static let handshakeNotComplete = Code(name: "handshakeNotComplete")
        /// The keying-material exporter failed.
        public static let exporterFailed = Code(name: "exporterFailed")
    }

    public let code: Code
    public let context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String { "\(context) (\(code))" }

    /// An OpenSSL call failed: capture OpenSSL's reason and clear the thread's error queue.
    static func openssl(_ code: Code, _ what: String) -> TLSError {
        var buf = [CChar](repeating: 0, count: 256)
        let e = shim_ERR_get_error_string(&buf, buf.count)
        let detail = e == 0 ? "no detail" : String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return TLSError(code, "\(what): \(detail)")
    }
}
