/// A relay's tor1 crypto for one circuit (tor-spec routing-relay-cells, CTor
/// `relay_crypto_tor1.c`, checklist §4.6): the layer it shares with the client.
///
/// Forward cells (toward the exit) arrive encrypted by the client with every hop's Kf; we
/// peel our layer and check whether the cell is for us. Backward cells (toward the client)
/// get our Kb layer added, and when we are their origin, our Db digest first.
///
/// The two directions touch disjoint state: `decryptForward` may run on one event loop and
/// `encryptBackward` on another, each confined to its own. Neither allocates per cell.
public final class Tor1RelayCrypto {
    private let forward: Tor1Layer
    private let backward: Tor1Layer

    /// `forwardKey` Kf and `backwardKey` Kb are the 16-byte AES-128 keys; `forwardDigestSeed`
    /// Df and `backwardDigestSeed` Db the 20-byte SHA-1 seeds, as a circuit handshake derives
    /// them (Df | Db | Kf | Kb).
    public init(forwardKey: [UInt8], backwardKey: [UInt8], forwardDigestSeed: [UInt8], backwardDigestSeed: [UInt8]) throws {
        forward = try Tor1Layer(key: forwardKey, digestSeed: forwardDigestSeed, "forward")
        backward = try Tor1Layer(key: backwardKey, digestSeed: backwardDigestSeed, "backward")
    }

    /// From 72 bytes of key material in handshake order, Df | Db | Kf | Kb.
    public convenience init(keyMaterial m: [UInt8]) throws {
        guard m.count == 72 else {
            throw TorProtocolError(.malformed, "tor1 key material must be 72 bytes (Df Db Kf Kb), got \(m.count)")
        }
        try self.init(forwardKey: Array(m[40..<56]), backwardKey: Array(m[56..<72]),
                      forwardDigestSeed: Array(m[0..<20]), backwardDigestSeed: Array(m[20..<40]))
    }

    /// Decrypts a forward 509-byte body in place with Kf. Returns true when the cell is for
    /// us: RECOGNIZED is zero and DIGEST matches our running Df digest, which then advances.
    /// Otherwise the digest state is untouched and the decrypted body goes on to the next
    /// hop as it is (no next hop: a protocol violation the caller closes the circuit for).
    public func decryptForward(_ body: UnsafeMutableRawBufferPointer) -> Bool {
        forward.crypt(body)
        return forward.recognize(body)
    }

    /// Encrypts a backward 509-byte body in place with Kb. `originating`: we wrote the relay
    /// message (we are its edge), so RECOGNIZED and DIGEST are set from our running Db digest
    /// first; otherwise the cell came from a later hop and only gets our layer.
    public func encryptBackward(_ body: UnsafeMutableRawBufferPointer, originating: Bool) {
        if originating { backward.seal(body) }
        backward.crypt(body)
    }

    /// The full 20-byte running Df digest after the last forward cell we recognized: the tag
    /// of a circuit SENDME v1 we send after receiving that DATA cell (checklist §4.9). Zero
    /// before the first. Read it right after the `decryptForward` it belongs to. (Holding on
    /// to the returned array makes the next recognized cell copy its buffer once.)
    public var lastForwardDigest: [UInt8] { forward.lastDigest }

    /// The full 20-byte running Db digest after the last backward cell we originated: what
    /// the client's SENDME v1 for that cell must carry. Zero before the first.
    public var lastBackwardDigest: [UInt8] { backward.lastDigest }
}
