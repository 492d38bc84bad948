import Testing
import TorCrypto
@testable import TorProtocol

/// ntor v3 (HTYPE 3): the proposal 332 / CTor vector, round trips, and rejections.
@Suite struct HandshakeNtorV3Tests {
    typealias V = HandshakeVectors.NtorV3

    struct Relay {
        let identity: Ed25519PublicKey
        let current: Curve25519SecretKey
        let previous: Curve25519SecretKey
        init(seed: UInt64) {
            var rng = TestRandom(seed: seed)
            identity = Ed25519SecretKey.generate(using: &rng).publicKey
            current = .generate(using: &rng)
            previous = .generate(using: &rng)
        }
        var keys: [Curve25519SecretKey] { [current, previous] }

        func serve(_ onionskin: [UInt8], verification: [UInt8] = NtorV3Handshake.circuitExtendVerification,
                   rng: inout TestRandom, reply: [UInt8] = [0]) throws -> CircuitHandshakeReply {
            try NtorV3Handshake.serverHandshake(onionskin: onionskin, identity: identity, onionKeys: keys,
                                                verification: verification, using: &rng) { _ in reply }
        }
    }

    @Test func publishedVector() throws {
        let identity = try Ed25519PublicKey(bytes: V.id)
        let b = try Curve25519SecretKey(bytes: V.b)
        #expect(b.publicKey.bytes == V.B)

        var clientRNG = FixedRandom(V.x)
        let (state, onionskin) = try NtorV3Handshake.clientCreate(
            identity: identity, onionKey: b.publicKey, message: V.clientMessage,
            verification: V.verification, using: &clientRNG)
        #expect(onionskin.hexString == V.clientHandshake.hexString)

        var serverRNG = FixedRandom(V.y)
        var received: [UInt8]?
        let server = try NtorV3Handshake.serverHandshake(
            onionskin: onionskin, identity: identity, onionKeys: [b], verification: V.verification,
            using: &serverRNG) { message in
                received = message
                return V.serverMessage
            }
        #expect(serverRNG.isExhausted)
        #expect(received == V.clientMessage)
        #expect(server.reply.hexString == V.serverHandshake.hexString)
        #expect(try server.keyMaterial.bytes(256).hexString == V.keystream.hexString)

        let client = try NtorV3Handshake.clientComplete(state, reply: server.reply)
        #expect(client.serverMessage == V.serverMessage)
        #expect(try client.keyMaterial.bytes(256) == V.keystream)

        // tor1 keys are the first 92 bytes of KEYSTREAM: Df | Db | Kf | Kb | KH (prop 332 §A.2).
        #expect(client.keys == server.keys)
        #expect(server.keys.tor1KeyMaterial == Array(V.keystream[0..<72]))
        #expect(server.keys.forwardDigestSeed == Array(V.keystream[0..<20]))
        #expect(server.keys.backwardKey == Array(V.keystream[56..<72]))
        #expect(server.keys.nonce == Array(V.keystream[72..<92]))
    }

    @Test func publishedIntermediateValues() throws {
        let b = try Curve25519SecretKey(bytes: V.b), x = try Curve25519SecretKey(bytes: V.x)
        let y = try Curve25519SecretKey(bytes: V.y)
        #expect(x.publicKey.bytes == V.X)
        #expect(y.publicKey.bytes == V.Y)
        let bx = try x.sharedSecret(with: b.publicKey)
        let (encK1, macK1) = NtorV3Handshake.phase1Keys(bx: bx, id: V.id, x: V.X, b: V.B, verification: V.verification)
        #expect(encK1 == V.encK1)
        #expect(macK1 == V.macK1)
        #expect(Array(V.clientHandshake.suffix(32)) == V.msgMAC)
        let xy = try y.sharedSecret(with: x.publicKey)
        let (keySeed, verify) = NtorV3Handshake.phase2(xy: xy, xb: bx, id: V.id, b: V.B, x: V.X, y: V.Y, verification: V.verification)
        #expect(keySeed == V.keySeed)
        #expect(verify == V.verify)
        #expect(NtorV3Handshake.kdf(keySeed, tweak: NtorV3Handshake.tFinal, length: 32) == V.encKey)
        #expect(Array(V.serverHandshake[32..<64]) == V.auth)
    }

    @Test func encapIsA64BitBigEndianLength() {
        #expect(NtorV3Handshake.encap([]) == [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(NtorV3Handshake.encap(Array("xyzzy".utf8)) == [0, 0, 0, 0, 0, 0, 0, 5] + Array("xyzzy".utf8))
        #expect(NtorV3Handshake.encap([UInt8](repeating: 1, count: 300)).prefix(8) == [0, 0, 0, 0, 0, 0, 1, 0x2c])
        #expect(NtorV3Handshake.circuitExtendVerification == Array("circuit extend".utf8))
        #expect(NtorV3Handshake.circuitExtendVerification.count == 14)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func roundTripWithRandomKeys(seed: UInt64) throws {
        let relay = Relay(seed: seed)
        var rng = TestRandom(seed: seed &* 77)
        let message = rng.bytes(Int(seed) * 40)
        let answer = rng.bytes(Int(seed) * 13)
        let (state, onionskin) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey,
                                                                  message: message, using: &rng)
        #expect(onionskin.count == NtorV3Handshake.minimumOnionskinLength + message.count)
        var received: [UInt8]?
        let server = try NtorV3Handshake.serverHandshake(onionskin: onionskin, identity: relay.identity,
                                                         onionKeys: relay.keys, using: &rng) { m in
            received = m
            return answer
        }
        #expect(received == message)
        #expect(server.reply.count == NtorV3Handshake.minimumReplyLength + answer.count)
        let client = try NtorV3Handshake.clientComplete(state, reply: server.reply)
        #expect(client.serverMessage == answer)
        #expect(client.keys == server.keys)
        #expect(try client.keyMaterial.bytes(1000) == server.keyMaterial.bytes(1000))
    }

    @Test func emptyMessagesBothWays() throws {
        let relay = Relay(seed: 5)
        var rng = TestRandom(seed: 6)
        let (state, onionskin) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey,
                                                                  message: [], using: &rng)
        #expect(onionskin.count == 128)
        let server = try relay.serve(onionskin, rng: &rng, reply: [])
        #expect(server.reply.count == 64)
        let client = try NtorV3Handshake.clientComplete(state, reply: server.reply)
        #expect(client.serverMessage.isEmpty)
        #expect(client.keys == server.keys)
    }

    @Test func previousOnionKeyIsAccepted() throws {
        let relay = Relay(seed: 7)
        var rng = TestRandom(seed: 8)
        let (state, onionskin) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.previous.publicKey,
                                                                  message: [0], using: &rng)
        let server = try relay.serve(onionskin, rng: &rng)
        #expect(try NtorV3Handshake.clientComplete(state, reply: server.reply).keys == server.keys)
        expectHandshakeError(.keyMismatch, "previous key no longer held") {
            _ = try NtorV3Handshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: [relay.current],
                                                    using: &rng) { _ in [0] }
        }
    }

    @Test func unknownOnionKeyIsRefused() throws {
        let relay = Relay(seed: 9)
        var rng = TestRandom(seed: 10)
        let stranger = Curve25519SecretKey.generate(using: &rng)
        let (_, onionskin) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: stranger.publicKey,
                                                              message: [0], using: &rng)
        expectHandshakeError(.keyMismatch, "KEYID of a key we never had") { _ = try relay.serve(onionskin, rng: &rng) }
    }

    @Test func wrongNodeIDIsRefused() throws {
        let relay = Relay(seed: 11)
        var rng = TestRandom(seed: 12)
        let other = Ed25519SecretKey.generate(using: &rng).publicKey
        let (_, onionskin) = try NtorV3Handshake.clientCreate(identity: other, onionKey: relay.current.publicKey,
                                                              message: [0], using: &rng)
        expectHandshakeError(.keyMismatch, "NODEID of another relay") { _ = try relay.serve(onionskin, rng: &rng) }
    }

    @Test func wrongVerificationStringFailsTheMAC() throws {
        let relay = Relay(seed: 13)
        var rng = TestRandom(seed: 14)
        for ver in [[UInt8](), V.verification, Array("circuit extend\0".utf8)] {
            let (_, onionskin) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey,
                                                                  message: [0], verification: ver, using: &rng)
            expectHandshakeError(.handshake, "client VER \(ver.hexString)") { _ = try relay.serve(onionskin, rng: &rng) }
        }
    }

    /// Any changed bit after KEYID (X, the encrypted message, the MAC) fails the relay's MAC
    /// check (or, for X, may instead give an all-zero DH); before it, NODEID or KEYID.
    @Test func tamperedOnionskinIsRefused() throws {
        let relay = Relay(seed: 15)
        var rng = TestRandom(seed: 16)
        let (_, onionskin) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey,
                                                              message: Array("hello".utf8), using: &rng)
        for i in 0..<onionskin.count {
            var t = onionskin
            t[i] ^= 0x10
            expectHandshakeError(i < 64 ? .keyMismatch : .handshake, "onionskin byte \(i) flipped") {
                _ = try relay.serve(t, rng: &rng)
            }
        }
    }

    /// Any changed bit of the reply (Y, AUTH, the encrypted message) fails AUTH.
    @Test func tamperedReplyFailsAuth() throws {
        let relay = Relay(seed: 17)
        var rng = TestRandom(seed: 18)
        let (state, onionskin) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey,
                                                                  message: [0], using: &rng)
        let server = try relay.serve(onionskin, rng: &rng, reply: [1, 2, 1, 31])
        for i in 0..<server.reply.count {
            var reply = server.reply
            reply[i] ^= 0x01
            expectHandshakeError(.handshake, "reply byte \(i) flipped") { _ = try NtorV3Handshake.clientComplete(state, reply: reply) }
        }
        expectHandshakeError(.handshake, "reply with a byte appended") {
            _ = try NtorV3Handshake.clientComplete(state, reply: server.reply + [0])
        }
        expectHandshakeError(.handshake, "reply with its message cut") {
            _ = try NtorV3Handshake.clientComplete(state, reply: Array(server.reply.dropLast()))
        }
    }

    @Test func replyToAnotherClientHandshakeFailsAuth() throws {
        let relay = Relay(seed: 19)
        var rng = TestRandom(seed: 20)
        let (state, _) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, message: [0], using: &rng)
        let (_, other) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, message: [0], using: &rng)
        let server = try relay.serve(other, rng: &rng)
        expectHandshakeError(.handshake, "reply meant for another client") { _ = try NtorV3Handshake.clientComplete(state, reply: server.reply) }
    }

    @Test(arguments: HandshakeVectors.smallOrderPoints.indices)
    func smallOrderPointsAreRefused(index: Int) throws {
        let relay = Relay(seed: 21)
        var rng = TestRandom(seed: 22)
        let point = HandshakeVectors.smallOrderPoints[index]
        let onionskin = relay.identity.bytes + relay.current.publicKey.bytes + point + rng.bytes(40)
        expectHandshakeError(.handshake, "X = small-order point \(index)") { _ = try relay.serve(onionskin, rng: &rng) }

        expectHandshakeError(.handshake, "B = small-order point \(index)") {
            _ = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: try Curve25519PublicKey(bytes: point),
                                                 message: [0], using: &rng)
        }
        let (state, _) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, message: [0], using: &rng)
        expectHandshakeError(.handshake, "Y = small-order point \(index)") {
            _ = try NtorV3Handshake.clientComplete(state, reply: point + rng.bytes(33))
        }
    }

    @Test func everyShortOnionskinAndReplyIsRefused() throws {
        let relay = Relay(seed: 23)
        var rng = TestRandom(seed: 24)
        let (state, onionskin) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey,
                                                                  message: [], using: &rng)
        for n in 0..<onionskin.count {
            expectHandshakeError(.truncated, "onionskin truncated to \(n)") { _ = try relay.serve(Array(onionskin.prefix(n)), rng: &rng) }
        }
        let reply = try relay.serve(onionskin, rng: &rng, reply: []).reply
        for n in 0..<reply.count {
            expectHandshakeError(.truncated, "reply truncated to \(n)") {
                _ = try NtorV3Handshake.clientComplete(state, reply: Array(reply.prefix(n)))
            }
        }
    }

    struct Refused: Error {}

    @Test func replyClosureRefusalFailsTheHandshake() throws {
        let relay = Relay(seed: 25)
        var rng = TestRandom(seed: 26)
        let (_, onionskin) = try NtorV3Handshake.clientCreate(identity: relay.identity, onionKey: relay.current.publicKey, message: [0], using: &rng)
        #expect(throws: Refused.self) {
            _ = try NtorV3Handshake.serverHandshake(onionskin: onionskin, identity: relay.identity, onionKeys: relay.keys,
                                                    using: &rng) { _ in throw Refused() }
        }
        // The closure is not consulted for a handshake that fails its MAC.
        var tampered = onionskin
        tampered[tampered.count - 1] ^= 1
        var consulted = false
        expectHandshakeError(.handshake, "bad MAC") {
            _ = try NtorV3Handshake.serverHandshake(onionskin: tampered, identity: relay.identity, onionKeys: relay.keys,
                                                    using: &rng) { _ in consulted = true; return [0] }
        }
        #expect(!consulted)
    }
}
