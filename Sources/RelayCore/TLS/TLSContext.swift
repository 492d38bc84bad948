import COpenSSL
import TorCrypto

/// An OpenSSL `SSL_CTX` configured the way CTor configures its link TLS: TLS 1.2 minimum,
/// TLS 1.3 preferred, no session tickets or session cache, no renegotiation, no compression,
/// server cipher preference, and a verify callback that accepts any peer certificate.
///
/// Build one per role (and per link certificate) and share it across event loops: after
/// configuration an `SSL_CTX` is only read, and `SSL_new` from several threads is safe.
public final class TLSContext: @unchecked Sendable {
    let ctx: OpaquePointer  // SSL_CTX, configured in init and never changed afterwards
    public let configuration: TLSConfiguration

    public init(configuration: TLSConfiguration) throws {
        self.configuration = configuration
        let method = configuration.isServer ? TLS_server_method() : TLS_client_method()
        guard let ctx = SSL_CTX_new(method) else { throw TLSError.openssl(.configuration, "SSL_CTX_new") }
        self.ctx = ctx  // freed by deinit, also when a later step throws

        guard shim_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 else {
            throw TLSError.openssl(.configuration, "setting TLS 1.2 as the minimum version")
        }
        _ = SSL_CTX_set_options(ctx, shim_SSL_OP_NO_TICKET | shim_SSL_OP_NO_RENEGOTIATION
                                    | shim_SSL_OP_NO_COMPRESSION | shim_SSL_OP_CIPHER_SERVER_PREFERENCE)
        _ = shim_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_OFF))
        _ = SSL_CTX_set_num_tickets(ctx, 0)  // TLS 1.3: no NewSessionTicket messages either
        // Memory BIOs never ask for a retry with the same buffer, but allow it anyway; let idle
        // links drop their record buffers (as CTor does).
        _ = shim_SSL_CTX_set_mode(ctx, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS))

        switch configuration.role {
        case .server(let certificate, let privateKey):
            // Never send a CertificateRequest: Tor clients have no TLS certificate.
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
            let der = certificate.der
            guard der.withUnsafeBufferPointer({ SSL_CTX_use_certificate_ASN1(ctx, Int32($0.count), $0.baseAddress) }) == 1 else {
                throw TLSError.openssl(.configuration, "using the link certificate")
            }
            guard privateKey.withUnsafeEVPPKEY({ SSL_CTX_use_PrivateKey(ctx, $0) }) == 1 else {
                throw TLSError.openssl(.configuration, "using the link private key")
            }
            guard SSL_CTX_check_private_key(ctx) == 1 else {
                throw TLSError.openssl(.configuration, "link certificate does not match the link private key")
            }
        case .client:
            // Accept any server certificate: the CERTS cell authenticates the peer.
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER) { _, _ in 1 }
        }
    }

    deinit { SSL_CTX_free(ctx) }
}
