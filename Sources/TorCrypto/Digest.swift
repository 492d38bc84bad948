import COpenSSL

/// Hash functions Tor uses. Algorithms are fetched from OpenSSL once and reused.
public struct DigestAlgorithm: Hashable, Sendable {
    let name: String
    public let outputLength: Int

    public static let sha1 = DigestAlgorithm(name: "SHA1", outputLength: 20)
    public static let sha256 = DigestAlgorithm(name: "SHA256", outputLength: 32)
    public static let sha512 = DigestAlgorithm(name: "SHA512", outputLength: 64)
    public static let sha3_256 = DigestAlgorithm(name: "SHA3-256", outputLength: 32)

    var md: OpaquePointer { FetchedAlgorithms.md(name) }
}

/// Algorithm handles fetched once (EVP_MD_fetch is costly per call in OpenSSL 3).
enum FetchedAlgorithms {
    nonisolated(unsafe) static let sha1 = EVP_MD_fetch(nil, "SHA1", nil)!
    nonisolated(unsafe) static let sha256 = EVP_MD_fetch(nil, "SHA256", nil)!
    nonisolated(unsafe) static let sha512 = EVP_MD_fetch(nil, "SHA512", nil)!
    nonisolated(unsafe) static let sha3_256 = EVP_MD_fetch(nil, "SHA3-256", nil)!
    nonisolated(unsafe) static let shake256 = EVP_MD_fetch(nil, "SHAKE256", nil)!
    nonisolated(unsafe) static let aes128ctr = EVP_CIPHER_fetch(nil, "AES-128-CTR", nil)!
    nonisolated(unsafe) static let aes256ctr = EVP_CIPHER_fetch(nil, "AES-256-CTR", nil)!

    static func md(_ name: String) -> OpaquePointer {
        switch name {
        case "SHA1": return sha1
        case "SHA256": return sha256
        case "SHA512": return sha512
        case "SHA3-256": return sha3_256
        default: preconditionFailure("unknown digest \(name)")
        }
    }
}

public enum Digest {
    public static func sha1(_ data: [UInt8]) -> [UInt8] { hash(.sha1, data) }
    public static func sha256(_ data: [UInt8]) -> [UInt8] { hash(.sha256, data) }
    public static func sha512(_ data: [UInt8]) -> [UInt8] { hash(.sha512, data) }
    public static func sha3_256(_ data: [UInt8]) -> [UInt8] { hash(.sha3_256, data) }

    public static func hash(_ algorithm: DigestAlgorithm, _ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { hash(algorithm, $0) }
    }

    public static func hash(_ algorithm: DigestAlgorithm, _ data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.outputLength)
        var len: UInt32 = 0
        let rc = out.withUnsafeMutableBufferPointer { o in
            EVP_Digest(data.baseAddress, data.count, o.baseAddress, &len, algorithm.md, nil)
        }
        precondition(rc == 1 && Int(len) == algorithm.outputLength, "EVP_Digest failed")
        return out
    }

    /// SHAKE-256 with `outputLength` bytes of output (FIPS 202).
    public static func shake256(_ data: [UInt8], outputLength: Int) -> [UInt8] {
        let ctx = DigestContext(xof: FetchedAlgorithms.shake256)
        ctx.update(data)
        return ctx.finalizeXOF(outputLength: outputLength)
    }
}

/// A streaming hash. `update` appends, `peek()` returns the digest so far without ending the
/// stream (what Tor's running relay-cell digests need), `copy()` forks the state.
public final class DigestContext {
    private let ctx: OpaquePointer
    private let scratch: OpaquePointer
    public let algorithm: DigestAlgorithm?

    public init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        ctx = EVP_MD_CTX_new()!
        scratch = EVP_MD_CTX_new()!
        precondition(EVP_DigestInit_ex(ctx, algorithm.md, nil) == 1, "EVP_DigestInit_ex failed")
    }

    init(xof md: OpaquePointer) {
        algorithm = nil
        ctx = EVP_MD_CTX_new()!
        scratch = EVP_MD_CTX_new()!
        precondition(EVP_DigestInit_ex(ctx, md, nil) == 1, "EVP_DigestInit_ex failed")
    }

    private init(copying other: DigestContext) {
        algorithm = other.algorithm
        ctx = EVP_MD_CTX_new()!
        scratch = EVP_MD_CTX_new()!
        precondition(EVP_MD_CTX_copy_ex(ctx, other.ctx) == 1, "EVP_MD_CTX_copy_ex failed")
    }

    deinit {
        EVP_MD_CTX_free(ctx)
        EVP_MD_CTX_free(scratch)
    }

    public func update(_ data: UnsafeRawBufferPointer) {
        guard data.count > 0 else { return }
        precondition(EVP_DigestUpdate(ctx, data.baseAddress, data.count) == 1)
    }

    public func update(_ data: [UInt8]) { data.withUnsafeBytes { update($0) } }

    /// The digest of everything so far; the stream continues.
    public func peek() -> [UInt8] {
        guard let algorithm else { preconditionFailure("peek() on an XOF context") }
        precondition(EVP_MD_CTX_copy_ex(scratch, ctx) == 1)
        var out = [UInt8](repeating: 0, count: algorithm.outputLength)
        var len: UInt32 = 0
        precondition(EVP_DigestFinal_ex(scratch, &out, &len) == 1)
        return out
    }

    /// Writes the first `into.count` bytes of the digest so far into `into`; no allocation.
    public func peek(into: UnsafeMutableRawBufferPointer) {
        guard let algorithm else { preconditionFailure("peek() on an XOF context") }
        precondition(into.count <= algorithm.outputLength)
        precondition(EVP_MD_CTX_copy_ex(scratch, ctx) == 1)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { tmp in
            var len: UInt32 = 0
            precondition(EVP_DigestFinal_ex(scratch, tmp.baseAddress, &len) == 1)
            into.copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(tmp)[0..<into.count]))
        }
    }

    public func copy() -> DigestContext { DigestContext(copying: self) }

    /// Restores this stream to the state of `other` (same algorithm), without allocating.
    public func restore(from other: DigestContext) {
        precondition(EVP_MD_CTX_copy_ex(ctx, other.ctx) == 1)
    }

    func finalizeXOF(outputLength: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputLength)
        precondition(EVP_DigestFinalXOF(ctx, &out, outputLength) == 1)
        return out
    }
}
