/// The client's tor1 crypto for one hop of a circuit it built: the counterpart of that
/// relay's `Tor1RelayCrypto`. A client holds one per hop and layers them: a forward cell for
/// hop k is sealed by hop k and then encrypted by hops k, k−1, …, 1 in that order; a backward
/// cell is decrypted by hops 1, 2, … until one recognizes it.
///
/// The relay never needs this; tests use it to drive real multi-hop circuits, and so can a
/// reachability self-test that builds circuits through us.
public final class Tor1ClientHop {
    private let forward: Tor1Layer
    private let backward: Tor1Layer

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

    /// Encrypts a forward 509-byte body in place with Kf. `originating`: this hop is the
    /// cell's destination, so RECOGNIZED and DIGEST are set from the running Df digest first;
    /// otherwise the cell is for a later hop and only gets this hop's layer.
    public func encryptForward(_ body: UnsafeMutableRawBufferPointer, originating: Bool) {
        if originating { forward.seal(body) }
        forward.crypt(body)
    }

    /// Decrypts a backward 509-byte body in place with Kb. True when this hop originated the
    /// cell (RECOGNIZED zero and DIGEST matching the running Db digest, which then advances);
    /// false leaves the digest untouched, and the caller tries the next hop.
    public func decryptBackward(_ body: UnsafeMutableRawBufferPointer) -> Bool {
        backward.crypt(body)
        return backward.recognize(body)
    }

    /// The full 20-byte running Df digest after the last forward cell originated for this
    /// hop: what this hop's SENDME v1 for that cell must carry.
    public var lastForwardDigest: [UInt8] { forward.lastDigest }

    /// The full 20-byte running Db digest after the last backward cell this hop recognized:
    /// the tag of the SENDME v1 the client sends for it.
    public var lastBackwardDigest: [UInt8] { backward.lastDigest }
}
