import COpenSSL

/// An RSA public key, e.g. KP_relayid_rsa (1024 bits) or a TLS link key (2048 bits).
public final class RSAPublicKey: @unchecked Sendable, Hashable {
    let pkey: OpaquePointer  // EVP_PKEY, immutable after init

    init(owning pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    /// From PKCS#1 `RSAPublicKey` DER (what Tor hashes for fingerprints and puts in descriptors).
    public convenience init(pkcs1DER der: [UInt8]) throws {
        var key: OpaquePointer?
        let consumed: Int = der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            let start = p
            key = d2i_PublicKey(EVP_PKEY_RSA, nil, &p, buf.count)
            guard let s = start, let e = p else { return 0 }
            return e - s
        }
        guard let key else {
            ERR_clear_error()
            throw CryptoError(.decodeFailed, "not a PKCS#1 DER RSA public key")
        }
        guard consumed == der.count else {
            EVP_PKEY_free(key)
            throw CryptoError(.decodeFailed, "trailing bytes after PKCS#1 DER RSA public key")
        }
        self.init(owning: key)
    }

    /// PKCS#1 `RSAPublicKey` DER.
    public var pkcs1DER: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_PublicKey(pkey, &out)
        precondition(n > 0 && out != nil, "i2d_PublicKey failed")
        defer { shim_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    public var bits: Int { Int(EVP_PKEY_get_bits(pkey)) }

    /// The public exponent, when it fits in 64 bits.
    public var publicExponent: UInt64? {
        var bn: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &bn) == 1, let bn else {
            ERR_clear_error()
            return nil
        }
        defer { BN_free(bn) }
        guard (BN_num_bits(bn) + 7) / 8 <= 8 else { return nil }
        var buf = [UInt8](repeating: 0, count: 8)
        _ = BN_bn2binpad(bn, &buf, 8)
        return buf.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Recovers the data inside a Tor "raw" signature (PKCS#1 v1.5 type 1 padding over bare
    /// data, no DigestInfo), or nil if the signature does not verify.
    public func recoverSigned(_ signature: [UInt8]) -> [UInt8]? {
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_verify_recover_init(ctx) == 1,
              EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 else {
            ERR_clear_error()
            return nil
        }
        var out = [UInt8](repeating: 0, count: max(bits / 8, 1))
        var outLen = out.count
        let rc = signature.withUnsafeBufferPointer {
            EVP_PKEY_verify_recover(ctx, &out, &outLen, $0.baseAddress, $0.count)
        }
        guard rc == 1 else {
            ERR_clear_error()
            return nil
        }
        return Array(out.prefix(outLen))
    }

    /// True if `signature` is a Tor raw RSA signature of exactly `data`.
    public func isValidRawSignature(_ signature: [UInt8], of data: [UInt8]) -> Bool {
        guard let recovered = recoverSigned(signature) else { return false }
        return constantTimeEqual(recovered, data)
    }

    public static func == (a: RSAPublicKey, b: RSAPublicKey) -> Bool { a.pkcs1DER == b.pkcs1DER }
    public func hash(into h: inout Hasher) { h.combine(pkcs1DER) }
}

/// An RSA private key: KS_relayid_rsa (1024 bits), the TAP onion key, or a TLS link key.
public final class RSAPrivateKey: @unchecked Sendable {
    let pkey: OpaquePointer  // EVP_PKEY, immutable after init
    public let publicKey: RSAPublicKey

    /// Takes ownership of `pkey`, also when it throws: an object whose init throws before all
    /// its properties are set never runs deinit, so the key is freed here on every failure.
    private init(owning pkey: OpaquePointer, checkConsistency: Bool = true) throws {
        do {
            publicKey = try Self.publicKey(of: pkey, checkConsistency: checkConsistency)
        } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
        self.pkey = pkey
    }

    private static func publicKey(of pkey: OpaquePointer, checkConsistency: Bool) throws -> RSAPublicKey {
        if checkConsistency {
            // Decoding does not check that n = p·q, d·e ≡ 1, …: a damaged key file can decode into
            // a key that signs garbage and names another identity. Refuse it here.
            guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { throw CryptoError.openssl("RSA check context") }
            defer { EVP_PKEY_CTX_free(ctx) }
            guard EVP_PKEY_check(ctx) == 1 else {
                ERR_clear_error()
                throw CryptoError(.invalidKey, "RSA private key is internally inconsistent (damaged key data)")
            }
        }
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_PublicKey(pkey, &out)
        guard n > 0, let out else { throw CryptoError.openssl("i2d_PublicKey") }
        let der = Array(UnsafeBufferPointer(start: out, count: Int(n)))
        shim_OPENSSL_free(out)
        return try RSAPublicKey(pkcs1DER: der)
    }

    deinit { EVP_PKEY_free(pkey) }

    /// A fresh key with e = 65537. Randomness is OpenSSL's own CSPRNG (OpenSSL's key
    /// generation cannot take an external source).
    public static func generate(bits: Int) throws -> RSAPrivateKey {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil) else { throw CryptoError.openssl("RSA keygen context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1,
              EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1,
              EVP_PKEY_keygen(ctx, &key) == 1, let key else {
            throw CryptoError.openssl("RSA-\(bits) key generation")
        }
        return try RSAPrivateKey(owning: key, checkConsistency: false)
    }

    /// From PKCS#1 `RSAPrivateKey` DER.
    public convenience init(pkcs1DER der: [UInt8]) throws {
        var key: OpaquePointer?
        let consumed: Int = der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            let start = p
            key = d2i_PrivateKey(EVP_PKEY_RSA, nil, &p, buf.count)
            guard let s = start, let e = p else { return 0 }
            return e - s
        }
        guard let key else {
            ERR_clear_error()
            throw CryptoError(.decodeFailed, "not a PKCS#1 DER RSA private key")
        }
        guard consumed == der.count else {
            EVP_PKEY_free(key)
            throw CryptoError(.decodeFailed, "trailing bytes after PKCS#1 DER RSA private key")
        }
        try self.init(owning: key)
    }

    /// From PEM `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1, as CTor writes `secret_id_key`).
    /// Encrypted PEM is refused (no passphrase callback is offered).
    public convenience init(pem: String) throws {
        guard pem.contains("-----BEGIN RSA PRIVATE KEY-----") else {
            throw CryptoError(.decodeFailed, "not a PEM 'RSA PRIVATE KEY' block")
        }
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.openssl("BIO_new") }
        defer { BIO_free(bio) }
        let bytes = Array(pem.utf8)
        guard bytes.withUnsafeBufferPointer({ BIO_write(bio, $0.baseAddress, Int32($0.count)) }) == Int32(bytes.count) else {
            throw CryptoError.openssl("BIO_write")
        }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in -1 }, nil) else {
            ERR_clear_error()
            throw CryptoError(.decodeFailed, "PEM RSA private key does not decode")
        }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
            EVP_PKEY_free(key)
            throw CryptoError(.decodeFailed, "PEM private key is not RSA")
        }
        try self.init(owning: key)
    }

    public var bits: Int { publicKey.bits }

    /// Escape hatch for the TLS layer only (`SSL_CTX_use_PrivateKey` needs the OpenSSL key):
    /// lends the underlying `EVP_PKEY*` for the duration of `body`. The pointer must not be
    /// freed, mutated or kept after `body` returns (OpenSSL functions that up-ref it are fine).
    public func withUnsafeEVPPKEY<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(pkey)
    }

    /// PKCS#1 `RSAPrivateKey` DER, for the key store.
    public func dangerouslyExportPKCS1DER() -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_PrivateKey(pkey, &out)
        precondition(n > 0 && out != nil, "i2d_PrivateKey failed")
        defer {
            OPENSSL_cleanse(out, Int(n))
            shim_OPENSSL_free(out)
        }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    /// PEM `RSA PRIVATE KEY` (PKCS#1), the format of CTor's `secret_id_key`.
    public func dangerouslyExportPEM() -> String {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        precondition(PEM_write_bio_PrivateKey_traditional(bio, pkey, nil, nil, 0, nil, nil) == 1,
                     "PEM_write_bio_PrivateKey_traditional failed")
        var ptr: UnsafeMutablePointer<CChar>?
        let n = shim_BIO_get_mem_data(bio, &ptr)
        let bytes = UnsafeRawBufferPointer(start: ptr, count: Int(n))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Tor's "raw" RSA signature: PKCS#1 v1.5 type-1 padding directly over `data` (a digest),
    /// with no DigestInfo — CTor's `crypto_pk_private_sign`.
    public func signRaw(_ data: [UInt8]) throws -> [UInt8] {
        guard data.count <= bits / 8 - 11 else {
            throw CryptoError(.invalidLength, "\(data.count) bytes are too long to sign with RSA-\(bits)")
        }
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { throw CryptoError.openssl("RSA sign context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_sign_init(ctx) == 1, EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 else {
            throw CryptoError.openssl("RSA sign init")
        }
        var sig = [UInt8](repeating: 0, count: bits / 8)
        var sigLen = sig.count
        guard data.withUnsafeBufferPointer({ EVP_PKEY_sign(ctx, &sig, &sigLen, $0.baseAddress, $0.count) }) == 1 else {
            throw CryptoError.openssl("RSA sign")
        }
        return Array(sig.prefix(sigLen))
    }
}
