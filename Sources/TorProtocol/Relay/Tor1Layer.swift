import TorCrypto

/// One direction of one hop of tor1 relay crypto (tor-spec routing-relay-cells, CTor
/// `relay_crypto_tor1.c`): an AES-128-CTR keystream keyed by Kf or Kb with a zero IV, running
/// for the life of the circuit, and a running SHA-1 seeded with Df or Db.
///
/// Allocation: everything a cell needs is made in `init` — the cipher, the live digest, a
/// spare digest context for the recognized check, and two 20-byte digest buffers. Per cell the
/// code only XORs keystream in place, feeds the body to OpenSSL, copies digest state between
/// the preallocated contexts and swaps references: nothing on the Swift heap (checked with
/// heaptrack over 10,000 extra cells). OpenSSL 3.0's `EVP_MD_CTX_copy_ex` does malloc and
/// free its provider context on every copy: one copy per `seal`, two per check of a cell whose
/// RECOGNIZED is zero, none otherwise.
final class Tor1Layer {
    private let cipher: AESCTR
    /// The running digest: every cell this direction has originated or recognized so far.
    private var digest: DigestContext
    /// Scratch state for the recognized check; becomes `digest` when a cell matches.
    private var candidate: DigestContext
    /// The full 20-byte digest after the last cell originated or recognized (zero before any).
    private(set) var lastDigest = [UInt8](repeating: 0, count: 20)
    /// Scratch for the candidate's 20-byte digest; swapped with `lastDigest` on a match.
    private var candidateDigest = [UInt8](repeating: 0, count: 20)

    init(key: [UInt8], digestSeed: [UInt8], _ what: String) throws {
        guard key.count == 16 else {
            throw TorProtocolError(.malformed, "tor1 \(what) key must be 16 bytes, got \(key.count)")
        }
        guard digestSeed.count == 20 else {
            throw TorProtocolError(.malformed, "tor1 \(what) digest seed must be 20 bytes, got \(digestSeed.count)")
        }
        do {
            cipher = try AESCTR(key: key)
        } catch {
            throw TorProtocolError(.malformed, "tor1 \(what) key: \(error)")
        }
        digest = DigestContext(.sha1)
        digest.update(digestSeed)
        candidate = digest.copy()
    }

    /// XORs the next 509 bytes of keystream into `body`.
    @inline(__always)
    func crypt(_ body: UnsafeMutableRawBufferPointer) {
        cipher.apply(body)
    }

    /// Prepares a plaintext cell we originate in this direction: RECOGNIZED = 0, DIGEST = 0,
    /// the whole 509-byte body into the running digest, the first 4 digest bytes into DIGEST.
    /// Does not encrypt.
    func seal(_ body: UnsafeMutableRawBufferPointer) {
        precondition(body.count == RelayCellHeader.bodyLength, "a relay cell body is \(RelayCellHeader.bodyLength) bytes, got \(body.count)")
        body.storeBytes(of: 0, toByteOffset: RelayCellHeader.recognizedOffset, as: UInt16.self)
        body.storeBytes(of: 0, toByteOffset: RelayCellHeader.digestOffset, as: UInt32.self)
        digest.update(UnsafeRawBufferPointer(body))
        lastDigest.withUnsafeMutableBytes { digest.peek(into: $0) }
        // Copy the 4 bytes straight from our buffer into the cell; `Array(lastDigest[0..<4])`
        // would be the tempting one-liner and would allocate per cell.
        lastDigest.withUnsafeBytes { d in
            UnsafeMutableRawBufferPointer(rebasing: body[RelayCellHeader.digestOffset..<RelayCellHeader.digestOffset + 4])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: d[0..<4]))
        }
    }

    /// Checks a just-decrypted body: RECOGNIZED must be zero and DIGEST must equal the first
    /// 4 bytes of the running digest over the body with DIGEST zeroed. On a match the digest
    /// advances; otherwise it is left exactly as it was (the cell belongs to a later hop, or
    /// is corrupt) — the checkpoint/rollback of checklist §9 item 17. The body is unchanged
    /// either way.
    func recognize(_ body: UnsafeMutableRawBufferPointer) -> Bool {
        precondition(body.count == RelayCellHeader.bodyLength, "a relay cell body is \(RelayCellHeader.bodyLength) bytes, got \(body.count)")
        guard body.loadUnaligned(fromByteOffset: RelayCellHeader.recognizedOffset, as: UInt16.self) == 0 else {
            return false
        }
        let received = body.loadUnaligned(fromByteOffset: RelayCellHeader.digestOffset, as: UInt32.self)
        body.storeBytes(of: 0, toByteOffset: RelayCellHeader.digestOffset, as: UInt32.self)
        // Checkpoint: hash into a copy of the state, so a mismatch costs no rollback at all.
        candidate.restore(from: digest)
        candidate.update(UnsafeRawBufferPointer(body))
        body.storeBytes(of: received, toByteOffset: RelayCellHeader.digestOffset, as: UInt32.self)
        candidateDigest.withUnsafeMutableBytes { candidate.peek(into: $0) }
        let computed = candidateDigest.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        // Branch-free over the value, like CTor's tor_memneq.
        guard (received ^ computed) == 0 else { return false }
        swap(&digest, &candidate)
        swap(&lastDigest, &candidateDigest)
        return true
    }
}
