import TorCrypto

/// A deterministic RandomSource for tests (SplitMix64). Never used outside tests.
struct TestRandom: RandomSource {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        for i in 0..<buffer.count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            buffer[i] = UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }
}
