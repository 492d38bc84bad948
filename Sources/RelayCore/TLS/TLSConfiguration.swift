import NIOCore
import TorCrypto

/// How one side of a Tor link's TLS presents itself (tor-relay-checklist §3.1).
///
/// TLS in Tor authenticates nothing: every peer certificate is accepted and the link handshake
/// (CERTS / AUTHENTICATE) decides who the peer is. So the only choices are the role and, for a
/// server, the link certificate and key. The 1024-bit identity key never enters TLS.
public struct TLSConfiguration: Sendable {
    public enum Role: Sendable {
        /// Responder (ORPort): presents `certificate` (the link certificate, CERTS type 1),
        /// whose subject key is `privateKey` (the RSA-2048 link key). Client certificates are
        /// never requested; any SNI is accepted.
        case server(certificate: X509Certificate, privateKey: RSAPrivateKey)
        /// Initiator: no certificate. `serverName`, if set, is sent as SNI (CTor sends a random
        /// `www.<random>.com`).
        case client(serverName: String?)
    }

    public var role: Role
    /// How long `close()` waits for our close_notify to reach the socket before closing anyway.
    public var shutdownTimeout: TimeAmount

    public init(role: Role, shutdownTimeout: TimeAmount = .seconds(5)) {
        self.role = role
        self.shutdownTimeout = shutdownTimeout
    }

    public static func server(certificate: X509Certificate, privateKey: RSAPrivateKey) -> TLSConfiguration {
        TLSConfiguration(role: .server(certificate: certificate, privateKey: privateKey))
    }

    public static func client(serverName: String? = nil) -> TLSConfiguration {
        TLSConfiguration(role: .client(serverName: serverName))
    }

    var isServer: Bool {
        if case .server = role { return true }
        return false
    }
}
