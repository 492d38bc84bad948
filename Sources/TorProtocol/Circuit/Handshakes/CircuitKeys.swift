import TorCrypto

/// One hop's keys for tor1 relay crypto (tor-spec "Setting circuit keys"), as every circuit
/// handshake (ntor, ntor v3, CREATE_FAST) produces them.
public struct CircuitKeys: Sendable {
    /// Bytes of Df | Db | Kf | Kb: what tor1 relay crypto consumes (CTor's CPATH_KEY_MATERIAL_LEN).
    public static let tor1Length = 72
    /// Bytes of Df | Db | Kf | Kb | KH, the key material a handshake expands to for tor1.
    public static let tor1WithNonceLength = 92

    /// Df: seeds the running SHA-1 over forward (client → exit) relay cells. 20 bytes.
    public let forwardDigestSeed: [UInt8]
    /// Db: seeds the running SHA-1 over backward relay cells. 20 bytes.
    public let backwardDigestSeed: [UInt8]
    /// Kf: AES-128-CTR key for forward relay cells. 16 bytes.
    public let forwardKey: [UInt8]
    /// Kb: AES-128-CTR key for backward relay cells. 16 bytes.
    public let backwardKey: [UInt8]
    /// KH, 20 bytes. CREATE_FAST: the derivative key data the relay proves knowledge of in
    /// CREATED_FAST. ntor / ntor v3: the trailing 20 bytes, an onion-service nonce that
    /// circuits do not otherwise use.
    public let nonce: [UInt8]

    /// Splits `material` (Df | Db | Kf | Kb, 72 bytes) and takes `nonce` (KH, 20 bytes).
    public init(tor1KeyMaterial material: [UInt8], nonce: [UInt8]) throws {
        guard material.count == Self.tor1Length, nonce.count == 20 else {
            throw TorProtocolError(.malformed, "tor1 circuit keys need 72 bytes of key material and a 20-byte KH, got \(material.count) and \(nonce.count)")
        }
        forwardDigestSeed = Array(material[0..<20])
        backwardDigestSeed = Array(material[20..<40])
        forwardKey = Array(material[40..<56])
        backwardKey = Array(material[56..<72])
        self.nonce = nonce
    }

    /// Df | Db | Kf | Kb, in the order the handshakes derive them.
    public var tor1KeyMaterial: [UInt8] { forwardDigestSeed + backwardDigestSeed + forwardKey + backwardKey }
}

extension CircuitKeys: Equatable {
    /// Constant-time over all fields.
    public static func == (a: CircuitKeys, b: CircuitKeys) -> Bool {
        constantTimeEqual(a.tor1KeyMaterial + a.nonce, b.tor1KeyMaterial + b.nonce)
    }
}

/// The shared secret a completed circuit handshake leaves behind, from which any amount of
/// key material is drawn: `keys` for tor1 relay crypto, `bytes(_:)` for other layouts.
public struct CircuitKeyMaterial: Sendable {
    enum Source: Sendable {
        /// ntor: HKDF-SHA256(IKM = secret_input, salt = t_key, info = m_expand).
        case ntor(secretInput: [UInt8])
        /// ntor v3: SHAKE-256(ENCAP(t_final) | key_seed), after its first 32 bytes (ENC_KEY).
        case ntorV3(keySeed: [UInt8])
        /// CREATE_FAST: KDF-TOR(K0 = X | Y), after its first 20 bytes (KH).
        case fast(k0: [UInt8])
    }

    let source: Source
    /// Df, Db, Kf, Kb and KH for tor1 relay crypto.
    public let keys: CircuitKeys

    /// The most bytes `bytes(_:)` gives: HKDF's and KDF-TOR's limits; 64 KiB for SHAKE
    /// (unbounded itself, capped far beyond any key layout).
    public var maximumLength: Int {
        switch source {
        case .ntor: return 255 * 32
        case .ntorV3: return 1 << 16
        case .fast: return 256 * 20 - 20
        }
    }

    init(_ source: Source) throws {
        self.source = source
        switch source {
        case .ntor, .ntorV3:
            // Df | Db | Kf | Kb | KH (tor-spec KDF-RFC5869; proposal 332 §A.2).
            let m = try Self.expand(source, CircuitKeys.tor1WithNonceLength)
            keys = try CircuitKeys(tor1KeyMaterial: Array(m[0..<72]), nonce: Array(m[72..<92]))
        case .fast(let k0):
            // KH | Df | Db | Kf | Kb (tor-spec KDF-TOR).
            let m = try Self.kdfTor(k0, 20 + CircuitKeys.tor1Length)
            keys = try CircuitKeys(tor1KeyMaterial: Array(m[20...]), nonce: Array(m[0..<20]))
        }
    }

    /// The first `length` bytes of this handshake's key stream: for ntor the whole HKDF output
    /// (Df first); for ntor v3 the SHAKE output after ENC_KEY; for CREATE_FAST the KDF-TOR
    /// output after KH. The first 72 bytes are always Df | Db | Kf | Kb.
    public func bytes(_ length: Int) throws -> [UInt8] {
        guard length >= 0, length <= maximumLength else {
            throw TorProtocolError(.unsupported, "circuit key material of \(length) bytes requested; this handshake gives 0...\(maximumLength)")
        }
        return try Self.expand(source, length)
    }

    private static func expand(_ source: Source, _ length: Int) throws -> [UInt8] {
        guard length > 0 else { return [] }
        switch source {
        case .ntor(let secretInput):
            do {
                return try HKDF.sha256(ikm: secretInput, salt: NtorHandshake.tKey, info: NtorHandshake.mExpand, length: length)
            } catch {
                throw TorProtocolError(.handshake, "ntor key expansion failed: \(error)")
            }
        case .ntorV3(let keySeed):
            return Array(NtorV3Handshake.kdf(keySeed, tweak: NtorV3Handshake.tFinal, length: 32 + length).dropFirst(32))
        case .fast(let k0):
            return Array(try kdfTor(k0, 20 + length).dropFirst(20))
        }
    }

    private static func kdfTor(_ k0: [UInt8], _ length: Int) throws -> [UInt8] {
        do {
            return try KDFTor.derive(k0, length: length)
        } catch {
            throw TorProtocolError(.handshake, "KDF-TOR expansion failed: \(error)")
        }
    }
}

/// What the relay side of a circuit handshake produced: the handshake data for CREATED2
/// (HDATA) or the CREATED_FAST body, and the key material both sides now share.
public struct CircuitHandshakeReply: Sendable {
    public let reply: [UInt8]
    public let keyMaterial: CircuitKeyMaterial
    public var keys: CircuitKeys { keyMaterial.keys }
}

/// Helpers the three handshakes share; scoped to keep the module namespace clean.
enum CircuitHandshakeSupport {
    /// EXP(pk, sk) for a peer's public key taken off the wire. An all-zero result (a
    /// small-order or otherwise degenerate point) fails the handshake, as the specs require.
    static func dh(_ secret: Curve25519SecretKey, _ peer: ArraySlice<UInt8>, _ what: String) throws -> [UInt8] {
        do {
            return try secret.sharedSecret(with: Curve25519PublicKey(bytes: Array(peer)))
        } catch let e as CryptoError where e.code == .degenerateResult {
            throw TorProtocolError(.handshake, "\(what): the Diffie-Hellman result is all zeros (small-order point)")
        } catch {
            throw TorProtocolError(.handshake, "\(what): Diffie-Hellman failed: \(error)")
        }
    }

    /// The key among `keys` whose public half is `keyID`, compared in constant time over all.
    static func onionKey(matching keyID: ArraySlice<UInt8>, in keys: [Curve25519SecretKey]) -> Curve25519SecretKey? {
        let wanted = Array(keyID)
        var found: Curve25519SecretKey?
        for key in keys where constantTimeEqual(key.publicKey.bytes, wanted) {
            found = key
        }
        return found
    }
}
