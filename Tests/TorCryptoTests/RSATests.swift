import Testing
import TorCrypto

/// RSA key encodings (PKCS#1 DER / PEM, as CTor stores and publishes them) and Tor's "raw"
/// RSA signature: PKCS#1 v1.5 type-1 padding directly over the digest, with no DigestInfo.
@Suite struct RSATests {
    /// One 1024-bit key (KS_relayid_rsa size) shared by the tests; generation is the slow part.
    static let key1024: RSAPrivateKey = try! RSAPrivateKey.generate(bits: 1024)

    static let digest20: [UInt8] = Digest.sha1(Array("relayfleet RSA raw signature test".utf8))

    @Test func generated1024BitKeyShape() throws {
        let key = Self.key1024
        #expect(key.bits == 1024)
        #expect(key.publicKey.bits == 1024)
        #expect(key.publicKey.publicExponent == 65537)
        let der = key.publicKey.pkcs1DER
        #expect(der.count == 140)
        // SEQUENCE(137) { INTEGER(129) 00 n..., INTEGER(3) 01 00 01 }
        #expect(Array(der.prefix(7)) == [0x30, 0x81, 0x89, 0x02, 0x81, 0x81, 0x00])
        #expect(Array(der.suffix(5)) == [0x02, 0x03, 0x01, 0x00, 0x01])
    }

    @Test func derRoundTrip() throws {
        let key = Self.key1024
        let der = key.dangerouslyExportPKCS1DER()
        #expect(der.first == 0x30)
        let back = try RSAPrivateKey(pkcs1DER: der)
        #expect(back.publicKey == key.publicKey)
        #expect(back.publicKey.pkcs1DER == key.publicKey.pkcs1DER)
        #expect(back.dangerouslyExportPKCS1DER() == der)
        // The reloaded key signs identically (PKCS#1 v1.5 is deterministic).
        #expect(try back.signRaw(Self.digest20) == (try key.signRaw(Self.digest20)))
    }

    @Test func pemRoundTrip() throws {
        let key = Self.key1024
        let pem = key.dangerouslyExportPEM()
        #expect(pem.hasPrefix("-----BEGIN RSA PRIVATE KEY-----\n"))
        #expect(pem.hasSuffix("-----END RSA PRIVATE KEY-----\n"))
        #expect(!pem.contains("ENCRYPTED"))
        let back = try RSAPrivateKey(pem: pem)
        #expect(back.publicKey == key.publicKey)
        #expect(back.dangerouslyExportPKCS1DER() == key.dangerouslyExportPKCS1DER())
        #expect(back.dangerouslyExportPEM() == pem)
        // PEM body is the base64 of the DER.
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        #expect([UInt8](base64Unpadded: body) == key.dangerouslyExportPKCS1DER())
    }

    @Test func publicKeyDERRoundTrip() throws {
        let pub = Self.key1024.publicKey
        let back = try RSAPublicKey(pkcs1DER: pub.pkcs1DER)
        #expect(back == pub)
        #expect(back.hashValue == pub.hashValue)
        #expect(back.bits == 1024)
        #expect(back.publicExponent == 65537)
        #expect(back.pkcs1DER == pub.pkcs1DER)
        #expect(back.isValidRawSignature(try Self.key1024.signRaw(Self.digest20), of: Self.digest20))
    }

    /// The Tor-specific point: signRaw pads the bare data. Checked three ways: recoverSigned
    /// gives back exactly the input (a DigestInfo would add 15 bytes to a SHA-1 digest), the
    /// length tracks the input (21 bytes recover 21), and the raw public operation s^e mod n,
    /// computed here independently of OpenSSL, is 00 01 FF…FF 00 ‖ data.
    @Test(arguments: [20, 21, 32, 1, 117])
    func rawSignatureHasNoDigestInfo(length: Int) throws {
        let key = Self.key1024
        let data = Array(Digest.sha512(Array("data \(length)".utf8)).prefix(min(length, 64)))
            + [UInt8](repeating: 0xa5, count: max(0, length - 64))
        #expect(data.count == length)

        let sig = try key.signRaw(data)
        #expect(sig.count == 128)
        let recovered = try #require(key.publicKey.recoverSigned(sig))
        #expect(recovered.count == length, "recovered \(recovered.count) bytes for \(length)")
        #expect(recovered == data)
        #expect(key.publicKey.isValidRawSignature(sig, of: data))

        let (n, e) = try #require(RawRSA.parsePublicDER(key.publicKey.pkcs1DER))
        #expect(e == [0x01, 0x00, 0x01])
        let block = RawRSA.modPow(sig, e, n)
        let padding = [UInt8](repeating: 0xff, count: 128 - 3 - length)
        #expect(block.hexString == ([0x00, 0x01] + padding + [0x00] + data).hexString)
    }

    @Test func rawSignatureOfSHA1DigestIsExactly20Bytes() throws {
        let key = Self.key1024
        let sig = try key.signRaw(Self.digest20)
        let recovered = try #require(key.publicKey.recoverSigned(sig))
        #expect(recovered.count == 20)
        #expect(recovered == Self.digest20)
        #expect(try key.signRaw(Self.digest20) == sig, "deterministic")
    }

    @Test func tamperedSignatureOrDataIsRejected() throws {
        let key = Self.key1024
        let sig = try key.signRaw(Self.digest20)
        for i in [0, 1, 64, 127] {
            var bad = sig
            bad[i] ^= 0x01
            #expect(!key.publicKey.isValidRawSignature(bad, of: Self.digest20), "flipped byte \(i)")
            #expect(key.publicKey.recoverSigned(bad) != Self.digest20, "flipped byte \(i)")
        }
        #expect(key.publicKey.recoverSigned(Array(sig.dropLast())) == nil, "short signature")
        #expect(key.publicKey.recoverSigned([]) == nil, "empty signature")
        var otherDigest = Self.digest20
        otherDigest[19] ^= 1
        #expect(!key.publicKey.isValidRawSignature(sig, of: otherDigest))
        #expect(!key.publicKey.isValidRawSignature(sig, of: Array(Self.digest20.prefix(19))))
        #expect(!key.publicKey.isValidRawSignature(sig, of: Self.digest20 + [0]))
    }

    @Test func otherKeyRejectsSignature() throws {
        let other = try RSAPrivateKey.generate(bits: 1024)
        #expect(other.publicKey != Self.key1024.publicKey)
        let sig = try Self.key1024.signRaw(Self.digest20)
        #expect(!other.publicKey.isValidRawSignature(sig, of: Self.digest20))
    }

    @Test func tooLongToSignThrows() throws {
        let e = #expect(throws: CryptoError.self) {
            _ = try Self.key1024.signRaw([UInt8](repeating: 7, count: 118))
        }
        #expect(e?.code == .invalidLength)
    }

    @Test func key2048() throws {
        let key = try RSAPrivateKey.generate(bits: 2048)
        #expect(key.bits == 2048)
        #expect(key.publicKey.publicExponent == 65537)
        #expect(key.publicKey.pkcs1DER.count == 270)
        let digest = Digest.sha256(Array("link key".utf8))
        let sig = try key.signRaw(digest)
        #expect(sig.count == 256)
        #expect(key.publicKey.recoverSigned(sig) == digest)
        let back = try RSAPrivateKey(pem: key.dangerouslyExportPEM())
        #expect(back.publicKey == key.publicKey)
    }

    // MARK: Malformed input: CryptoError, never a crash.

    @Test(arguments: [
        [],
        [0x30],
        [0x30, 0x00],
        [0x02, 0x01, 0x00],
        [0xde, 0xad, 0xbe, 0xef],
        [UInt8](repeating: 0x30, count: 200),
        [0x30, 0x82, 0xff, 0xff, 0x02, 0x01, 0x00],
    ] as [[UInt8]])
    func garbageDERThrows(der: [UInt8]) {
        let e1 = #expect(throws: CryptoError.self) { _ = try RSAPrivateKey(pkcs1DER: der) }
        #expect(e1?.code == .decodeFailed)
        let e2 = #expect(throws: CryptoError.self) { _ = try RSAPublicKey(pkcs1DER: der) }
        #expect(e2?.code == .decodeFailed)
    }

    @Test func truncatedDERThrows() throws {
        let priv = Self.key1024.dangerouslyExportPKCS1DER()
        let pub = Self.key1024.publicKey.pkcs1DER
        for cut in [1, 5, 64] {
            #expect(throws: CryptoError.self) { _ = try RSAPrivateKey(pkcs1DER: Array(priv.dropLast(cut))) }
            #expect(throws: CryptoError.self) { _ = try RSAPublicKey(pkcs1DER: Array(pub.dropLast(cut))) }
        }
    }

    @Test func derWithTrailingBytesThrows() throws {
        let priv = Self.key1024.dangerouslyExportPKCS1DER()
        let pub = Self.key1024.publicKey.pkcs1DER
        for tail in [[0x00], [0x30, 0x00], [0xff, 0xff, 0xff]] as [[UInt8]] {
            let e1 = #expect(throws: CryptoError.self) { _ = try RSAPrivateKey(pkcs1DER: priv + tail) }
            #expect(e1?.code == .decodeFailed)
            let e2 = #expect(throws: CryptoError.self) { _ = try RSAPublicKey(pkcs1DER: pub + tail) }
            #expect(e2?.code == .decodeFailed)
        }
    }

    @Test func privateDERIsNotAPublicKeyAndViceVersa() throws {
        #expect(throws: CryptoError.self) { _ = try RSAPublicKey(pkcs1DER: Self.key1024.dangerouslyExportPKCS1DER()) }
        #expect(throws: CryptoError.self) { _ = try RSAPrivateKey(pkcs1DER: Self.key1024.publicKey.pkcs1DER) }
    }

    @Test(arguments: [
        "",
        "hello",
        "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nnot base64 at all!!\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n",
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
    ])
    func garbagePEMThrows(pem: String) {
        let e = #expect(throws: CryptoError.self) { _ = try RSAPrivateKey(pem: pem) }
        #expect(e?.code == .decodeFailed)
    }

    @Test func corruptedPEMBodyThrows() throws {
        let pem = Self.key1024.dangerouslyExportPEM()
        var lines = pem.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Drop a body line: the DER inside is truncated.
        lines.remove(at: 3)
        #expect(throws: CryptoError.self) { _ = try RSAPrivateKey(pem: lines.joined(separator: "\n")) }
    }
}

/// Just enough arbitrary-precision arithmetic to compute s^e mod n for the padding check,
/// independent of OpenSSL. Little-endian 32-bit limbs; slow but tiny.
enum RawRSA {
    /// (n, e) big-endian magnitudes from PKCS#1 `RSAPublicKey` DER.
    static func parsePublicDER(_ der: [UInt8]) -> (n: [UInt8], e: [UInt8])? {
        var i = 0
        /// Reads a tag and DER length; leaves `i` at the start of the contents.
        func header(_ tag: UInt8) -> Int? {
            guard i + 2 <= der.count, der[i] == tag else { return nil }
            var len = Int(der[i + 1])
            i += 2
            if len & 0x80 != 0 {
                let k = len & 0x7f
                guard k >= 1, k <= 2, i + k <= der.count else { return nil }
                len = der[i ..< i + k].reduce(0) { $0 << 8 | Int($1) }
                i += k
            }
            return i + len <= der.count ? len : nil
        }
        func integer() -> [UInt8]? {
            guard let len = header(0x02) else { return nil }
            var v = Array(der[i ..< i + len])
            i += len
            while v.first == 0 { v.removeFirst() }
            return v
        }
        guard let seqLen = header(0x30), i + seqLen == der.count,
              let n = integer(), let e = integer(), i == der.count else { return nil }
        return (n, e)
    }

    static func modPow(_ base: [UInt8], _ exponent: [UInt8], _ modulus: [UInt8]) -> [UInt8] {
        let limbs = (modulus.count + 3) / 4 + 1
        let n = toLimbs(modulus, limbs)
        var b = toLimbs(base, limbs)
        while geq(b, n) { sub(&b, n) }
        var acc = toLimbs([1], limbs)
        for byte in exponent {
            for bit in (0 ..< 8).reversed() {
                acc = mulMod(acc, acc, n)
                if (byte >> bit) & 1 == 1 { acc = mulMod(acc, b, n) }
            }
        }
        return toBytes(acc, modulus.count)
    }

    private static func toLimbs(_ be: [UInt8], _ count: Int) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: count)
        for (k, byte) in be.reversed().enumerated() { out[k / 4] |= UInt32(byte) << (8 * UInt32(k % 4)) }
        return out
    }

    private static func toBytes(_ limbs: [UInt32], _ count: Int) -> [UInt8] {
        (0 ..< count).reversed().map { k in UInt8(truncatingIfNeeded: limbs[k / 4] >> (8 * UInt32(k % 4))) }
    }

    private static func geq(_ a: [UInt32], _ b: [UInt32]) -> Bool {
        for k in (0 ..< a.count).reversed() where a[k] != b[k] { return a[k] > b[k] }
        return true
    }

    private static func sub(_ a: inout [UInt32], _ b: [UInt32]) {
        var borrow: UInt64 = 0
        for k in 0 ..< a.count {
            let d = UInt64(a[k]) &- UInt64(b[k]) &- borrow
            a[k] = UInt32(truncatingIfNeeded: d)
            borrow = (d >> 63) & 1
        }
    }

    private static func add(_ a: inout [UInt32], _ b: [UInt32]) {
        var carry: UInt64 = 0
        for k in 0 ..< a.count {
            let s = UInt64(a[k]) + UInt64(b[k]) + carry
            a[k] = UInt32(truncatingIfNeeded: s)
            carry = s >> 32
        }
    }

    private static func shl1(_ a: inout [UInt32]) {
        var carry: UInt32 = 0
        for k in 0 ..< a.count {
            let next = a[k] >> 31
            a[k] = a[k] << 1 | carry
            carry = next
        }
    }

    /// a·b mod n by double-and-add over the bits of b (a, b < n; one spare limb holds 2n).
    private static func mulMod(_ a: [UInt32], _ b: [UInt32], _ n: [UInt32]) -> [UInt32] {
        var acc = [UInt32](repeating: 0, count: n.count)
        for k in (0 ..< b.count).reversed() {
            for bit in (0 ..< 32).reversed() {
                shl1(&acc)
                if geq(acc, n) { sub(&acc, n) }
                if (b[k] >> UInt32(bit)) & 1 == 1 {
                    add(&acc, a)
                    if geq(acc, n) { sub(&acc, n) }
                }
            }
        }
        return acc
    }
}
