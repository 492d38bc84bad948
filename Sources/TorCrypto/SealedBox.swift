import CSodium

/// Anonymous public-key encryption (libsodium's `crypto_box_seal`: X25519 + XSalsa20-Poly1305
/// with an ephemeral sender key). Whoever holds only the public key can seal; only the
/// secret key opens. Used for identity bundles: a migration's key pair is made by fleetctl,
/// the source host seals to the public half, and the bundle is never readable in between.
public enum SealedBox {
    public static let publicKeyBytes = 32
    public static let secretKeyBytes = 32
    /// Bytes a sealed message has beyond its plaintext.
    public static var overhead: Int { Int(crypto_box_sealbytes()) }

    /// A fresh key pair: (public, secret).
    public static func keyPair() -> (publicKey: [UInt8], secretKey: [UInt8]) {
        Sodium.ensureInitialized()
        var pk = [UInt8](repeating: 0, count: publicKeyBytes), sk = [UInt8](repeating: 0, count: secretKeyBytes)
        crypto_box_keypair(&pk, &sk)
        return (pk, sk)
    }

    /// The public key belonging to `secretKey`.
    public static func publicKey(of secretKey: [UInt8]) throws -> [UInt8] {
        guard secretKey.count == secretKeyBytes else { throw CryptoError(.invalidKey, "a sealing secret key is \(secretKeyBytes) bytes, not \(secretKey.count)") }
        Sodium.ensureInitialized()
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        crypto_scalarmult_base(&pk, secretKey)
        return pk
    }

    public static func seal(_ plaintext: [UInt8], to publicKey: [UInt8]) throws -> [UInt8] {
        guard publicKey.count == publicKeyBytes else { throw CryptoError(.invalidKey, "a sealing public key is \(publicKeyBytes) bytes, not \(publicKey.count)") }
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: plaintext.count + overhead)
        guard crypto_box_seal(&out, plaintext, UInt64(plaintext.count), publicKey) == 0 else {
            throw CryptoError(.invalidKey, "crypto_box_seal refused the public key")
        }
        return out
    }

    /// Opens a sealed message; any change to it (or the wrong key) is an error.
    public static func open(_ sealed: [UInt8], secretKey: [UInt8]) throws -> [UInt8] {
        let pk = try publicKey(of: secretKey)
        guard sealed.count >= overhead else { throw CryptoError(.invalidLength, "sealed data is too short (\(sealed.count) bytes)") }
        var out = [UInt8](repeating: 0, count: sealed.count - overhead)
        guard crypto_box_seal_open(&out, sealed, UInt64(sealed.count), pk, secretKey) == 0 else {
            throw CryptoError(.decodeFailed, "the sealed data does not open with this key (tampered, truncated or sealed to another key)")
        }
        return out
    }
}
