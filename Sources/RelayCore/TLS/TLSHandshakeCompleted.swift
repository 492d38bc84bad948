/// User inbound event fired by `OpenSSLTLSHandler` once the TLS handshake has finished. The
/// link handshake needs the certificates: a type-5 Ed25519 cert certifies SHA-256 of the
/// responder's TLS certificate, and AUTHENTICATE covers both.
public struct TLSHandshakeCompleted: Sendable, Equatable {
    /// OpenSSL's name of the negotiated version: "TLSv1.3" or "TLSv1.2".
    public var protocolVersion: String
    /// OpenSSL's name of the negotiated cipher suite, e.g. "TLS_AES_256_GCM_SHA384".
    public var cipherSuite: String
    /// DER of the certificate the peer presented; nil when it sent none (a client).
    public var peerCertificateDER: [UInt8]?
    /// DER of the certificate we presented; nil for a client.
    public var localCertificateDER: [UInt8]?

    public init(protocolVersion: String, cipherSuite: String, peerCertificateDER: [UInt8]?, localCertificateDER: [UInt8]?) {
        self.protocolVersion = protocolVersion
        self.cipherSuite = cipherSuite
        self.peerCertificateDER = peerCertificateDER
        self.localCertificateDER = localCertificateDER
    }
}
