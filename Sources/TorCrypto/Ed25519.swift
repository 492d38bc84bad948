import CSodium
import Foundation

/// An Ed25519 public key (RFC 8032), e.g. KP_relayid_ed.
public struct Ed25519PublicKey: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        try requireLength(bytes, 32, "Ed25519 public key")
        self.bytes = bytes
    }

    /// Unpadded base64, the form CTor prints (`master-key-ed25519`, `fingerprint-ed25519`).
    public var base64: String { bytes.base64Unpadded }
    public var description: String { base64 }

    public init(base64: String) throws {
        guard let b = [UInt8](base64Unpadded: base64), b.count == 32 else {
            throw CryptoError(.decodeFailed, "'\(base64)' is not a base64 Ed25519 public key")
        }
        bytes = b
    }

    /// Verifies a 64-byte RFC 8032 signature.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        Sodium.ensureInitialized()
        return message.withUnsafeBufferPointer { m in
            crypto_sign_ed25519_verify_detached(signature, m.baseAddress, UInt64(m.count), bytes) == 0
        }
    }
}

/// An Ed25519 secret key in RFC 8032's expanded form: clamped scalar `a` (32 bytes) followed by
/// the 32-byte nonce prefix. This is the form CTor stores (`ed25519v1-secret` files) and the
/// only form that exists for keys derived from Curve25519 secrets, so all signing goes
/// through it; a seed is expanded once.
public struct Ed25519SecretKey: Sendable {
    private let expanded: [UInt8]
    public let publicKey: Ed25519PublicKey

    /// From a 32-byte seed (RFC 8032 §5.1.5).
    public init(seed: [UInt8]) throws {
        try requireLength(seed, 32, "Ed25519 seed")
        var h = Digest.sha512(seed)
        h[0] &= 248
        h[31] &= 63
        h[31] |= 64
        try self.init(expanded: h)
    }

    /// From a 64-byte expanded secret. The scalar half must be clamped as RFC 8032 requires;
    /// anything else is not a key CTor or we could have written.
    public init(expanded: [UInt8]) throws {
        try requireLength(expanded, 64, "Ed25519 expanded secret key")
        guard expanded[0] & 7 == 0, expanded[31] & 0xC0 == 0x40 else {
            throw CryptoError(.invalidKey, "Ed25519 expanded secret key is not clamped")
        }
        Sodium.ensureInitialized()
        var a = [UInt8](repeating: 0, count: 32)
        let scalar = Array(expanded[0..<32])
        guard crypto_scalarmult_ed25519_base_noclamp(&a, scalar) == 0 else {
            throw CryptoError(.invalidKey, "Ed25519 expanded secret key has a degenerate scalar")
        }
        self.expanded = expanded
        publicKey = try Ed25519PublicKey(bytes: a)
    }

    public static func generate(using rng: inout some RandomSource) -> Ed25519SecretKey {
        var seed = rng.bytes(32)
        defer { wipe(&seed) }
        return try! Ed25519SecretKey(seed: seed)
    }

    /// The 64 expanded secret bytes, for the key store and CTor key files only.
    public func dangerouslyExportExpanded() -> [UInt8] { expanded }

    /// RFC 8032 §5.1.6 signing from the expanded key:
    /// r = H(prefix‖M) mod L, R = rB, k = H(R‖A‖M) mod L, S = r + k·a mod L.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        let prefix = Array(expanded[32..<64])
        var scalarA = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_reduce(&scalarA, Array(expanded[0..<32]) + [UInt8](repeating: 0, count: 32))

        var r = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_reduce(&r, Digest.sha512(prefix + message))
        var bigR = [UInt8](repeating: 0, count: 32)
        // r == 0 happens with probability 2^-252; libsodium refuses it, so does a signature.
        precondition(crypto_scalarmult_ed25519_base_noclamp(&bigR, r) == 0, "Ed25519 nonce is zero")

        var k = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_reduce(&k, Digest.sha512(bigR + publicKey.bytes + message))
        var ka = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_mul(&ka, k, scalarA)
        var s = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_add(&s, r, ka)
        wipe(&scalarA)
        wipe(&r)
        return bigR + s
    }
}

enum Sodium {
    private static let initialized: Bool = sodium_init() >= 0
    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise")
    }
}
