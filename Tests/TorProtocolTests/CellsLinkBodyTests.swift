import NIOCore
import Testing
import TorCrypto
@testable import TorProtocol

/// Link-cell bodies: decode(bytes) == value, encode(value) == bytes, and negative vectors
/// named by why they fail.
@Suite struct CellsLinkBodyTests {
    func expectError<T>(_ code: TorProtocolError.Code, _ body: () throws -> T,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let value = try body()
            Issue.record("expected a \(code) error, got \(value)", sourceLocation: sourceLocation)
        } catch let e as TorProtocolError {
            #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    func body<B: LinkCellBody>(_ value: B) throws -> [UInt8] {
        Array(try value.encodedBody().readableBytesView)
    }

    // MARK: VERSIONS

    @Test func versionsRoundTrip() throws {
        let bytes: [UInt8] = [0, 3, 0, 4, 0, 5]
        let v = try VersionsCell(parsingBody: bytes)
        #expect(v == VersionsCell(versions: [3, 4, 5]))
        #expect(try body(v) == bytes)
    }

    @Test func versionsWithOddLengthIsMalformed() {
        expectError(.malformed) { try VersionsCell(parsingBody: [0, 3, 0, 4, 0]) }
    }

    @Test func versionsWithNoVersionsIsMalformed() {
        expectError(.malformed) { try VersionsCell(parsingBody: []) }
        expectError(.malformed) { try VersionsCell(versions: []).encodedBody() }
    }

    // MARK: NETINFO

    @Test func ctorNetinfoVectorsRoundTrip() throws {
        let localhost = NetinfoAddress.ipv4([127, 0, 0, 1])
        let localhost6 = NetinfoAddress.ipv6([UInt8](repeating: 0, count: 15) + [1])
        let cases: [([UInt8], NetinfoCell)] = [
            (CellVectors.netinfoClient, NetinfoCell(timestamp: 0, otherAddress: localhost, myAddresses: [])),
            (CellVectors.netinfoRelay, NetinfoCell(timestamp: 0x5F6F_80E1, otherAddress: localhost, myAddresses: [localhost])),
            (CellVectors.netinfoRelayIPv6, NetinfoCell(timestamp: 0x5F6F_859C, otherAddress: localhost6,
                                                       myAddresses: [localhost, localhost6])),
        ]
        for (unpadded, expected) in cases {
            let padded = CellVectors.padded(unpadded)
            #expect(try NetinfoCell(parsingBody: padded) == expected)
            #expect(try NetinfoCell(parsingBody: unpadded) == expected)
            #expect(try body(expected) == padded)
            let cell = try expected.cell()
            #expect(cell.command == .netinfo && cell.circuitID == 0 && cell.body.readableBytes == 509)
        }
        #expect(localhost.description == "127.0.0.1")
        #expect(localhost6.description == "0:0:0:0:0:0:0:1")
    }

    @Test func netinfoTruncatedInOtherAddress() {
        expectError(.truncated) { try NetinfoCell(parsingBody: CellVectors.unhex("00000000 04 04 7F00")) }
        expectError(.truncated) { try NetinfoCell(parsingBody: [0, 0, 0]) }
    }

    @Test func netinfoTruncatedBeforeMyAddressCount() {
        expectError(.truncated) { try NetinfoCell(parsingBody: CellVectors.unhex("00000000 04 04 7F000001")) }
    }

    @Test func netinfoTruncatedInMyAddresses() {
        // NMYADDR says 2, one is there (no padding, so the second runs off the end).
        expectError(.truncated) { try NetinfoCell(parsingBody: CellVectors.unhex("00000000 04 04 7F000001 02 04 04 7F000001")) }
    }

    @Test func netinfoOtherAddressIPv4WithLength5IsMalformed() {
        expectError(.malformed) {
            try NetinfoCell(parsingBody: CellVectors.padded(CellVectors.unhex("00000000 04 05 7F00000100 00")))
        }
    }

    @Test func netinfoOtherAddressIPv4WithLength3IsMalformed() {
        expectError(.malformed) {
            try NetinfoCell(parsingBody: CellVectors.padded(CellVectors.unhex("00000000 04 03 7F0000 00")))
        }
    }

    @Test func netinfoBadLengthsThatArtiToleratesAreRefusedAsCTorDoes() {
        // OTHERADDR is IPv6 with ALEN 9.
        expectError(.malformed) { try NetinfoCell(parsingBody: CellVectors.padded(CellVectors.netinfoBadLengthsArtiTolerates)) }
        // With a good OTHERADDR, MYADDRS' IPv4 with ALEN 6 still fails the whole cell (trunnel).
        expectError(.malformed) {
            try NetinfoCell(parsingBody: CellVectors.padded(CellVectors.unhex("00000000 04 04 7F000001 01 04 06 7F0000010000")))
        }
    }

    @Test func netinfoOtherAddressOfUnknownTypeIsUnsupported() {
        expectError(.unsupported) { try NetinfoCell(parsingBody: CellVectors.padded(CellVectors.unhex("00000000 00 00 00"))) }
        expectError(.malformed) {
            try NetinfoCell(timestamp: 0, otherAddress: .unrecognized(type: 0, value: []), myAddresses: []).encodedBody()
        }
    }

    @Test func netinfoUnknownMyAddressTypesAreKeptAndReencoded() throws {
        let unpadded = CellVectors.unhex("00000001 04 04 0A000001 03 BB 02 FFFF 04 04 0A000002 F0 00")
        let n = try NetinfoCell(parsingBody: CellVectors.padded(unpadded))
        #expect(n.myAddresses == [.unrecognized(type: 0xBB, value: [0xFF, 0xFF]), .ipv4([10, 0, 0, 2]),
                                  .unrecognized(type: 0xF0, value: [])])
        #expect(try body(n) == CellVectors.padded(unpadded))
    }

    @Test func netinfoEncodeRefusesBadAddressLengthsAndOverflow() {
        expectError(.malformed) { try NetinfoCell(timestamp: 0, otherAddress: .ipv4([1, 2, 3]), myAddresses: []).encodedBody() }
        expectError(.malformed) { try NetinfoCell(timestamp: 0, otherAddress: .ipv6([1]), myAddresses: []).encodedBody() }
        expectError(.malformed) {
            try NetinfoCell(timestamp: 0, otherAddress: .ipv4([1, 2, 3, 4]),
                            myAddresses: [.unrecognized(type: 4, value: [1, 2, 3, 4])]).encodedBody()
        }
        // 30 IPv6 addresses need 541 bytes: more than a fixed cell.
        let many = [NetinfoAddress](repeating: .ipv6([UInt8](repeating: 1, count: 16)), count: 30)
        expectError(.malformed) { try NetinfoCell(timestamp: 0, otherAddress: .ipv4([1, 2, 3, 4]), myAddresses: many).encodedBody() }
    }

    // MARK: CERTS

    @Test func ctorCertsCellRoundTrips() throws {
        let bytes = CellVectors.certsBody
        let certs = try CertsCell(parsingBody: bytes)
        #expect(certs.certificates.map(\.type) == [.rsaLinkX509, .rsaIdentityX509, .ed25519IdentityToSigning,
                                                   .ed25519SigningToTLSLink, .rsaEd25519CrossCert])
        #expect(certs.certificates.map(\.body.count) == [0x23E, 0x1BD, 0x8C, 0x68, 0xA5])
        #expect(try body(certs) == bytes)
        // The type-4 and type-5 bodies are Ed25519 tor-certs our cert parser reads.
        let idToSigning = try UncheckedEd25519Cert(parsing: certs.certificates(ofType: .ed25519IdentityToSigning)[0])
        #expect(idToSigning.certType == .identityToSigning)
        #expect(idToSigning.embeddedSigningKey != nil)
        let signingToLink = try UncheckedEd25519Cert(parsing: certs.certificates(ofType: .ed25519SigningToTLSLink)[0])
        #expect(signingToLink.certType == .signingToTLSLink)
        // Real CTor certs: the signatures check out (at a time before they expired).
        let then = signingToLink.expiration.addingTimeInterval(-3600)
        let verifiedID = try idToSigning.verify(signedBy: nil, now: then)
        let signingKey = try #require(verifiedID.certifiedEd25519Key)
        _ = try signingToLink.verify(signedBy: signingKey, now: then)
    }

    @Test func certsWithCertLengthPastTheEndIsTruncated() {
        expectError(.truncated) { try CertsCell(parsingBody: CellVectors.unhex("01 04 0005 01020304")) }
    }

    @Test func certsClaimingMoreCertsThanPresentIsTruncated() {
        expectError(.truncated) { try CertsCell(parsingBody: CellVectors.unhex("02 04 0001 AA")) }
        expectError(.truncated) { try CertsCell(parsingBody: []) }
        expectError(.truncated) { try CertsCell(parsingBody: CellVectors.unhex("01 04 00")) }
    }

    @Test func certsDuplicatesAndUnknownTypesAreExposedFaithfully() throws {
        let bytes = CellVectors.unhex("04 04 0001 AA 04 0002 BBCC 63 0000 02 0001 DD")
        let certs = try CertsCell(parsingBody: bytes)
        #expect(certs.certificates == [
            .init(type: .ed25519IdentityToSigning, body: [0xAA]), .init(type: .ed25519IdentityToSigning, body: [0xBB, 0xCC]),
            .init(type: CertsCell.CertType(rawValue: 99), body: []), .init(type: .rsaIdentityX509, body: [0xDD]),
        ])
        #expect(certs.certificates(ofType: .ed25519IdentityToSigning) == [[0xAA], [0xBB, 0xCC]])
        #expect(try body(certs) == bytes)
    }

    @Test func certsTrailingBytesAreIgnoredAsCTorDoes() throws {
        let certs = try CertsCell(parsingBody: CellVectors.unhex("01 02 0001 AA FFFF"))
        #expect(certs == CertsCell(certificates: [.init(type: .rsaIdentityX509, body: [0xAA])]))
    }

    @Test func emptyCertsCellRoundTrips() throws {
        #expect(try CertsCell(parsingBody: [0]).certificates.isEmpty)
        #expect(try body(CertsCell(certificates: [])) == [0])
    }

    // MARK: AUTH_CHALLENGE

    @Test func ctorAuthChallengeRoundTrips() throws {
        let bytes = CellVectors.authChallengeBody
        let challenge = try AuthChallengeCell(parsingBody: bytes)
        #expect(challenge.challenge == Array(bytes.prefix(32)))
        #expect(challenge.methods == [.rsaSHA256TLSSecret, .ed25519SHA256RFC5705])
        #expect(try body(challenge) == bytes)
    }

    @Test func authChallengeShorterThanItsChallengeIsTruncated() {
        expectError(.truncated) { try AuthChallengeCell(parsingBody: Array(CellVectors.authChallengeBody.prefix(31))) }
    }

    @Test func authChallengeWithMethodsPastTheEndIsTruncated() {
        expectError(.truncated) { try AuthChallengeCell(parsingBody: [UInt8](repeating: 7, count: 32) + [0x00, 0x02, 0x00, 0x03]) }
    }

    @Test func authChallengeEncodeRefusesAShortChallenge() {
        expectError(.malformed) { try AuthChallengeCell(challenge: [1, 2, 3], methods: [.ed25519SHA256RFC5705]).encodedBody() }
    }

    // MARK: AUTHENTICATE and AUTH0003

    @Test func ctorAuthenticateRoundTripsAndItsAuth0003Parses() throws {
        let bytes = CellVectors.authenticateBody
        let authenticate = try AuthenticateCell(parsingBody: bytes)
        #expect(authenticate.authType == .ed25519SHA256RFC5705)
        #expect(authenticate.authenticator.count == 352)
        #expect(try body(authenticate) == bytes)

        let auth = try Auth0003(parsing: authenticate.authenticator)
        let a = authenticate.authenticator
        #expect(auth.cid == Array(a[8..<40]))
        #expect(auth.sid == Array(a[40..<72]))
        #expect(auth.tlsSecrets == Array(a[232..<264]))
        #expect(auth.rand == Array(a[264..<288]))
        #expect(auth.signature == Array(a[288..<352]))
        #expect(try auth.encode() == a)
        #expect(try auth.encodeSignedPart() == Array(a.prefix(288)))
        #expect(try AuthenticateCell(auth) == authenticate)
    }

    @Test func auth0003LayoutFromFields() throws {
        func fill(_ b: UInt8, _ n: Int = 32) -> [UInt8] { [UInt8](repeating: b, count: n) }
        var auth = Auth0003(cid: fill(1), sid: fill(2), cidEd: fill(3), sidEd: fill(4), slog: fill(5), clog: fill(6),
                            scert: fill(7), tlsSecrets: fill(8), rand: fill(9, 24))
        let signed = try auth.encodeSignedPart()
        #expect(signed.count == Auth0003.signedLength)
        #expect(Array(signed.prefix(8)) == Array("AUTH0003".utf8))
        #expect(signed[8] == 1 && signed[40] == 2 && signed[72] == 3 && signed[104] == 4)
        #expect(signed[136] == 5 && signed[168] == 6 && signed[200] == 7 && signed[232] == 8 && signed[264] == 9)
        expectError(.malformed) { try auth.encode() }  // not signed yet
        auth.signature = fill(0xEE, 64)
        let all = try auth.encode()
        #expect(all.count == Auth0003.length)
        #expect(try Auth0003(parsing: all) == auth)
        auth.slog = fill(5, 31)
        expectError(.malformed) { try auth.encodeSignedPart() }
    }

    @Test func authenticateShorterThan352IsTruncatedAsAuth0003() throws {
        let short = try AuthenticateCell(parsingBody: [0x00, 0x03, 0x01, 0x5F] + [UInt8](repeating: 0, count: 351))
        #expect(short.authenticator.count == 351)
        expectError(.truncated) { try Auth0003(parsing: short.authenticator) }
        expectError(.malformed) { try Auth0003(parsing: [UInt8](repeating: 0, count: 353)) }
    }

    @Test func authenticateWithAuthLenPastTheEndIsTruncated() {
        expectError(.truncated) { try AuthenticateCell(parsingBody: [0x00, 0x03, 0x01, 0x60] + [UInt8](repeating: 0, count: 351)) }
        expectError(.truncated) { try AuthenticateCell(parsingBody: [0x00, 0x03, 0x00]) }
    }

    @Test func auth0003WithAnotherTypeStringIsWrongType() {
        var bytes = Array(CellVectors.authenticateBody.dropFirst(4))
        bytes[7] = UInt8(ascii: "2")  // "AUTH0002"
        expectError(.wrongType) { try Auth0003(parsing: bytes) }
    }

    // MARK: PADDING_NEGOTIATE

    @Test func paddingNegotiateVectorsRoundTrip() throws {
        let start = try PaddingNegotiateCell(parsingBody: CellVectors.padded(CellVectors.paddingNegotiateStart))
        #expect(start == PaddingNegotiateCell(paddingCommand: .start, inactivityTimeoutLowMilliseconds: 256,
                                              inactivityTimeoutHighMilliseconds: 512))
        #expect(try body(start) == CellVectors.padded(CellVectors.paddingNegotiateStart))
        let stop = try PaddingNegotiateCell(parsingBody: CellVectors.paddingNegotiateStop)
        #expect(stop == PaddingNegotiateCell(paddingCommand: .stop))
        #expect(try body(stop) == CellVectors.padded(CellVectors.paddingNegotiateStop))
    }

    @Test func paddingNegotiateVersion0x90IsUnsupported() {
        // arti's negative vector "90 0303".
        expectError(.unsupported) { try PaddingNegotiateCell(parsingBody: CellVectors.padded([0x90, 0x03, 0x03])) }
    }

    @Test func paddingNegotiateUnknownCommandIsUnsupported() {
        expectError(.unsupported) { try PaddingNegotiateCell(parsingBody: CellVectors.padded([0x00, 0x03])) }
    }

    @Test func paddingNegotiateTruncatedInTimeouts() {
        expectError(.truncated) { try PaddingNegotiateCell(parsingBody: [0x00, 0x02, 0x01, 0x00, 0x02]) }
    }

    // MARK: cells

    @Test func parsingACellChecksItsCommand() throws {
        let netinfo = try NetinfoCell(timestamp: 1, otherAddress: .ipv4([10, 0, 0, 1]), myAddresses: []).cell()
        expectError(.wrongType) { try CertsCell(cell: netinfo) }
        #expect(try NetinfoCell(cell: netinfo).timestamp == 1)
        let certs = try CertsCell(certificates: []).cell(circuitID: 0)
        #expect(certs.command == .certs && certs.body.readableBytes == 1)
    }
}
