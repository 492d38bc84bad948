import COpenSSL

/// The Curve25519 → Ed25519 key conversion Tor uses to sign the ntor-onion-key
/// cross-certificate (tor-spec / dir-spec "ntor-onion-key-crosscert"; CTor
/// `ed25519_keypair_from_curve25519_keypair`).
extension Curve25519SecretKey {
    /// The Ed25519 key whose scalar is this curve25519 secret, and the sign bit of its public
    /// key (the `<bit>` on the descriptor's `ntor-onion-key-crosscert` line).
    /// Expanded key = secret ‖ SHA-512(secret ‖ "Derive high part of ed25519 key from curve25519 key\0")[0..<32];
    /// the terminating NUL is hashed (CTor hashes `sizeof` the C string).
    public func derivedEd25519Key() -> (key: Ed25519SecretKey, signBit: UInt8) {
        let secret = dangerouslyExportSecret()
        let label = Array("Derive high part of ed25519 key from curve25519 key".utf8) + [0]
        let high = Digest.sha512(secret + label).prefix(32)
        // A clamped curve25519 secret is a clamped Ed25519 scalar, so this cannot fail.
        let key = try! Ed25519SecretKey(expanded: secret + high)
        return (key, key.publicKey.bytes[31] >> 7)
    }
}

extension Curve25519PublicKey {
    /// The Ed25519 public key with y = (u − 1)/(u + 1) mod p and the given sign bit: what a
    /// verifier of an ntor-onion-key cross-certificate computes from the published ntor key.
    public func ed25519Equivalent(signBit: UInt8) throws -> Ed25519PublicKey {
        guard signBit <= 1 else { throw CryptoError(.invalidKey, "sign bit must be 0 or 1, got \(signBit)") }
        var uBytes = bytes
        uBytes[31] &= 0x7f  // RFC 7748: ignore the top bit of u.
        guard let ctx = BN_CTX_new() else { throw CryptoError.openssl("BN_CTX_new") }
        defer { BN_CTX_free(ctx) }
        let p = BN_new()!, u = BN_new()!, one = BN_new()!, num = BN_new()!, den = BN_new()!, y = BN_new()!
        defer { [p, u, one, num, den, y].forEach { BN_free($0) } }
        // p = 2^255 - 19
        var pBytes = [UInt8](repeating: 0xff, count: 32)
        pBytes[0] = 0xed
        pBytes[31] = 0x7f
        guard BN_lebin2bn(pBytes, 32, p) != nil, BN_lebin2bn(uBytes, 32, u) != nil,
              BN_set_word(one, 1) == 1,
              BN_mod_sub(num, u, one, p, ctx) == 1,
              BN_mod_add(den, u, one, p, ctx) == 1 else {
            throw CryptoError.openssl("curve25519 to ed25519 conversion")
        }
        guard BN_is_zero(den) == 0, BN_mod_inverse(den, den, p, ctx) != nil else {
            ERR_clear_error()
            throw CryptoError(.invalidKey, "curve25519 point u = -1 has no ed25519 equivalent")
        }
        guard BN_mod_mul(y, num, den, p, ctx) == 1 else { throw CryptoError.openssl("BN_mod_mul") }
        var out = [UInt8](repeating: 0, count: 32)
        guard BN_bn2lebinpad(y, &out, 32) == 32 else { throw CryptoError.openssl("BN_bn2lebinpad") }
        out[31] |= signBit << 7
        return try Ed25519PublicKey(bytes: out)
    }
}
