import Testing
import TorCrypto
@testable import TorProtocol

/// ntor v3 message extensions (checklist §4.4) and the relay's answer to them.
@Suite struct HandshakeNtorV3ExtensionsTests {
    static let unhex = HandshakeVectors.unhex

    /// (wire bytes, value). The first three are the messages CTor 0.4.9 sends (trunnel
    /// `extension` + `congestion_control`: N, then TYPE LEN BODY; CC request empty, CC
    /// response one SENDME_INC byte, 31 the consensus default); the rest are hand-made.
    static let roundTrips: [(String, [NtorV3Extension])] = [
        ("00", []),
        ("01 01 00", [.ccRequest]),
        ("01 02 01 1f", [.ccResponse(sendmeIncrement: 31)]),
        ("01 03 02 0206", [try! .subprotocolRequest([NtorV3SubprotocolRequest(protocolID: 2, version: 6)])]),
        ("02 01 00 03 04 02050206", [.ccRequest, try! .subprotocolRequest([.init(protocolID: 2, version: 6), .init(protocolID: 2, version: 5)])]),
        ("02 7f 03 616263 01 00", [try! NtorV3Extension(type: NtorV3ExtensionType(0x7f), body: Array("abc".utf8)), .ccRequest]),
    ]

    @Test(arguments: roundTrips.indices)
    func roundTrip(index: Int) throws {
        let (hex, fields) = Self.roundTrips[index]
        let bytes = Self.unhex(hex)
        let list = try NtorV3ExtensionList(fields)
        #expect(list.encoded == bytes)
        #expect(try NtorV3ExtensionList(parsing: bytes) == list)
    }

    @Test func emptyMessageReadsAsNoExtensions() throws {
        #expect(try NtorV3ExtensionList(parsing: []).extensions.isEmpty)
        #expect(try NtorV3ExtensionList().encoded == [0])
    }

    /// Negative vectors, named by why they fail.
    static let malformed: [(String, String)] = [
        ("count 1, no field", "01"),
        ("count 1, type without length", "01 01"),
        ("length 2 with 1 byte left", "01 02 02 1f"),
        ("count 2, one field", "02 01 00"),
        ("bytes after the last field", "00 00"),
        ("bytes after the last of 1 field", "01 01 00 ff"),
        ("length 255 with nothing left", "01 09 ff"),
    ]

    @Test(arguments: malformed.indices)
    func malformedIsRefused(index: Int) {
        let (why, hex) = Self.malformed[index]
        #expect(throws: TorProtocolError.self, "\(why)") { _ = try NtorV3ExtensionList(parsing: Self.unhex(hex)) }
    }

    @Test func typedAccessors() throws {
        let request = try NtorV3ExtensionList(parsing: Self.unhex("03 05 01 aa 01 00 03 02 0b02"))
        #expect(request.requestsCongestionControl)
        #expect(try request.subprotocolRequests() == [NtorV3SubprotocolRequest(protocolID: 11, version: 2)])
        #expect(try request.congestionControlSendmeIncrement() == nil)
        // Only the first occurrence of a type counts.
        let twice = try NtorV3ExtensionList(parsing: Self.unhex("02 02 01 1f 02 01 20"))
        #expect(try twice.congestionControlSendmeIncrement() == 31)
        #expect(throws: TorProtocolError.self, "CC response of 0 bytes") {
            _ = try NtorV3ExtensionList(parsing: Self.unhex("01 02 00")).congestionControlSendmeIncrement()
        }
        #expect(throws: TorProtocolError.self, "CC response of 2 bytes") {
            _ = try NtorV3ExtensionList(parsing: Self.unhex("01 02 02 1f00")).congestionControlSendmeIncrement()
        }
        #expect(throws: TorProtocolError.self, "odd SUBPROTO_REQUEST") {
            _ = try NtorV3ExtensionList(parsing: Self.unhex("01 03 03 020600")).subprotocolRequests()
        }
        #expect(throws: TorProtocolError.self) { _ = try NtorV3Extension(type: .ccRequest, body: [UInt8](repeating: 0, count: 256)) }
        #expect(throws: TorProtocolError.self) { _ = try NtorV3ExtensionList([NtorV3Extension](repeating: .ccRequest, count: 256)) }
    }

    // MARK: the relay's answer

    static let withCC = NtorV3ServerNegotiation(congestionControlSendmeIncrement: 31)
    static let withoutCC = NtorV3ServerNegotiation()

    @Test func ccAnsweredOnlyWhenAskedAndOffered() throws {
        let asked = Self.unhex("01 01 00")
        let a = try Self.withCC.negotiate(clientMessage: asked)
        #expect(a.reply.encoded == Self.unhex("01 02 01 1f"))
        #expect(a.congestionControlSendmeIncrement == 31)

        let b = try Self.withoutCC.negotiate(clientMessage: asked)
        #expect(b.reply.encoded == [0])
        #expect(b.congestionControlSendmeIncrement == nil)

        for notAsked in [[], [0], Self.unhex("01 7f 00"), Self.unhex("01 02 01 1f")] as [[UInt8]] {
            let c = try Self.withCC.negotiate(clientMessage: notAsked)
            #expect(c.reply.encoded == [0], "client message \(notAsked.hexString)")
            #expect(c.congestionControlSendmeIncrement == nil)
        }
    }

    @Test func unknownExtensionsAreIgnored() throws {
        let o = try Self.withCC.negotiate(clientMessage: Self.unhex("03 10 02 abcd 01 00 fe 00"))
        #expect(o.reply.encoded == Self.unhex("01 02 01 1f"))
    }

    @Test func subprotocolRequests() throws {
        let cgo = NtorV3SubprotocolRequest(protocolID: 2, version: 6)
        let message = Self.unhex("02 01 00 03 02 0206")
        expectHandshakeError(.unsupported, "CGO requested of a relay without it") {
            _ = try Self.withCC.negotiate(clientMessage: message)
        }
        let offering = NtorV3ServerNegotiation(congestionControlSendmeIncrement: 31, supportedSubprotocols: [cgo])
        let o = try offering.negotiate(clientMessage: message)
        #expect(o.subprotocols == [cgo])
        #expect(o.congestionControlSendmeIncrement == 31)
        expectHandshakeError(.malformed, "SUBPROTO_REQUEST of odd length") {
            _ = try offering.negotiate(clientMessage: Self.unhex("01 03 01 02"))
        }
    }

    @Test func malformedClientMessageRefusesTheCircuit() {
        expectHandshakeError(.truncated, "truncated extension list") { _ = try Self.withCC.negotiate(clientMessage: [1, 1]) }
    }

    /// The whole relay path: a client asking for CC over ntor v3 gets SENDME_INC back.
    @Test func negotiationThroughTheHandshake() throws {
        var rng = TestRandom(seed: 99)
        let identity = Ed25519SecretKey.generate(using: &rng).publicKey
        let onionKey = Curve25519SecretKey.generate(using: &rng)
        for (negotiation, expected) in [(Self.withCC, UInt8?(31)), (Self.withoutCC, nil)] {
            let request = try NtorV3ExtensionList([.ccRequest]).encoded
            let (state, onionskin) = try NtorV3Handshake.clientCreate(identity: identity, onionKey: onionKey.publicKey,
                                                                      message: request, using: &rng)
            var outcome: NtorV3ServerNegotiation.Outcome?
            let server = try NtorV3Handshake.serverHandshake(onionskin: onionskin, identity: identity, onionKeys: [onionKey],
                                                             using: &rng) { message in
                let o = try negotiation.negotiate(clientMessage: message)
                outcome = o
                return o.reply.encoded
            }
            #expect(outcome?.congestionControlSendmeIncrement == expected)
            let client = try NtorV3Handshake.clientComplete(state, reply: server.reply)
            #expect(!client.serverMessage.isEmpty)
            #expect(try NtorV3ExtensionList(parsing: client.serverMessage).congestionControlSendmeIncrement() == expected)
        }
    }
}
