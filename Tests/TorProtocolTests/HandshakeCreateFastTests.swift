import Testing
import TorCrypto
@testable import TorProtocol

/// CREATE_FAST / CREATED_FAST: arti's Tor-generated vectors, round trips, rejections.
@Suite struct HandshakeCreateFastTests {
    @Test(arguments: HandshakeVectors.Fast.all.indices)
    func publishedVector(index: Int) throws {
        let v = HandshakeVectors.Fast.all[index]
        var clientRNG = FixedRandom(v.x)
        let (state, onionskin) = CreateFastHandshake.clientCreate(using: &clientRNG)
        #expect(onionskin == v.x)

        var serverRNG = FixedRandom(Array(v.reply[0..<20]))
        let server = try CreateFastHandshake.serverHandshake(onionskin: onionskin, using: &serverRNG)
        #expect(serverRNG.isExhausted)
        #expect(server.reply.hexString == v.reply.hexString)
        #expect(try server.keyMaterial.bytes(100).hexString == v.keys.hexString)

        let client = try CreateFastHandshake.clientComplete(state, reply: server.reply)
        #expect(try client.bytes(100) == v.keys)
        #expect(client.keys == server.keys)

        // KDF-TOR(X | Y) = KH | Df | Db | Kf | Kb (tor-spec 5.2.1).
        let k = server.keys
        #expect(k.nonce == Array(v.reply[20..<40]))
        #expect(k.forwardDigestSeed == Array(v.keys[0..<20]))
        #expect(k.backwardDigestSeed == Array(v.keys[20..<40]))
        #expect(k.forwardKey == Array(v.keys[40..<56]))
        #expect(k.backwardKey == Array(v.keys[56..<72]))
        #expect(try KDFTor.derive(v.x + Array(v.reply[0..<20]), length: 120) == k.nonce + v.keys)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func roundTrip(seed: UInt64) throws {
        var rng = TestRandom(seed: seed)
        let (state, onionskin) = CreateFastHandshake.clientCreate(using: &rng)
        let server = try CreateFastHandshake.serverHandshake(onionskin: onionskin, using: &rng)
        #expect(server.reply.count == CreateFastHandshake.replyLength)
        let client = try CreateFastHandshake.clientComplete(state, reply: server.reply)
        #expect(client.keys == server.keys)
        #expect(try client.bytes(client.maximumLength) == server.keyMaterial.bytes(server.keyMaterial.maximumLength))
        expectHandshakeError(.unsupported, "past KDF-TOR's 256 blocks") { _ = try client.bytes(client.maximumLength + 1) }
    }

    @Test func tamperedReplyFailsKH() throws {
        var rng = TestRandom(seed: 4)
        let (state, onionskin) = CreateFastHandshake.clientCreate(using: &rng)
        let reply = try CreateFastHandshake.serverHandshake(onionskin: onionskin, using: &rng).reply
        for i in 0..<reply.count {
            var t = reply
            t[i] ^= 0x80
            expectHandshakeError(.handshake, "reply byte \(i) flipped") { _ = try CreateFastHandshake.clientComplete(state, reply: t) }
        }
    }

    @Test func everyWrongLengthIsRefused() throws {
        var rng = TestRandom(seed: 5)
        let (state, onionskin) = CreateFastHandshake.clientCreate(using: &rng)
        let reply = try CreateFastHandshake.serverHandshake(onionskin: onionskin, using: &rng).reply
        for n in 0..<20 {
            expectHandshakeError(.truncated, "CREATE_FAST of \(n) bytes") {
                _ = try CreateFastHandshake.serverHandshake(onionskin: Array(onionskin.prefix(n)), using: &rng)
            }
        }
        expectHandshakeError(.malformed, "CREATE_FAST of 21 bytes") {
            _ = try CreateFastHandshake.serverHandshake(onionskin: onionskin + [0], using: &rng)
        }
        for n in 0..<40 {
            expectHandshakeError(.truncated, "CREATED_FAST of \(n) bytes") {
                _ = try CreateFastHandshake.clientComplete(state, reply: Array(reply.prefix(n)))
            }
        }
        expectHandshakeError(.malformed, "CREATED_FAST of 41 bytes") { _ = try CreateFastHandshake.clientComplete(state, reply: reply + [0]) }
    }
}
