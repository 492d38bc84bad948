import Testing
import TorCrypto
@testable import TorProtocol

/// ntor (HTYPE 2): the arti/Tor vector, round trips, and rejections named by their cause.
@Suite struct HandshakeNtorTests {
    typealias V = HandshakeVectors.Ntor

    /// A relay with a fresh RSA-style identity digest and current + previous onion keys.
    struct Relay {
        let identity: RSAFingerprint
        let current: Curve25519SecretKey
        let previous: Curve25519SecretKey
        init(seed: UInt64) {
            var rng = TestRandom(seed: seed)
            identity = try! RSAFingerprint(bytes: rng.bytes(20))
            current = .generate(using: &rng)
            previous = .generate(using: &rng)
        }
        var keys: [Curve25519SecretKey] { [current, previous] }
    }

    @Test func publishedVector() throws {
        let identity = try RSAFingerprint(bytes: V.id)
        let b = try Curve25519SecretKey(bytes: V.b)
        #expect(b.publicKey.bytes == V.B)

        var clientRNG = FixedRandom(V.x)
        let (state, onionskin) = NtorHandshake.clientCreate(identity: identity, onionKey: b.publicKey, using: &clientRNG)
        #expect(onionskin.hexString == V.clientHandshake.hexString)

        var serverRNG = FixedRandom(V.y)
        let server = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: identity, onionKeys: [b], using: &serverRNG)
        #expect(serverRNG.isExhausted)
        #expect(server.reply.hexString == V.serverHandshake.hexString)
        #expect(try server.keyMaterial.bytes(72).hexString == V.keys.hexString)

        let client = try NtorHandshake.clientComplete(state, reply: server.reply)
        #expect(try client.bytes(72) == V.keys)
        #expect(client.keys == server.keys)

        // Df | Db | Kf | Kb | KH, in that order (tor-spec KDF-RFC5869).
        let k = server.keys
        #expect(k.forwardDigestSeed == Array(V.keys[0..<20]))
        #expect(k.backwardDigestSeed == Array(V.keys[20..<40]))
        #expect(k.forwardKey == Array(V.keys[40..<56]))
        #expect(k.backwardKey == Array(V.keys[56..<72]))
        #expect(k.tor1KeyMaterial == V.keys)
        #expect(k.nonce == Array(try server.keyMaterial.bytes(92)[72..<92]))
    }

    /// KEY_SEED = HMAC-SHA256(key t_key, secret_input) is HKDF's extract step, so the key
    /// material is HKDF-SHA256(secret_input, salt t_key, info m_expand) (tor-spec 5.2.2).
    @Test func keyExpansionIsHKDFOverSecretInput() throws {
        let b = try Curve25519SecretKey(bytes: V.b), x = try Curve25519SecretKey(bytes: V.x)
        let y = try Curve25519SecretKey(bytes: V.y)
        let secretInput = try x.sharedSecret(with: y.publicKey) + x.sharedSecret(with: b.publicKey)
            + V.id + V.B + V.X + V.Y + Array("ntor-curve25519-sha256-1".utf8)
        let keySeed = HMAC.sha256(key: Array("ntor-curve25519-sha256-1:key_extract".utf8), data: secretInput)
        // K_1 = H(m_expand | INT8(1), KEY_SEED)
        let k1 = HMAC.sha256(key: keySeed, data: Array("ntor-curve25519-sha256-1:key_expand".utf8) + [1])
        #expect(Array(V.keys[0..<32]) == k1)
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func roundTripWithRandomKeys(seed: UInt64) throws {
        let relay = Relay(seed: seed)
        var rng = TestRandom(seed: seed &* 1000)
        let (state, onionskin) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, using: &rng)
        #expect(onionskin.count == NtorHandshake.onionskinLength)
        let server = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: relay.keys, using: &rng)
        #expect(server.reply.count == NtorHandshake.replyLength)
        let client = try NtorHandshake.clientComplete(state, reply: server.reply)
        #expect(client.keys == server.keys)
        #expect(try client.bytes(500) == server.keyMaterial.bytes(500))
    }

    @Test func roundTripWithSystemRandom() throws {
        var rng = SystemRandom()
        let b = Curve25519SecretKey.generate(using: &rng)
        let id = try RSAFingerprint(bytes: rng.bytes(20))
        let (state, onionskin) = NtorHandshake.clientCreate(identity: id, onionKey: b.publicKey, using: &rng)
        let server = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: id, onionKeys: [b], using: &rng)
        #expect(try NtorHandshake.clientComplete(state, reply: server.reply).keys == server.keys)
    }

    @Test func previousOnionKeyIsAccepted() throws {
        let relay = Relay(seed: 10)
        var rng = TestRandom(seed: 11)
        let (state, onionskin) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: relay.previous.publicKey, using: &rng)
        let server = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: relay.keys, using: &rng)
        #expect(try NtorHandshake.clientComplete(state, reply: server.reply).keys == server.keys)
    }

    @Test func previousOnionKeyIsRefusedOnceDropped() {
        let relay = Relay(seed: 12)
        var rng = TestRandom(seed: 13)
        let (_, onionskin) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: relay.previous.publicKey, using: &rng)
        expectHandshakeError(.keyMismatch, "previous key no longer held") {
            _ = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: [relay.current], using: &rng)
        }
    }

    @Test func unknownOnionKeyIsRefused() {
        let relay = Relay(seed: 14)
        var rng = TestRandom(seed: 15)
        let stranger = Curve25519SecretKey.generate(using: &rng)
        let (_, onionskin) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: stranger.publicKey, using: &rng)
        expectHandshakeError(.keyMismatch, "KEYID of a key we never had") {
            _ = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: relay.keys, using: &rng)
        }
        expectHandshakeError(.keyMismatch, "relay holding no onion keys") {
            _ = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: [], using: &rng)
        }
    }

    @Test func wrongNodeIDIsRefused() throws {
        let relay = Relay(seed: 16)
        var rng = TestRandom(seed: 17)
        let other = try RSAFingerprint(bytes: rng.bytes(20))
        let (_, onionskin) = NtorHandshake.clientCreate(identity: other, onionKey: relay.current.publicKey, using: &rng)
        expectHandshakeError(.keyMismatch, "NODEID of another relay") {
            _ = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: relay.keys, using: &rng)
        }
    }

    /// Any changed bit of the reply (Y or AUTH) must fail AUTH at the client.
    @Test func tamperedReplyFailsAuth() throws {
        let relay = Relay(seed: 18)
        var rng = TestRandom(seed: 19)
        let (state, onionskin) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, using: &rng)
        let server = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: relay.keys, using: &rng)
        for i in 0..<server.reply.count {
            var reply = server.reply
            reply[i] ^= 0x04
            expectHandshakeError(.handshake, "reply byte \(i) flipped") {
                _ = try NtorHandshake.clientComplete(state, reply: reply)
            }
        }
    }

    /// A relay answering with another onion key (one it holds, but not the one the client
    /// named) cannot produce a valid AUTH; nor can a relay with another identity.
    @Test func replyFromOtherKeyOrIdentityFailsAuth() throws {
        let relay = Relay(seed: 20)
        var rng = TestRandom(seed: 21)
        let (state, onionskin) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, using: &rng)
        var forged = onionskin
        forged.replaceSubrange(20..<52, with: relay.previous.publicKey.bytes)
        let other = try NtorHandshake.serverHandshake(onionskin: forged, identity: relay.identity, onionKeys: relay.keys, using: &rng)
        expectHandshakeError(.handshake, "reply made with the previous key") {
            _ = try NtorHandshake.clientComplete(state, reply: other.reply)
        }
        let impostor = try RSAFingerprint(bytes: rng.bytes(20))
        forged = onionskin
        forged.replaceSubrange(0..<20, with: impostor.bytes)
        let third = try NtorHandshake.serverHandshake(onionskin: forged, identity: impostor, onionKeys: relay.keys, using: &rng)
        expectHandshakeError(.handshake, "reply made under another identity") {
            _ = try NtorHandshake.clientComplete(state, reply: third.reply)
        }
    }

    @Test(arguments: HandshakeVectors.smallOrderPoints.indices)
    func smallOrderClientKeyIsRefused(index: Int) {
        let relay = Relay(seed: 22)
        var rng = TestRandom(seed: 23)
        let onionskin = relay.identity.bytes + relay.current.publicKey.bytes + HandshakeVectors.smallOrderPoints[index]
        expectHandshakeError(.handshake, "X = small-order point \(index)") {
            _ = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: relay.keys, using: &rng)
        }
    }

    @Test(arguments: HandshakeVectors.smallOrderPoints.indices)
    func smallOrderRelayKeyIsRefused(index: Int) throws {
        let relay = Relay(seed: 24)
        var rng = TestRandom(seed: 25)
        let point = HandshakeVectors.smallOrderPoints[index]
        // Y small-order in the reply.
        let (state, _) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, using: &rng)
        expectHandshakeError(.handshake, "Y = small-order point \(index)") {
            _ = try NtorHandshake.clientComplete(state, reply: point + rng.bytes(32))
        }
        // B small-order in the relay's descriptor.
        let (badState, _) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: try Curve25519PublicKey(bytes: point), using: &rng)
        expectHandshakeError(.handshake, "B = small-order point \(index)") {
            _ = try NtorHandshake.clientComplete(badState, reply: relay.current.publicKey.bytes + rng.bytes(32))
        }
    }

    @Test func everyWrongOnionskinLengthIsRefused() throws {
        let relay = Relay(seed: 26)
        var rng = TestRandom(seed: 27)
        let (_, onionskin) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, using: &rng)
        for n in 0..<onionskin.count {
            expectHandshakeError(.truncated, "onionskin truncated to \(n)") {
                _ = try NtorHandshake.serverHandshake(onionskin: Array(onionskin.prefix(n)), identity: relay.identity, onionKeys: relay.keys, using: &rng)
            }
        }
        for extra in [1, 16, 421] {
            expectHandshakeError(.malformed, "onionskin with \(extra) bytes appended") {
                _ = try NtorHandshake.serverHandshake(onionskin: onionskin + rng.bytes(extra), identity: relay.identity, onionKeys: relay.keys, using: &rng)
            }
        }
    }

    @Test func everyWrongReplyLengthIsRefused() throws {
        let relay = Relay(seed: 28)
        var rng = TestRandom(seed: 29)
        let (state, onionskin) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, using: &rng)
        let reply = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: relay.keys, using: &rng).reply
        for n in 0..<reply.count {
            expectHandshakeError(.truncated, "reply truncated to \(n)") {
                _ = try NtorHandshake.clientComplete(state, reply: Array(reply.prefix(n)))
            }
        }
        expectHandshakeError(.malformed, "reply with a byte appended") {
            _ = try NtorHandshake.clientComplete(state, reply: reply + [0])
        }
    }

    @Test func keyMaterialLengthBounds() throws {
        let relay = Relay(seed: 30)
        var rng = TestRandom(seed: 31)
        let (_, onionskin) = NtorHandshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, using: &rng)
        let m = try NtorHandshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: relay.keys, using: &rng).keyMaterial
        #expect(try m.bytes(0) == [])
        #expect(try m.bytes(m.maximumLength).count == 255 * 32)
        // HKDF output is a prefix-stable stream.
        #expect(Array(try m.bytes(200).prefix(92)) == (try m.bytes(92)))
        expectHandshakeError(.unsupported, "one byte past HKDF's limit") { _ = try m.bytes(m.maximumLength + 1) }
        expectHandshakeError(.unsupported, "negative length") { _ = try m.bytes(-1) }
    }
}
