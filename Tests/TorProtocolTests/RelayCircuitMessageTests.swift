import NIOCore
import Testing
import TorCrypto
@testable import TorProtocol

/// Circuit-level relay messages: SENDME, EXTEND2 (wire form and checked request), EXTENDED2,
/// TRUNCATE, TRUNCATED, DROP, and the dispatcher. Provenance as in RelayStreamMessageTests.
@Suite struct RelayCircuitMessageTests {
    typealias T = RelayTest

    // MARK: SENDME

    static let tag = T.unhex("F01234989823478bcdefabcdef01234567890123")

    @Test func sendmeVersions() throws {
        // arti hand.
        try T.roundTrip("", SendmeMessage.v0)
        try T.roundTrip("01 0014 F01234989823478bcdefabcdef01234567890123", SendmeMessage(tag: Self.tag))
    }

    @Test func sendmeV0WithDataIsV0() throws {
        try T.noncanonical("00 0003 aabbcc", "", SendmeMessage.v0)
        try T.noncanonical("00 0000", "", SendmeMessage.v0)
    }

    @Test func sendmeBytesAfterDataAreIgnored() throws {
        try T.noncanonical("01 0014 F01234989823478bcdefabcdef01234567890123 ffff",
                           "01 0014 F01234989823478bcdefabcdef01234567890123", SendmeMessage(tag: Self.tag))
    }

    @Test func sendmeOfUnknownVersionIsUnsupported() {
        T.rejects(SendmeMessage.self, "02 0014 F01234989823478bcdefabcdef01234567890123", .unsupported)
        T.rejects(SendmeMessage.self, "02", .unsupported)
    }

    @Test func sendmeV1WithShortTagIsMalformed() {
        T.rejects(SendmeMessage.self, "01 0013 F01234989823478bcdefabcdef012345678901", .malformed)
    }

    @Test func sendmeV1WithLongTagIsMalformed() {
        T.rejects(SendmeMessage.self, "01 0015 F01234989823478bcdefabcdef0123456789012345", .malformed)
    }

    @Test func sendmeCutShortIsTruncated() {
        T.rejects(SendmeMessage.self, "01", .truncated)
        T.rejects(SendmeMessage.self, "01 0014 F012", .truncated)
    }

    @Test func sendmeTagOfWrongLengthCannotBeMade() {
        T.expectError(.malformed) { try SendmeMessage(tag: [1, 2, 3]) }
        T.expectError(.malformed) { try SendmeMessage.v1(tag: [1, 2, 3]).encodedBody() }
    }

    // MARK: EXTEND2

    /// CTor: IPv4 127.0.0.1:5000, RSA identity, ntor onionskin (84 bytes).
    static let extend2FromCTor = """
        02
        00 06 7F0000011388
        02 14 03479E93EBF3FF2C58C1C9DBF2DE9DE9C2801B3E
        0002 0054
        03479E93EBF3FF2C58C1C9DBF2DE9DE9C2801B3E36A3E0BDB1F1A10579820243DD2E228B902940EB49EF842646E3926768C28410074BEE50A535116D657C6BFB7E5114119DC69F05DF907EF62002EA782B0A357F
        """
    static let rsa = T.unhex("03479E93EBF3FF2C58C1C9DBF2DE9DE9C2801B3E")
    static let onionskin = T.unhex("03479E93EBF3FF2C58C1C9DBF2DE9DE9C2801B3E36A3E0BDB1F1A10579820243DD2E228B902940EB49EF842646E3926768C28410074BEE50A535116D657C6BFB7E5114119DC69F05DF907EF62002EA782B0A357F")
    static let ed = [UInt8](repeating: 0x5e, count: 32)

    static func specs(_ s: LinkSpecifier...) -> [LinkSpecifier] { s }

    @Test func extend2FromCTorRoundTrips() throws {
        let message = Extend2Message(
            linkSpecifiers: [.ipv4(address: [127, 0, 0, 1], port: 5000), .rsaIdentity(try RSAFingerprint(bytes: Self.rsa))],
            handshakeType: 2, handshakeData: Self.onionskin)
        try T.roundTrip(Self.extend2FromCTor, message)

        let request = try Extend2Request(parsingBody: T.unhex(Self.extend2FromCTor))
        #expect(request.rsaIdentity.bytes == Self.rsa)
        #expect(request.ipv4 == ORPortAddress(address: .ipv4([127, 0, 0, 1]), port: 5000))
        #expect(request.ipv6 == nil && request.ed25519Identity == nil)
        #expect(request.preferredORPort.host == "127.0.0.1")
        #expect(request.handshakeType == 2 && request.handshakeData == Self.onionskin)
        let create2 = request.create2Cell(circuitID: 0x8000_0001)
        #expect(create2.command == .create2 && create2.body.readableBytes == 509)
        #expect(Array(create2.body.readableBytesView.prefix(88)) == T.unhex("0002 0054") + Self.onionskin)
    }

    @Test func extend2WithEveryKnownSpecifierRoundTrips() throws {
        let v6 = T.unhex("20010db8000000000000000000000001")
        let message = Extend2Message(linkSpecifiers: [
            .ipv6(address: v6, port: 9001), .ed25519Identity(Self.ed), .rsaIdentity(try RSAFingerprint(bytes: Self.rsa)),
            .unrecognized(type: 0x7f, value: [1, 2, 3]), .ipv4(address: [10, 0, 0, 1], port: 443),
        ], handshakeType: 3, handshakeData: [UInt8](repeating: 0x33, count: 200))
        let bytes = try message.encodedBody()
        #expect(try Extend2Message(parsingBody: bytes) == message)
        let request = try Extend2Request(message)
        #expect(request.ipv6 == ORPortAddress(address: .ipv6(v6), port: 9001))
        #expect(request.ipv4 == ORPortAddress(address: .ipv4([10, 0, 0, 1]), port: 443))
        #expect(request.ed25519Identity == Self.ed)
        #expect(request.preferredORPort.port == 443)
    }

    @Test func extend2BytesAfterHDATAAreIgnored() throws {
        let message = try Extend2Message(parsingBody: T.unhex(Self.extend2FromCTor + "00000000"))
        #expect(try message.encodedBody() == T.unhex(Self.extend2FromCTor))
    }

    @Test func extend2SpecifierOfWrongLengthIsMalformed() {
        T.rejects(Extend2Message.self, "01 00 05 7F00000113 0002 0000", .malformed)      // IPv4 in 5 bytes
        T.rejects(Extend2Message.self, "01 00 07 7F0000011388ff 0002 0000", .malformed)  // IPv4 in 7 bytes
        T.rejects(Extend2Message.self, "01 01 06 7F0000011388 0002 0000", .malformed)    // IPv6 in 6 bytes
        T.rejects(Extend2Message.self, "01 02 13 " + String(repeating: "11", count: 19) + " 0002 0000", .malformed)
        T.rejects(Extend2Message.self, "01 03 14 " + String(repeating: "11", count: 20) + " 0002 0000", .malformed)
    }

    @Test func extend2CutShortIsTruncated() {
        T.rejects(Extend2Message.self, "", .truncated)
        T.rejects(Extend2Message.self, "02 00 06 7F0000011388", .truncated)       // NSPEC says 2, one present
        T.rejects(Extend2Message.self, "01 00 06 7F0000011388 0002", .truncated)  // no HLEN
        T.rejects(Extend2Message.self, "01 00 06 7F0000011388 0002 0054 0102", .truncated)
        T.rejects(Extend2Message.self, "01 00 06 7F00", .truncated)
    }

    /// The checked request: each of CTor's rules, by name.
    func request(_ specifiers: [LinkSpecifier], htype: UInt16 = 2, hdata: [UInt8] = onionskin) throws -> Extend2Request {
        try Extend2Request(Extend2Message(linkSpecifiers: specifiers, handshakeType: htype, handshakeData: hdata))
    }

    var rsaSpec: LinkSpecifier { .rsaIdentity(try! RSAFingerprint(bytes: Self.rsa)) }
    var ipv4Spec: LinkSpecifier { .ipv4(address: [192, 0, 2, 1], port: 9001) }

    @Test func extend2WithoutRSAIdentityParsesButIsRefused() throws {
        let message = Extend2Message(linkSpecifiers: [ipv4Spec, .ed25519Identity(Self.ed)], handshakeType: 2, handshakeData: Self.onionskin)
        #expect(try Extend2Message(parsingBody: message.encodedBody()) == message)
        T.expectError(.malformed) { try Extend2Request(message) }
    }

    @Test func extend2WithTwoRSAIdentitiesIsRefused() {
        T.expectError(.malformed) { try request([ipv4Spec, rsaSpec, rsaSpec]) }
    }

    @Test func extend2WithTwoEd25519IdentitiesIsRefused() {
        T.expectError(.malformed) { try request([ipv4Spec, rsaSpec, .ed25519Identity(Self.ed), .ed25519Identity(Self.ed)]) }
    }

    @Test func extend2WithZeroRSAIdentityIsRefused() {
        T.expectError(.malformed) { try request([ipv4Spec, .rsaIdentity(try RSAFingerprint(bytes: [UInt8](repeating: 0, count: 20)))]) }
    }

    @Test func extend2WithoutAddressIsRefused() {
        T.expectError(.malformed) { try request([rsaSpec]) }
        T.expectError(.malformed) { try request([rsaSpec, .unrecognized(type: 9, value: [])]) }
    }

    @Test func extend2WithOnlyUnusableAddressesIsRefused() {
        T.expectError(.malformed) { try request([rsaSpec, .ipv4(address: [0, 0, 0, 0], port: 9001)]) }
        T.expectError(.malformed) { try request([rsaSpec, .ipv4(address: [192, 0, 2, 1], port: 0)]) }
        T.expectError(.malformed) { try request([rsaSpec, .ipv6(address: [UInt8](repeating: 0, count: 16), port: 443)]) }
    }

    @Test func extend2FirstAddressOfAFamilyWins() throws {
        // As CTor: the first IPv4 is taken even when unusable; a later good one does not help.
        T.expectError(.malformed) { try request([rsaSpec, .ipv4(address: [0, 0, 0, 0], port: 1), ipv4Spec]) }
        let r = try request([rsaSpec, ipv4Spec, .ipv4(address: [198, 51, 100, 1], port: 1)])
        #expect(r.ipv4 == ORPortAddress(address: .ipv4([192, 0, 2, 1]), port: 9001))
        // An unusable IPv4 with a usable IPv6 extends over IPv6.
        let v6 = T.unhex("20010db8000000000000000000000001")
        let r6 = try request([rsaSpec, .ipv4(address: [0, 0, 0, 0], port: 1), .ipv6(address: v6, port: 443)])
        #expect(r6.ipv4 == nil && r6.preferredORPort == ORPortAddress(address: .ipv6(v6), port: 443))
    }

    @Test func extend2AllZeroEd25519IdentityCountsAsNone() throws {
        let r = try request([rsaSpec, ipv4Spec, .ed25519Identity([UInt8](repeating: 0, count: 32))])
        #expect(r.ed25519Identity == nil)
    }

    @Test func extend2ForTAPIsRefused() {
        T.expectError(.unsupported) { try request([rsaSpec, ipv4Spec], htype: 0, hdata: [UInt8](repeating: 1, count: 186)) }
    }

    @Test func extend2ForCreateFastIsRefused() {
        T.expectError(.malformed) { try request([rsaSpec, ipv4Spec], htype: 1, hdata: [UInt8](repeating: 1, count: 20)) }
    }

    @Test func extend2NtorWithWrongOnionskinLengthIsRefused() {
        T.expectError(.malformed) { try request([rsaSpec, ipv4Spec], htype: 2, hdata: Array(Self.onionskin.dropLast())) }
    }

    @Test func extend2UnknownHandshakeTypePassesForTheNextHop() throws {
        let r = try request([rsaSpec, ipv4Spec], htype: 0x0999, hdata: [1, 2, 3])
        #expect(r.handshakeType == 0x0999)
    }

    @Test func linkSpecifierThatCannotBeEncodedIsRefused() {
        T.expectError(.malformed) { try Extend2Message(linkSpecifiers: [.unrecognized(type: 2, value: [])], handshakeType: 2, handshakeData: []).encodedBody() }
        T.expectError(.malformed) { try Extend2Message(linkSpecifiers: [.ipv4(address: [1], port: 1)], handshakeType: 2, handshakeData: []).encodedBody() }
    }

    // MARK: EXTENDED2

    /// CTor: an ntor reply (64 bytes).
    static let extended2FromCTor = "0040 0026619058EB2661834D54C2624828728F28915587CDAD1AD3373B85F33A480EEA9D3B2CEF8D39C1DBD2FA519E75296B96960690C79A28D6A0D9454F8E9634BD"

    @Test func extended2FromCTorRoundTrips() throws {
        let hdata = Array(T.unhex(Self.extended2FromCTor).dropFirst(2))
        try T.roundTrip(Self.extended2FromCTor, Extended2Message(handshakeData: hdata))
        // The same reply as it came in the next hop's CREATED2 (padded to 509).
        let created2 = T.unhex(Self.extended2FromCTor) + [UInt8](repeating: 0, count: 509 - 66)
        #expect(try Extended2Message(created2Body: ByteBuffer(bytes: created2)) == Extended2Message(handshakeData: hdata))
    }

    @Test func extended2WithHLENPastTheBodyIsTruncated() {
        T.rejects(Extended2Message.self, "0040 0026", .truncated)
        T.rejects(Extended2Message.self, "00", .truncated)
    }

    @Test func extended2WithHLENOver496IsMalformed() {
        T.rejects(Extended2Message.self, "01F1" + String(repeating: "00", count: 497), .malformed)
        T.expectError(.malformed) { try Extended2Message(handshakeData: [UInt8](repeating: 0, count: 497)) }
    }

    @Test func created2TooLargeForExtended2IsRefused() {
        // CTor 0.4.9.6 bounds CREATED2 HLEN; 505 fits a CREATED2 but not an EXTENDED2.
        let created2 = [0x01, 0xF9] + [UInt8](repeating: 0, count: 507)
        T.expectError(.malformed) { try Extended2Message(created2Body: ByteBuffer(bytes: created2)) }
    }

    // MARK: TRUNCATE, TRUNCATED, DROP

    @Test func truncateAndTruncated() throws {
        try T.roundTrip("03", TruncateMessage(reason: .requested))
        try T.roundTrip("08", TruncatedMessage(reason: .channelClosed))  // arti: Truncated::new(8)
        try T.noncanonical("0aff", "0a", TruncatedMessage(reason: .timeout))
    }

    @Test func reasonlessTruncateAndTruncatedAreNone() throws {
        // arti sends TRUNCATE empty; CTor 0.4.9.7 no longer reads past it.
        try T.noncanonical("", "00", TruncateMessage())
        try T.noncanonical("", "00", TruncatedMessage(reason: .none))
    }

    @Test func dropIgnoresItsBody() throws {
        try T.roundTrip("", DropMessage())
        try T.noncanonical("0102030405", "", DropMessage())
    }

    // MARK: dispatch

    @Test func unparsedCommandsKeepTheirBytes() throws {
        for command in [RelayCommand(249), .extend, .extended, .confluxLink, .xon, .paddingNegotiate] {
            // arti hand: "arbitrary bytes" as command 249.
            let body = ByteBuffer(bytes: Array("arbitrary bytes".utf8))
            let message = try RelayMessage(command: command, body: body)
            #expect(message == .unparsed(command, body))
            #expect(message.command == command)
            var out = ByteBuffer()
            try message.encodeBody(into: &out)
            #expect(out == body)
        }
    }

    @Test func commandValuesAndNames() {
        let table: [(RelayCommand, UInt8, String)] = [
            (.begin, 1, "BEGIN"), (.data, 2, "DATA"), (.end, 3, "END"), (.connected, 4, "CONNECTED"),
            (.sendme, 5, "SENDME"), (.extend, 6, "EXTEND"), (.extended, 7, "EXTENDED"), (.truncate, 8, "TRUNCATE"),
            (.truncated, 9, "TRUNCATED"), (.drop, 10, "DROP"), (.resolve, 11, "RESOLVE"), (.resolved, 12, "RESOLVED"),
            (.beginDir, 13, "BEGIN_DIR"), (.extend2, 14, "EXTEND2"), (.extended2, 15, "EXTENDED2"),
            (.confluxLink, 19, "CONFLUX_LINK"), (.confluxSwitch, 22, "CONFLUX_SWITCH"), (.establishIntro, 32, "ESTABLISH_INTRO"),
            (.introduceAck, 40, "INTRODUCE_ACK"), (.paddingNegotiate, 41, "PADDING_NEGOTIATE"),
            (.paddingNegotiated, 42, "PADDING_NEGOTIATED"), (.xoff, 43, "XOFF"), (.xon, 44, "XON"),
        ]
        for (command, value, name) in table {
            #expect(command.rawValue == value && command.description == name)
        }
        #expect(RelayCommand(200).description == "relay command 200")
        #expect(RelayCommand.data.streamUse == .stream && RelayCommand.extend2.streamUse == .control)
        #expect(RelayCommand.sendme.streamUse == .either && RelayCommand(200).streamUse == .either)
    }

    @Test func reasonValuesAndNames() {
        #expect(EndReason.misc.rawValue == 1 && EndReason.notDirectory.rawValue == 14 && EndReason.entryPolicy.rawValue == 15)
        #expect(EndReason.torProtocol.description == "TORPROTOCOL" && EndReason(99).description == "end reason 99")
        #expect(DestroyReason.none.rawValue == 0 && DestroyReason.destroyed.rawValue == 11 && DestroyReason.noSuchService.rawValue == 12)
        #expect(DestroyReason.protocolViolation.description == "PROTOCOL" && DestroyReason(77).description == "destroy reason 77")
    }
}
