import NIOCore
import Testing
import TorCrypto
@testable import TorProtocol

/// Helpers the relay-message tests share.
enum RelayTest {
    /// Hex with any whitespace; traps on a typo in a vector (test data, not input).
    static func unhex(_ s: String) -> [UInt8] {
        [UInt8](hex: s.filter { !$0.isWhitespace })!
    }

    /// decode(bytes) == value and encode(value) == bytes.
    static func roundTrip<M: RelayMessageBody>(_ hex: String, _ expected: M,
                                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        try noncanonical(hex, hex, expected, sourceLocation: sourceLocation)
    }

    /// decode(bytes) == value and encode(value) == canonical bytes.
    static func noncanonical<M: RelayMessageBody>(_ hex: String, _ canonical: String, _ expected: M,
                                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
        let decoded = try M(parsingBody: unhex(hex))
        #expect(decoded == expected, sourceLocation: sourceLocation)
        #expect(try decoded.encodedBody() == unhex(canonical), sourceLocation: sourceLocation)
        #expect(try expected.encodedBody() == unhex(canonical), sourceLocation: sourceLocation)
        // Through the generic dispatcher too.
        let message = try RelayMessage(command: M.command, body: ByteBuffer(bytes: unhex(hex)))
        #expect(message.command == M.command, sourceLocation: sourceLocation)
        var buffer = ByteBuffer()
        try message.encodeBody(into: &buffer)
        #expect(Array(buffer.readableBytesView) == unhex(canonical), sourceLocation: sourceLocation)
    }

    /// Parsing `hex` as an `M` fails with `code`.
    static func rejects<M: RelayMessageBody>(_ type: M.Type, _ hex: String, _ code: TorProtocolError.Code,
                                             sourceLocation: SourceLocation = #_sourceLocation) {
        expectError(code, sourceLocation: sourceLocation) { try M(parsingBody: unhex(hex)) }
    }

    static func expectError<T>(_ code: TorProtocolError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                               _ body: () throws -> T) {
        do {
            let value = try body()
            Issue.record("expected a \(code) error, got \(value)", sourceLocation: sourceLocation)
        } catch let e as TorProtocolError {
            #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    static func hex(_ s: String) -> String { Array(s.utf8).hexString }
}
