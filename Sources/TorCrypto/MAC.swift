import COpenSSL

public enum HMAC {
    /// HMAC-SHA256 (RFC 2104 / RFC 4231).
    public static func sha256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        let p = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                COpenSSL.HMAC(FetchedAlgorithms.sha256, k.baseAddress, Int32(k.count),
                              d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count, &out, &len)
            }
        }
        precondition(p != nil && len == 32, "HMAC-SHA256 failed")
        return out
    }
}

public enum HKDF {
    /// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info` to `length` bytes.
    public static func sha256(ikm: [UInt8], salt: [UInt8], info: [UInt8], length: Int) throws -> [UInt8] {
        guard length > 0, length <= 255 * 32 else {
            throw CryptoError(.invalidLength, "HKDF-SHA256 output length \(length) out of range")
        }
        guard let pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { throw CryptoError.openssl("HKDF context") }
        defer { EVP_PKEY_CTX_free(pctx) }
        guard EVP_PKEY_derive_init(pctx) == 1,
              EVP_PKEY_CTX_set_hkdf_md(pctx, FetchedAlgorithms.sha256) == 1 else {
            throw CryptoError.openssl("HKDF init")
        }
        // OpenSSL copies each of these (the set1/add1 forms), so the pointers need only live per call.
        if !salt.isEmpty {
            guard salt.withUnsafeBufferPointer({ EVP_PKEY_CTX_set1_hkdf_salt(pctx, $0.baseAddress, Int32($0.count)) }) == 1 else {
                throw CryptoError.openssl("HKDF salt")
            }
        }
        guard ikm.withUnsafeBufferPointer({ EVP_PKEY_CTX_set1_hkdf_key(pctx, $0.baseAddress, Int32($0.count)) }) == 1 else {
            throw CryptoError.openssl("HKDF key")
        }
        if !info.isEmpty {
            guard info.withUnsafeBufferPointer({ EVP_PKEY_CTX_add1_hkdf_info(pctx, $0.baseAddress, Int32($0.count)) }) == 1 else {
                throw CryptoError.openssl("HKDF info")
            }
        }
        var out = [UInt8](repeating: 0, count: length)
        var outLen = length
        guard EVP_PKEY_derive(pctx, &out, &outLen) == 1, outLen == length else {
            throw CryptoError.openssl("HKDF derive")
        }
        return out
    }
}

public enum KDFTor {
    /// KDF-TOR (tor-spec "Setting circuit keys", used by CREATE_FAST):
    /// K = H(K0 | [00]) | H(K0 | [01]) | H(K0 | [02]) | ... truncated to `length`.
    public static func derive(_ k0: [UInt8], length: Int) throws -> [UInt8] {
        guard length >= 0, length <= 256 * 20 else {
            throw CryptoError(.invalidLength, "KDF-TOR output length \(length) out of range")
        }
        var out = [UInt8]()
        out.reserveCapacity(length + 20)
        var input = k0 + [0]
        var i: UInt8 = 0
        while out.count < length {
            input[input.count - 1] = i
            out += Digest.sha1(input)
            i &+= 1
        }
        return Array(out.prefix(length))
    }
}
