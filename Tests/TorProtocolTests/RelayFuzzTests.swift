import NIOCore
import Testing
import TorCrypto
@testable import TorProtocol

/// No relay-message parser may trap on any input: each returns a value or throws a
/// TorProtocolError. Fed with every prefix of valid encodings, with pseudo-random bytes, and
/// with mutated valid encodings; whatever parses must also re-encode.
@Suite struct RelayFuzzTests {
    typealias Parser = (name: String, parse: @Sendable ([UInt8]) throws -> Void)

    static func reencodes<M: RelayMessageBody>(_ m: M) throws {
        _ = try M(parsingBody: m.encodedBody())
    }

    static let parsers: [Parser] = [
        ("BEGIN", { try reencodes(BeginMessage(parsingBody: $0)) }),
        ("BEGIN_DIR", { try reencodes(BeginDirMessage(parsingBody: $0)) }),
        ("CONNECTED", { try reencodes(ConnectedMessage(parsingBody: $0)) }),
        ("END", { try reencodes(EndMessage(parsingBody: $0)) }),
        ("DATA", { try reencodes(DataMessage(parsingBody: $0)) }),
        ("SENDME", { try reencodes(SendmeMessage(parsingBody: $0)) }),
        ("EXTEND2", { try reencodes(Extend2Message(parsingBody: $0)) }),
        ("EXTEND2 request", { _ = try Extend2Request(parsingBody: ByteBuffer(bytes: $0)) }),
        ("EXTENDED2", { try reencodes(Extended2Message(parsingBody: $0)) }),
        ("CREATED2 for EXTENDED2", { _ = try Extended2Message(created2Body: ByteBuffer(bytes: $0)) }),
        ("TRUNCATE", { try reencodes(TruncateMessage(parsingBody: $0)) }),
        ("TRUNCATED", { try reencodes(TruncatedMessage(parsingBody: $0)) }),
        ("RESOLVE", { try reencodes(ResolveMessage(parsingBody: $0)) }),
        ("RESOLVED", { try reencodes(ResolvedMessage(parsingBody: $0)) }),
        ("DROP", { try reencodes(DropMessage(parsingBody: $0)) }),
        ("relay cell body", { bytes in
            guard bytes.count >= 11 else { return }
            var body = bytes + [UInt8](repeating: 0, count: max(0, 509 - bytes.count))
            body = Array(body.prefix(509))
            _ = try RelayMessage.parse(cellBody: ByteBuffer(bytes: body))
        }),
    ]

    static let validEncodings: [[UInt8]] = [
        RelayTest.unhex("3132372E302E302E313A3730303300"),
        RelayTest.unhex("7777772e786b63642e636f6d3a34343300 00000003"),
        RelayTest.unhex("5b323030313a6462383a3a315d3a323200"),
        RelayTest.unhex("7F000001 00000E10"),
        RelayTest.unhex("00000000 06 20010db8 00000000 00000000 00001122 00000E10"),
        RelayTest.unhex("04 20010db8 00000000 00000000 0000f00b 00000200"),
        RelayTest.unhex("04 7f000007 00000100"),
        RelayTest.unhex("01 0014 F01234989823478bcdefabcdef01234567890123"),
        RelayTest.unhex(RelayCircuitMessageTests.extend2FromCTor),
        RelayTest.unhex(RelayCircuitMessageTests.extended2FromCTor),
        RelayTest.unhex("04 04 7f000001 00000E10 06 10 12340000000000000000000000005678 00000080 00 03 616263 00000001 F0 00 00000001"),
        Array("www.torproject.org\0".utf8),
        try! Extend2Message(linkSpecifiers: [
            .ipv6(address: [UInt8](repeating: 0x20, count: 16), port: 9001), .ed25519Identity([UInt8](repeating: 7, count: 32)),
            .rsaIdentity(RSAFingerprint(bytes: [UInt8](repeating: 1, count: 20))), .unrecognized(type: 0x7f, value: [1, 2, 3]),
            .ipv4(address: [10, 0, 0, 1], port: 443),
        ], handshakeType: 3, handshakeData: [UInt8](repeating: 0x33, count: 100)).encodedBody(),
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
    func everyPrefixOfEveryValidEncoding(_ index: Int) {
        let parser = Self.parsers[index]
        for (i, encoding) in Self.validEncodings.enumerated() {
            for n in 0...encoding.count {
                Self.check(parser, Array(encoding.prefix(n)), "prefix \(n) of encoding \(i)")
            }
        }
    }

    @Test(arguments: parsers.indices)
    func pseudoRandomBytes(_ index: Int) {
        let parser = Self.parsers[index]
        var rng = TestRandom(seed: 0x5E1A + UInt64(index))
        for round in 0..<3000 {
            let header = rng.bytes(3)
            let length = Int(header[0]) % 4 == 0 ? Int(header[1]) * 2 : Int(header[1]) % 48
            var input = rng.bytes(length)
            // Steer bytes toward values the parsers branch on (types, lengths, NUL, ':').
            if header[2] % 2 == 0 {
                for i in input.indices where rng.bytes(1)[0] < 80 {
                    input[i] = [0, 1, 2, 3, 4, 6, 0x14, 0x3a, 0x5b, 0x5d, 0xF0, 0xFF][Int(input[i]) % 12]
                }
            }
            Self.check(parser, input, "random input \(round) (\(input.count) bytes)")
        }
    }

    @Test func mutatedValidEncodings() {
        var rng = TestRandom(seed: 99)
        for (i, encoding) in Self.validEncodings.enumerated() {
            for round in 0..<200 {
                var input = encoding
                for _ in 0...(Int(rng.bytes(1)[0]) % 4) where !input.isEmpty {
                    let r = rng.bytes(3)
                    input[(Int(r[0]) << 8 | Int(r[1])) % input.count] = r[2]
                }
                for parser in Self.parsers {
                    Self.check(parser, input, "mutation \(round) of encoding \(i)")
                }
            }
        }
    }

    /// Garbage through tor1: no crash, and the relay recognizes essentially nothing.
    @Test func randomCellsThroughTor1() throws {
        var rng = TestRandom(seed: 7)
        let relay = try Tor1RelayCrypto(keyMaterial: rng.bytes(72))
        var recognized = 0
        var body = [UInt8](repeating: 0, count: 509)
        for _ in 0..<2000 {
            body.withUnsafeMutableBytes { rng.fill($0) }
            if body.withUnsafeMutableBytes({ relay.decryptForward($0) }) { recognized += 1 }
            body.withUnsafeMutableBytes { relay.encryptBackward($0, originating: rng.bytes(1)[0] & 1 == 0) }
        }
        #expect(recognized == 0)
    }
}
