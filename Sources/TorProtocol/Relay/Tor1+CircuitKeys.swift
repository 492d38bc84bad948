extension Tor1RelayCrypto {
    /// The relay's tor1 layer from the keys a circuit handshake (ntor, ntor v3, CREATE_FAST) produced.
    public convenience init(keys: CircuitKeys) throws {
        try self.init(forwardKey: keys.forwardKey, backwardKey: keys.backwardKey,
                      forwardDigestSeed: keys.forwardDigestSeed, backwardDigestSeed: keys.backwardDigestSeed)
    }
}

extension Tor1ClientHop {
    /// The client's tor1 layer for a hop, from the keys its circuit handshake produced.
    public convenience init(keys: CircuitKeys) throws {
        try self.init(forwardKey: keys.forwardKey, backwardKey: keys.backwardKey,
                      forwardDigestSeed: keys.forwardDigestSeed, backwardDigestSeed: keys.backwardDigestSeed)
    }
}
