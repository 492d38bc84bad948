import Testing
import TorCrypto

/// AES-128/256-CTR known answers (NIST SP 800-38A F.5.1 / F.5.5) and the streaming property
/// Tor's relay crypto relies on: one keystream across calls.
@Suite struct AESCTRTests {
    let file: VectorFile
    init() throws { file = try VectorFile("aes_ctr") }

    @Test func vectorCount() {
        #expect(file.vectors.count == 2)
    }

    @Test func encryptAndDecryptAtOnce() throws {
        for v in file.vectors {
            let key = try v.hex("key"), iv = try v.hex("iv")
            let pt = try v.hex("plaintext"), ct = try v.hex("ciphertext")
            try #require(pt.count == ct.count && pt.count == 64, "\(v.name)")

            var buf = pt
            try AESCTR(key: key, iv: iv).apply(&buf)
            #expect(buf.hexString == ct.hexString, "\(v.name): encrypt")

            var back = ct
            try AESCTR(key: key, iv: iv).apply(&back)
            #expect(back.hexString == pt.hexString, "\(v.name): decrypt")
        }
    }

    /// Pieces of 1, 15, 17 and 31 bytes (64 in all) cross every block boundary off-alignment.
    @Test(arguments: [[1, 15, 17, 31], [31, 17, 15, 1], [3, 5, 7, 11, 13, 17, 8], [16, 16, 16, 16], [63, 1], [0, 64, 0]])
    func streamingInPiecesEqualsAtOnce(pieces: [Int]) throws {
        #expect(pieces.reduce(0, +) == 64)
        for v in file.vectors {
            let key = try v.hex("key"), iv = try v.hex("iv")
            let pt = try v.hex("plaintext"), ct = try v.hex("ciphertext")

            // Array API, one call per piece.
            let aes = try AESCTR(key: key, iv: iv)
            var out = [UInt8]()
            var offset = 0
            for n in pieces {
                var piece = Array(pt[offset ..< offset + n])
                aes.apply(&piece)
                out += piece
                offset += n
            }
            #expect(out.hexString == ct.hexString, "\(v.name) pieces \(pieces) ([UInt8] API)")

            // Raw-buffer API, in place on slices of one buffer.
            let aes2 = try AESCTR(key: key, iv: iv)
            var whole = pt
            whole.withUnsafeMutableBytes { raw in
                var off = 0
                for n in pieces {
                    aes2.apply(UnsafeMutableRawBufferPointer(rebasing: raw[off ..< off + n]))
                    off += n
                }
            }
            #expect(whole.hexString == ct.hexString, "\(v.name) pieces \(pieces) (raw buffer API)")
        }
    }

    @Test func byteAtATime() throws {
        for v in file.vectors {
            let aes = try AESCTR(key: v.hex("key"), iv: v.hex("iv"))
            var out = [UInt8]()
            for b in try v.hex("plaintext") {
                var one = [b]
                aes.apply(&one)
                out += one
            }
            #expect(out.hexString == (try v.hex("ciphertext")).hexString, "\(v.name)")
        }
    }

    @Test func emptyApplyDoesNotAdvanceKeystream() throws {
        let v = try #require(file.vectors.first)
        let aes = try AESCTR(key: v.hex("key"), iv: v.hex("iv"))
        var empty = [UInt8]()
        aes.apply(&empty)
        #expect(empty.isEmpty)
        var buf = try v.hex("plaintext")
        aes.apply(&buf)
        #expect(buf.hexString == (try v.hex("ciphertext")).hexString)
    }

    @Test func defaultIVIsZero() throws {
        let key = [UInt8](repeating: 0x42, count: 16)
        var a = [UInt8](repeating: 0, count: 40), b = a
        try AESCTR(key: key).apply(&a)
        try AESCTR(key: key, iv: [UInt8](repeating: 0, count: 16)).apply(&b)
        #expect(a == b)
        #expect(a != [UInt8](repeating: 0, count: 40))
    }

    @Test(arguments: [0, 15, 17, 24, 31, 33])
    func badKeyLengthThrows(length: Int) {
        let e = #expect(throws: CryptoError.self) {
            _ = try AESCTR(key: [UInt8](repeating: 1, count: length))
        }
        #expect(e?.code == .invalidLength)
    }

    @Test(arguments: [0, 8, 15, 17, 32])
    func badIVLengthThrows(length: Int) {
        let e = #expect(throws: CryptoError.self) {
            _ = try AESCTR(key: [UInt8](repeating: 1, count: 16), iv: [UInt8](repeating: 0, count: length))
        }
        #expect(e?.code == .invalidLength)
    }
}
