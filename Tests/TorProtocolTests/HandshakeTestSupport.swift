import Testing
import TorCrypto
@testable import TorProtocol

/// A RandomSource that hands out fixed bytes in order (the way the vectors fix x, y, X and
/// Y); traps when asked for more than it holds, so a test cannot silently draw other bytes.
struct FixedRandom: RandomSource {
    private var bytes: [UInt8]
    init(_ chunks: [UInt8]...) { bytes = chunks.flatMap { $0 } }
    var isExhausted: Bool { bytes.isEmpty }
    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count <= bytes.count, "FixedRandom: asked for \(buffer.count) bytes, \(bytes.count) left")
        for i in 0..<buffer.count { buffer[i] = bytes[i] }
        bytes.removeFirst(buffer.count)
    }
}

/// Runs `body`, expecting a TorProtocolError with `code`; records an issue otherwise.
func expectHandshakeError(_ code: TorProtocolError.Code, _ what: @autoclosure () -> String,
                          sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("\(what()): succeeded, expected \(code)", sourceLocation: sourceLocation)
    } catch let e as TorProtocolError {
        #expect(e.code == code, "\(what()): \(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what()): threw \(error), expected TorProtocolError \(code)", sourceLocation: sourceLocation)
    }
}
