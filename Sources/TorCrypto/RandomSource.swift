import COpenSSL

/// The one source of randomness for key generation and protocol nonces. Production code
/// uses `SystemRandom` (OpenSSL's CSPRNG); tests pass a deterministic source.
public protocol RandomSource {
    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

extension RandomSource {
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { fill($0) }
        return out
    }
}

/// OpenSSL's `RAND_bytes`. Failure of the system CSPRNG is unrecoverable and stops the
/// process (as CTor does): continuing would produce predictable keys.
public struct SystemRandom: RandomSource, Sendable {
    /// One byte of state, unused: a zero-sized value passed `inout` gets an address in read-only
    /// memory, and ThreadSanitizer's instrumentation of that access crashes the process (seen
    /// with Swift 6.3 in `swift test --sanitize=thread`).
    private var sized: UInt8 = 0
    public init() {}
    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let rc = RAND_bytes(base.assumingMemoryBound(to: UInt8.self), Int32(buffer.count))
        precondition(rc == 1, "OpenSSL RAND_bytes failed: the system CSPRNG is unusable")
    }
}
