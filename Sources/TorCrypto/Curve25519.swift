import CSodium

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
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult_curve25519_base(&out, scalar) == 0 else {
            throw CryptoError(.invalidKey, "X25519 public key derivation failed")
        }
        return out
    }
}

public enum X25519 {
    /// RFC 7748 X25519(scalar, u). Throws `degenerateResult` on an all-zero output.
    /// libsodium's X25519: no per-call allocation or context (OpenSSL's EVP route costs two
    /// key objects and a context per call, 0.4x the speed; see scripts/bench-crypto).
    public static func scalarMult(scalar: [UInt8], point: [UInt8]) throws -> [UInt8] {
        try requireLength(scalar, 32, "X25519 scalar")
        try requireLength(point, 32, "X25519 point")
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: 32)
        // libsodium refuses (returns -1) when the result is the all-zero point.
        guard crypto_scalarmult_curve25519(&out, scalar, point) == 0 else {
            throw CryptoError(.degenerateResult, "X25519 produced the all-zero point (small-order peer key)")
        }
        return out
    }
}
