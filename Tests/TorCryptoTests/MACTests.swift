import Testing
import TorCrypto

/// HMAC-SHA256 (RFC 4231), HKDF-SHA256 (RFC 5869 and Tor's ntor-string vectors) and
/// KDF-TOR (Tor's TAP/CREATE_FAST KDF) known answers.
@Suite struct MACTests {
    // MARK: HMAC-SHA256

    @Test func hmacSHA256KnownAnswers() throws {
        let file = try VectorFile("hmac_sha256")
        #expect(file.vectors.count == 6)
        for v in file.vectors {
            let mac = HMAC.sha256(key: try v.hex("key"), data: try v.hex("data"))
            #expect(mac.hexString == (try v.hex("mac")).hexString, "\(v.name)")
        }
    }

    @Test func hmacDetectsChangedKeyOrData() throws {
        let v = try #require(try VectorFile("hmac_sha256").vectors.first)
        let key = try v.hex("key"), data = try v.hex("data"), mac = try v.hex("mac")
        var key2 = key
        key2[0] ^= 1
        var data2 = data
        data2[data2.count - 1] ^= 0x80
        #expect(HMAC.sha256(key: key2, data: data) != mac)
        #expect(HMAC.sha256(key: key, data: data2) != mac)
        #expect(HMAC.sha256(key: key, data: data + [0]) != mac)
    }

    // MARK: HKDF-SHA256

    /// HKDF-Expand (RFC 5869 §2.3) written out with HMAC, to tie each vector's prk to its okm.
    static func expand(prk: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        var okm = [UInt8](), t = [UInt8]()
        var i: UInt8 = 1
        while okm.count < length {
            t = HMAC.sha256(key: prk, data: t + info + [i])
            okm += t
            i &+= 1  // wraps only after block 255, the last one allowed
        }
        return Array(okm.prefix(length))
    }

    @Test func hkdfRFC5869KnownAnswers() throws {
        let file = try VectorFile("hkdf_sha256")
        #expect(file.vectors.count == 3)
        for v in file.vectors {
            let ikm = try v.hex("ikm"), salt = try v.hex("salt"), info = try v.hex("info")
            let length = try v.int("length"), prk = try v.hex("prk"), okm = try v.hex("okm")
            #expect(okm.count == length, "\(v.name): vector okm length")

            let out = try HKDF.sha256(ikm: ikm, salt: salt, info: info, length: length)
            #expect(out.hexString == okm.hexString, "\(v.name): okm")

            // Extract: prk = HMAC(salt or HashLen zeros, ikm); then Expand(prk) = okm.
            let extractKey = salt.isEmpty ? [UInt8](repeating: 0, count: 32) : salt
            #expect(HMAC.sha256(key: extractKey, data: ikm).hexString == prk.hexString, "\(v.name): prk")
            #expect(Self.expand(prk: prk, info: info, length: length).hexString == okm.hexString,
                    "\(v.name): expand(prk)")

            // Shorter outputs are prefixes of longer ones.
            let short = try HKDF.sha256(ikm: ikm, salt: salt, info: info, length: 17)
            #expect(short == Array(okm.prefix(17)), "\(v.name): prefix")
        }
    }

    @Test func hkdfEmptySaltEqualsZeroSalt() throws {
        let file = try VectorFile("hkdf_sha256")
        let v = try #require(file.vectors.first { (try? $0.hex("salt"))?.isEmpty == true },
                             "no empty-salt vector (RFC 5869 A.3)")
        let zeros = try HKDF.sha256(ikm: v.hex("ikm"), salt: [UInt8](repeating: 0, count: 32),
                                    info: v.hex("info"), length: v.int("length"))
        #expect(zeros.hexString == (try v.hex("okm")).hexString)
    }

    @Test func hkdfTorNtorStringsKnownAnswers() throws {
        let file = try VectorFile("hkdf_tor")
        #expect(file.vectors.count == 2)
        for v in file.vectors {
            #expect(try v.hex("salt") == Array("ntor-curve25519-sha256-1:key_extract".utf8), "\(v.name): salt")
            #expect(try v.hex("info") == Array("ntor-curve25519-sha256-1:key_expand".utf8), "\(v.name): info")
            let out = try HKDF.sha256(ikm: v.hex("ikm"), salt: v.hex("salt"), info: v.hex("info"),
                                      length: v.int("length"))
            #expect(out.count == (try v.int("length")), "\(v.name)")
            #expect(out.hexString == (try v.hex("okm")).hexString, "\(v.name)")
        }
    }

    @Test(arguments: [0, -1, 255 * 32 + 1])
    func hkdfBadLengthThrows(length: Int) {
        let e = #expect(throws: CryptoError.self) {
            _ = try HKDF.sha256(ikm: [1, 2, 3], salt: [], info: [], length: length)
        }
        #expect(e?.code == .invalidLength)
    }

    @Test func hkdfMaximumLength() throws {
        let out = try HKDF.sha256(ikm: [1, 2, 3], salt: [4], info: [5], length: 255 * 32)
        #expect(out.count == 255 * 32)
        #expect(out == Self.expand(prk: HMAC.sha256(key: [4], data: [1, 2, 3]), info: [5], length: 255 * 32))
    }

    // MARK: KDF-TOR

    @Test func kdfTorKnownAnswers() throws {
        let file = try VectorFile("kdf_tor")
        #expect(file.vectors.count == 3)
        for v in file.vectors {
            let k0 = try v.hex("key_material"), length = try v.int("length"), expected = try v.hex("output")
            #expect(expected.count == length, "\(v.name): vector length")
            let out = try KDFTor.derive(k0, length: length)
            #expect(out.hexString == expected.hexString, "\(v.name)")
            // Definition check: SHA1(K0 | [i]) blocks.
            #expect(Array(expected.prefix(20)) == Digest.sha1(k0 + [0]), "\(v.name): block 0")
            #expect(Array(expected[20 ..< 40]) == Digest.sha1(k0 + [1]), "\(v.name): block 1")
            // Prefix property at and off block boundaries.
            for n in [0, 1, 19, 20, 21, 40, 72] {
                #expect(try KDFTor.derive(k0, length: n) == Array(expected.prefix(n)), "\(v.name): length \(n)")
            }
        }
    }

    @Test func kdfTorLengthBounds() throws {
        #expect(try KDFTor.derive([1], length: 256 * 20).count == 256 * 20)
        for bad in [-1, 256 * 20 + 1] {
            let e = #expect(throws: CryptoError.self) { _ = try KDFTor.derive([1], length: bad) }
            #expect(e?.code == .invalidLength, "length \(bad)")
        }
    }
}
