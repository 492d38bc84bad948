import COpenSSL

/// A Curve25519 public key (32-byte little-endian u-coordinate), e.g. KP_ntor.
public struct Curve25519PublicKey: Hashable, Sendable {
    public let bytes: [UInt8]
    public init(bytes: [UInt8]) throws {
        try requireLength(bytes, 32, "Curve25519 public key")
        self.bytes = bytes
    }
}

/// A Curve25519 secret scalar, always stored clamped (CTor's `secret_onion_key_ntor` holds it
/// clamped, and the ntor cross-certificate uses it directly as an Ed25519 scalar).
public struct Curve25519SecretKey: Sendable {
    private let secret: [UInt8]
    public let publicKey: Curve25519PublicKey

    public init(bytes: [UInt8]) throws {
        try requireLength(bytes, 32, "Curve25519 secret key")
        var s = bytes
        s[0] &= 248
        s[31] &= 127
        s[31] |= 64
        secret = s
        publicKey = try Curve25519PublicKey(bytes: Curve25519SecretKey.scalarMultBase(s))
    }

    public static func generate(using rng: inout some RandomSource) -> Curve25519SecretKey {
        // 32 random bytes are a valid key once clamped.
        try! Curve25519SecretKey(bytes: rng.bytes(32))
    }

    /// The clamped 32 secret bytes. Leaves memory only for storage in the key store.
    public func dangerouslyExportSecret() -> [UInt8] { secret }

    /// X25519(secret, peer). Throws if the result is all zeros (a small-order peer point),
    /// which Tor's handshakes must reject.
    public func sharedSecret(with peer: Curve25519PublicKey) throws -> [UInt8] {
        try X25519.scalarMult(scalar: secret, point: peer.bytes)
    }

    private static func scalarMultBase(_ scalar: [UInt8]) throws -> [UInt8] {
        guard let pkey = scalar.withUnsafeBufferPointer({
            EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, $0.baseAddress, 32)
        }) else { throw CryptoError.openssl("X25519 key") }
        defer { EVP_PKEY_free(pkey) }
        var out = [UInt8](repeating: 0, count: 32)
        var len = 32
        guard EVP_PKEY_get_raw_public_key(pkey, &out, &len) == 1, len == 32 else {
            throw CryptoError.openssl("X25519 public key")
        }
        return out
    }
}

public enum X25519 {
    /// RFC 7748 X25519(scalar, u). Throws `degenerateResult` on an all-zero output.
    public static func scalarMult(scalar: [UInt8], point: [UInt8]) throws -> [UInt8] {
        try requireLength(scalar, 32, "X25519 scalar")
        try requireLength(point, 32, "X25519 point")
        guard let priv = scalar.withUnsafeBufferPointer({
            EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, $0.baseAddress, 32)
        }) else { throw CryptoError.openssl("X25519 private key") }
        defer { EVP_PKEY_free(priv) }
        guard let pub = point.withUnsafeBufferPointer({
            EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, $0.baseAddress, 32)
        }) else { throw CryptoError.openssl("X25519 public key") }
        defer { EVP_PKEY_free(pub) }
        guard let ctx = EVP_PKEY_CTX_new(priv, nil) else { throw CryptoError.openssl("X25519 context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 32)
        var len = 32
        guard EVP_PKEY_derive_init(ctx) == 1, EVP_PKEY_derive_set_peer(ctx, pub) == 1 else {
            throw CryptoError.openssl("X25519 derive init")
        }
        guard EVP_PKEY_derive(ctx, &out, &len) == 1, len == 32 else {
            // OpenSSL refuses an all-zero shared secret itself.
            ERR_clear_error()
            throw CryptoError(.degenerateResult, "X25519 produced the all-zero point (small-order peer key)")
        }
        if out.allSatisfy({ $0 == 0 }) {
            throw CryptoError(.degenerateResult, "X25519 produced the all-zero point (small-order peer key)")
        }
        return out
    }
}
