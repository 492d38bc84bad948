import COpenSSL

/// AES in counter mode (128- or 256-bit key), one keystream for the object's lifetime, as
/// Tor's relay crypto needs: `apply` continues where the last call stopped. In place and
/// allocation-free per call.
public final class AESCTR {
    private let ctx: OpaquePointer

    /// `key` of 16 or 32 bytes; `iv` is the 16-byte initial counter block (Tor uses zero).
    public init(key: [UInt8], iv: [UInt8] = [UInt8](repeating: 0, count: 16)) throws {
        let cipher: OpaquePointer
        switch key.count {
        case 16: cipher = FetchedAlgorithms.aes128ctr
        case 32: cipher = FetchedAlgorithms.aes256ctr
        default: throw CryptoError(.invalidLength, "AES-CTR key must be 16 or 32 bytes, got \(key.count)")
        }
        try requireLength(iv, 16, "AES-CTR IV")
        guard let c = EVP_CIPHER_CTX_new() else { throw CryptoError.openssl("EVP_CIPHER_CTX_new") }
        guard EVP_EncryptInit_ex(c, cipher, nil, key, iv) == 1 else {
            EVP_CIPHER_CTX_free(c)
            throw CryptoError.openssl("AES-CTR init")
        }
        ctx = c
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }

    /// XORs the next `buffer.count` keystream bytes into `buffer`.
    public func apply(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let p = base.assumingMemoryBound(to: UInt8.self)
        var outLen: Int32 = 0
        // The length fits: callers pass cells or bounded chunks; guard anyway.
        precondition(buffer.count <= Int(Int32.max))
        let rc = EVP_EncryptUpdate(ctx, p, &outLen, p, Int32(buffer.count))
        precondition(rc == 1 && Int(outLen) == buffer.count, "AES-CTR update failed")
    }

    public func apply(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { apply($0) }
    }
}
