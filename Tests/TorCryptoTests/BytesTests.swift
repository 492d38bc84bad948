import Testing
import TorCrypto

/// The byte helpers the vector loader and the rest of the project rely on.
@Suite struct BytesTests {
    @Test func hexParsing() {
        #expect([UInt8](hex: "") == [])
        #expect([UInt8](hex: "00ff10aB") == [0x00, 0xff, 0x10, 0xab])
        #expect([UInt8](hex: "DEADbeef") == [0xde, 0xad, 0xbe, 0xef])
        #expect([UInt8](hex: "abc") == nil, "odd length")
        #expect([UInt8](hex: "0g") == nil, "bad digit")
        #expect([UInt8](hex: "0 ") == nil, "space")
        #expect([UInt8](hex: "0x00") == nil, "prefix")
        #expect([UInt8](hex: "é") == nil, "non-ASCII, two UTF-8 bytes")
        let all = (0 ... 255).map { UInt8($0) }
        #expect([UInt8](hex: all.hexString) == all)
        #expect([UInt8](hex: all.upperHexString) == all)
    }

    @Test func hexStrings() {
        let b: [UInt8] = [0x01, 0xab, 0xff, 0x00]
        #expect(b.hexString == "01abff00")
        #expect(b.upperHexString == "01ABFF00")
        #expect([UInt8]().hexString == "")
        #expect(b[1...].hexString == "abff00", "works on slices")
    }

    @Test func base64Unpadded() {
        // RFC 4648 §10 test vectors, padding stripped.
        let cases: [(String, String)] = [
            ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"),
            ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
        ]
        for (plain, b64) in cases {
            let bytes = Array(plain.utf8)
            #expect(bytes.base64Unpadded == b64, "\(plain)")
            #expect([UInt8](base64Unpadded: b64) == bytes, "\(plain) unpadded")
            let padded = b64 + String(repeating: "=", count: (4 - b64.count % 4) % 4)
            #expect([UInt8](base64Unpadded: padded) == bytes, "\(plain) padded")
        }
        #expect([UInt8](base64Unpadded: "Zm=9v") == nil, "'=' inside")
        #expect([UInt8](base64Unpadded: "Z!9v") == nil, "bad character")
        #expect([UInt8](base64Unpadded: "Z") == nil, "impossible length")
    }

    @Test func constantTimeEquality() {
        #expect(constantTimeEqual([], []))
        #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(!constantTimeEqual([], [0]))
    }

    @Test func wipeZeroes() {
        var secret: [UInt8] = [1, 2, 3, 4]
        wipe(&secret)
        #expect(secret == [0, 0, 0, 0])
    }
}
