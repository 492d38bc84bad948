import TorCrypto
import TorProtocol

/// tor1 relay crypto for one hop, relay side (tor-spec "Routing relay cells"): AES-128-CTR with
/// one keystream per direction for the circuit's lifetime, running SHA-1 digests seeded with
/// Df/Db, and the "recognized" check that rolls the forward digest back when a cell is for a
/// later hop. In place; no allocation per cell.
final class Tor1HopCrypto: HopCrypto {
    // Forward direction: touched only on the p-link's loop.
    private let forwardCipher: AESCTR
    private let forwardDigest: DigestContext
    private let forwardCheckpoint: DigestContext
    // Backward direction: touched only on the loop owning the backward path.
    private let backwardCipher: AESCTR
    private let backwardDigest: DigestContext

    static let recognizedOffset = 1
    static let digestOffset = 5

    init(keys: CircuitKeys) throws {
        forwardCipher = try AESCTR(key: keys.forwardKey)
        backwardCipher = try AESCTR(key: keys.backwardKey)
        forwardDigest = DigestContext(.sha1)
        forwardDigest.update(keys.forwardDigestSeed)
        forwardCheckpoint = forwardDigest.copy()
        backwardDigest = DigestContext(.sha1)
        backwardDigest.update(keys.backwardDigestSeed)
    }

    func decryptForward(_ body: UnsafeMutableRawBufferPointer) -> Bool {
        forwardCipher.apply(body)
        guard body[Self.recognizedOffset] == 0, body[Self.recognizedOffset + 1] == 0 else { return false }
        // Digest over the body with its digest field zeroed; keep a checkpoint to roll back to.
        let d0 = body[5], d1 = body[6], d2 = body[7], d3 = body[8]
        body[5] = 0; body[6] = 0; body[7] = 0; body[8] = 0
        forwardCheckpoint.restore(from: forwardDigest)
        forwardDigest.update(UnsafeRawBufferPointer(body))
        var expected: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &expected) { forwardDigest.peek(into: $0) }
        body[5] = d0; body[6] = d1; body[7] = d2; body[8] = d3
        if expected == (d0, d1, d2, d3) { return true }
        forwardDigest.restore(from: forwardCheckpoint)  // not ours: the cell is for a later hop
        return false
    }

    func encryptBackward(_ body: UnsafeMutableRawBufferPointer, originating: Bool) {
        if originating {
            body[1] = 0; body[2] = 0
            body[5] = 0; body[6] = 0; body[7] = 0; body[8] = 0
            backwardDigest.update(UnsafeRawBufferPointer(body))
            backwardDigest.peek(into: UnsafeMutableRawBufferPointer(rebasing: body[5..<9]))
        }
        backwardCipher.apply(body)
    }
}
