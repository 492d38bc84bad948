import Testing
import TorCrypto
@testable import TorProtocol

/// No handshake parser may trap on any input: each returns a value or throws a
/// TorProtocolError. Fed every prefix of valid messages, mutations of them, and
/// pseudo-random bytes (some behind a correct NODEID | KEYID so the deeper code runs).
@Suite struct HandshakeFuzzTests {
    /// A relay and a client state for each handshake, fixed by seed.
    struct Fixture: Sendable {
        let rsaID: RSAFingerprint
        let edID: Ed25519PublicKey
        let onionKey: Curve25519SecretKey
        let ntorState: NtorHandshake.ClientState
        let ntorOnionskin: [UInt8]
        let ntorReply: [UInt8]
        let v3State: NtorV3Handshake.ClientState
        let v3Onionskin: [UInt8]
        let v3Reply: [UInt8]
        let fastState: CreateFastHandshake.ClientState
        let fastReply: [UInt8]

        init() {
            var rng = TestRandom(seed: 0xF022)
            rsaID = try! RSAFingerprint(bytes: rng.bytes(20))
            edID = Ed25519SecretKey.generate(using: &rng).publicKey
            onionKey = .generate(using: &rng)
            (ntorState, ntorOnionskin) = NtorHandshake.clientCreate(identity: rsaID, onionKey: onionKey.publicKey, using: &rng)
            ntorReply = try! NtorHandshake.serverHandshake(onionskin: ntorOnionskin, identity: rsaID, onionKeys: [onionKey], using: &rng).reply
            (v3State, v3Onionskin) = try! NtorV3Handshake.clientCreate(identity: edID, onionKey: onionKey.publicKey,
                                                                       message: [1, 1, 0], using: &rng)
            v3Reply = try! NtorV3Handshake.serverHandshake(onionskin: v3Onionskin, identity: edID, onionKeys: [onionKey],
                                                           using: &rng) { try NtorV3ServerNegotiation(congestionControlSendmeIncrement: 31).negotiate(clientMessage: $0).reply.encoded }.reply
            let fast = CreateFastHandshake.clientCreate(using: &rng)
            fastState = fast.state
            fastReply = try! CreateFastHandshake.serverHandshake(onionskin: fast.onionskin, using: &rng).reply
        }
    }

    static let f = Fixture()

    typealias Parser = (name: String, valid: [UInt8], parse: @Sendable ([UInt8]) throws -> Void)

    static let parsers: [Parser] = [
        ("ntor server", f.ntorOnionskin, { input in
            var rng = TestRandom(seed: 1)
            _ = try NtorHandshake.serverHandshake(onionskin: input, identity: f.rsaID, onionKeys: [f.onionKey], using: &rng)
        }),
        ("ntor client", f.ntorReply, { _ = try NtorHandshake.clientComplete(f.ntorState, reply: $0) }),
        ("ntor v3 server", f.v3Onionskin, { input in
            var rng = TestRandom(seed: 2)
            _ = try NtorV3Handshake.serverHandshake(onionskin: input, identity: f.edID, onionKeys: [f.onionKey], using: &rng) {
                try NtorV3ServerNegotiation(congestionControlSendmeIncrement: 31).negotiate(clientMessage: $0).reply.encoded
            }
        }),
        ("ntor v3 client", f.v3Reply, { input in
            let r = try NtorV3Handshake.clientComplete(f.v3State, reply: input)
            _ = try NtorV3ExtensionList(parsing: r.serverMessage).congestionControlSendmeIncrement()
        }),
        ("CREATE_FAST server", Array(f.fastReply.prefix(20)), { input in
            var rng = TestRandom(seed: 3)
            _ = try CreateFastHandshake.serverHandshake(onionskin: input, using: &rng)
        }),
        ("CREATED_FAST client", f.fastReply, { _ = try CreateFastHandshake.clientComplete(f.fastState, reply: $0) }),
        ("extension list", [3, 1, 0, 2, 1, 31, 3, 2, 2, 6], { input in
            let list = try NtorV3ExtensionList(parsing: input)
            #expect(try NtorV3ExtensionList(parsing: list.encoded) == list)
            _ = try? list.congestionControlSendmeIncrement()
            _ = try? list.subprotocolRequests()
        }),
        ("relay negotiation", [2, 1, 0, 3, 2, 2, 6], { input in
            let cgo = NtorV3SubprotocolRequest(protocolID: 2, version: 6)
            _ = try NtorV3ServerNegotiation(congestionControlSendmeIncrement: 31, supportedSubprotocols: [cgo])
                .negotiate(clientMessage: input)
        }),
    ]

    static func check(_ parser: Parser, _ input: [UInt8], _ what: @autoclosure () -> String) {
        do {
            try parser.parse(input)
        } catch is TorProtocolError {
        } catch {
            Issue.record("\(parser.name) threw \(error) on \(what())")
        }
    }

    @Test(arguments: parsers.indices)
    func validInputIsAccepted(index: Int) throws {
        let parser = Self.parsers[index]
        try parser.parse(parser.valid)
    }

    @Test(arguments: parsers.indices)
    func everyPrefix(index: Int) {
        let parser = Self.parsers[index]
        for n in 0...parser.valid.count {
            Self.check(parser, Array(parser.valid.prefix(n)), "prefix \(n)")
        }
    }

    @Test(arguments: parsers.indices)
    func mutations(index: Int) {
        let parser = Self.parsers[index]
        var rng = TestRandom(seed: 0xAB + UInt64(index))
        for round in 0..<300 {
            var input = parser.valid
            for _ in 0...(Int(rng.bytes(1)[0]) % 3) where !input.isEmpty {
                let r = rng.bytes(3)
                input[(Int(r[0]) << 8 | Int(r[1])) % input.count] = r[2]
            }
            if rng.bytes(1)[0] < 40 { input += rng.bytes(Int(rng.bytes(1)[0]) % 8) }
            Self.check(parser, input, "mutation \(round)")
        }
    }

    @Test(arguments: parsers.indices)
    func pseudoRandomBytes(index: Int) {
        let parser = Self.parsers[index]
        var rng = TestRandom(seed: 0x5EED + UInt64(index))
        // A correct NODEID | KEYID prefix, so random bytes reach the DH, MAC and message code.
        let prefix: [UInt8]
        switch parser.name {
        case "ntor server": prefix = Self.f.rsaID.bytes + Self.f.onionKey.publicKey.bytes
        case "ntor v3 server": prefix = Self.f.edID.bytes + Self.f.onionKey.publicKey.bytes
        default: prefix = []
        }
        for round in 0..<400 {
            let header = rng.bytes(2)
            let length = Int(header[0]) % 4 == 0 ? Int(header[1]) * 2 : Int(header[1]) % 140
            var input = rng.bytes(length)
            if header[0] & 1 == 1 { input = prefix + input }
            // Steer some bytes toward values parsers branch on (small counts and lengths).
            if header[0] & 2 == 2 {
                for i in input.indices where rng.bytes(1)[0] < 64 { input[i] = [0, 1, 2, 3, 0x1f, 0xff][Int(input[i]) % 6] }
            }
            Self.check(parser, input, "random input \(round) (\(input.count) bytes)")
        }
    }
}
