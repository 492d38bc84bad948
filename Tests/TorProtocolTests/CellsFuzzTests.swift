import NIOCore
import Testing
import TorCrypto
@testable import TorProtocol

/// No cell parser may trap on any input: each returns a value or throws a TorProtocolError.
/// Fed with every prefix of every valid encoding, and with deterministic pseudo-random bytes.
@Suite struct CellsFuzzTests {
    typealias Parser = (name: String, parse: @Sendable ([UInt8]) throws -> Void)

    static let parsers: [Parser] = [
        ("VERSIONS", { _ = try VersionsCell(parsingBody: $0) }),
        ("NETINFO", { _ = try NetinfoCell(parsingBody: $0) }),
        ("CERTS", { _ = try CertsCell(parsingBody: $0) }),
        ("AUTH_CHALLENGE", { _ = try AuthChallengeCell(parsingBody: $0) }),
        ("AUTHENTICATE", { _ = try AuthenticateCell(parsingBody: $0) }),
        ("AUTH0003", { _ = try Auth0003(parsing: $0) }),
        ("PADDING_NEGOTIATE", { _ = try PaddingNegotiateCell(parsingBody: $0) }),
        ("framing narrow", { try decodeEverything($0, CellFraming(circuitIDWidth: .narrow)) }),
        ("framing wide", { try decodeEverything($0, CellFraming(circuitIDWidth: .wide, maxVariableBodyLength: 300)) }),
    ]

    /// Decodes cells until the framing asks for more, checking the reader index contract.
    static func decodeEverything(_ bytes: [UInt8], _ framing: CellFraming) throws {
        var buf = ByteBuffer(bytes: bytes)
        while true {
            let before = buf.readerIndex
            guard let cell = try framing.decode(&buf) else {
                #expect(buf.readerIndex == before)
                return
            }
            #expect(buf.readerIndex - before == framing.encodedLength(of: cell) || cell.command == .versions)
        }
    }

    static let validEncodings: [[UInt8]] = [
        CellVectors.ctorVersionsCell,
        Array(CellVectors.ctorVersionsCell.dropFirst(5)),
        CellVectors.padded(CellVectors.netinfoClient),
        CellVectors.netinfoRelay,
        CellVectors.netinfoRelayIPv6,
        CellVectors.certsBody,
        CellVectors.authChallengeBody,
        CellVectors.authenticateBody,
        Array(CellVectors.authenticateBody.dropFirst(4)),
        CellVectors.paddingNegotiateStart,
        CellVectors.paddingNegotiateStop,
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
        var rng = TestRandom(seed: 0xCE11 + UInt64(index))
        for round in 0..<3000 {
            let header = rng.bytes(3)
            let length = Int(header[0]) % 4 == 0 ? Int(header[1]) * 3 : Int(header[1]) % 64
            var input = rng.bytes(length)
            // Steer some bytes toward the values parsers branch on (types 4/6, small counts).
            if header[2] % 2 == 0 {
                for i in input.indices where rng.bytes(1)[0] < 64 {
                    input[i] = [0, 1, 2, 4, 6, 16, 0x80, 0xFF][Int(input[i]) % 8]
                }
            }
            Self.check(parser, input, "random input \(round) (\(input.count) bytes)")
        }
    }

    @Test func mutatedValidEncodings() {
        var rng = TestRandom(seed: 42)
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
}
