import Testing
import TorCrypto

/// Ed25519 known answers from RFC 8032 §7.1 (seed → public key → deterministic signature),
/// and rejection of tampered signatures and messages.
@Suite struct Ed25519Tests {
    let file: VectorFile
    init() throws { file = try VectorFile("ed25519") }

    @Test func vectorCount() {
        #expect(file.vectors.count == 5)
    }

    @Test func seedToPublicKeyAndSignature() throws {
        for v in file.vectors {
            let key = try Ed25519SecretKey(seed: v.hex("secret_key"))
            let message = try v.hex("message"), signature = try v.hex("signature")
            #expect(key.publicKey.bytes.hexString == (try v.hex("public_key")).hexString, "\(v.name): public key")
            let sig = key.sign(message)
            #expect(sig.count == 64, "\(v.name)")
            #expect(sig.hexString == signature.hexString, "\(v.name): signature")
            #expect(key.publicKey.isValidSignature(signature, for: message), "\(v.name): verify")
        }
    }

    @Test func expandedKeyRoundTrip() throws {
        for v in file.vectors {
            let seed = try v.hex("secret_key")
            let key = try Ed25519SecretKey(seed: seed)
            let expanded = key.dangerouslyExportExpanded()
            // RFC 8032 §5.1.5: clamped SHA-512(seed).
            var h = Digest.sha512(seed)
            h[0] &= 248
            h[31] &= 63
            h[31] |= 64
            #expect(expanded == h, "\(v.name): expansion")
            let again = try Ed25519SecretKey(expanded: expanded)
            #expect(again.publicKey == key.publicKey, "\(v.name)")
            #expect(again.sign(try v.hex("message")).hexString == (try v.hex("signature")).hexString, "\(v.name)")
        }
    }

    @Test func verificationRejectsTamperedSignature() throws {
        for v in file.vectors {
            let pub = try Ed25519PublicKey(bytes: v.hex("public_key"))
            let message = try v.hex("message"), signature = try v.hex("signature")
            for (byte, bit) in [(0, 0), (31, 7), (32, 0), (40, 3), (63, 4)] {
                var bad = signature
                bad[byte] ^= 1 << bit
                #expect(!pub.isValidSignature(bad, for: message), "\(v.name): flipped sig byte \(byte) bit \(bit)")
            }
            #expect(!pub.isValidSignature(Array(signature.prefix(63)), for: message), "\(v.name): short sig")
            #expect(!pub.isValidSignature(signature + [0], for: message), "\(v.name): long sig")
            #expect(!pub.isValidSignature([UInt8](repeating: 0, count: 64), for: message), "\(v.name): zero sig")
        }
    }

    @Test func verificationRejectsTamperedMessage() throws {
        for v in file.vectors {
            let pub = try Ed25519PublicKey(bytes: v.hex("public_key"))
            let message = try v.hex("message"), signature = try v.hex("signature")
            #expect(!pub.isValidSignature(signature, for: message + [0]), "\(v.name): appended byte")
            if !message.isEmpty {
                var bad = message
                bad[bad.count / 2] ^= 0x01
                #expect(!pub.isValidSignature(signature, for: bad), "\(v.name): flipped bit")
                #expect(!pub.isValidSignature(signature, for: Array(message.dropLast())), "\(v.name): truncated")
            }
        }
    }

    @Test func verificationRejectsWrongKey() throws {
        let vs = file.vectors
        try #require(vs.count >= 2)
        for (i, v) in vs.enumerated() {
            let other = try Ed25519PublicKey(bytes: vs[(i + 1) % vs.count].hex("public_key"))
            #expect(!other.isValidSignature(try v.hex("signature"), for: try v.hex("message")), "\(v.name)")
        }
    }

    @Test func base64RoundTrip() throws {
        for v in file.vectors {
            let pub = try Ed25519PublicKey(bytes: v.hex("public_key"))
            #expect(pub.base64.count == 43, "\(v.name): unpadded base64 of 32 bytes")
            #expect(!pub.base64.contains("="), "\(v.name)")
            #expect(try Ed25519PublicKey(base64: pub.base64) == pub, "\(v.name)")
            #expect(try Ed25519PublicKey(base64: pub.base64 + "=") == pub, "\(v.name): padded form accepted")
            #expect(pub.description == pub.base64)
        }
        #expect(throws: CryptoError.self) { _ = try Ed25519PublicKey(base64: "AAAA") }
        #expect(throws: CryptoError.self) { _ = try Ed25519PublicKey(base64: "!!not base64!!") }
    }

    @Test func unclampedExpandedKeyIsRefused() throws {
        let v = try #require(file.vectors.first)
        let expanded = try Ed25519SecretKey(seed: v.hex("secret_key")).dangerouslyExportExpanded()
        for (byte, mask) in [(0, UInt8(1)), (0, 4), (31, 0x80), (31, 0x40)] {
            var bad = expanded
            bad[byte] ^= mask
            let e = #expect(throws: CryptoError.self) { _ = try Ed25519SecretKey(expanded: bad) }
            #expect(e?.code == .invalidKey, "byte \(byte) mask \(mask)")
        }
    }

    @Test func badLengthsThrow() {
        #expect(throws: CryptoError.self) { _ = try Ed25519SecretKey(seed: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: CryptoError.self) { _ = try Ed25519SecretKey(expanded: [UInt8](repeating: 0x40, count: 63)) }
        #expect(throws: CryptoError.self) { _ = try Ed25519PublicKey(bytes: [UInt8](repeating: 1, count: 33)) }
    }
}

@Suite struct SecretRedactionTests {
    /// A value holding secrets, as a service struct would.
    struct Holder { let ed: Ed25519SecretKey; let curve: Curve25519SecretKey; let rsa: RSAPrivateKey }

    @Test func secretKeysNeverPrintTheirBytes() throws {
        var rng = SystemRandom()
        let ed = Ed25519SecretKey.generate(using: &rng), curve = Curve25519SecretKey.generate(using: &rng)
        let rsa = try RSAPrivateKey.generate(bits: 1024)
        let h = Holder(ed: ed, curve: curve, rsa: rsa)
        var dumped = ""
        dump(h, to: &dumped)
        for text in [String(describing: h), String(reflecting: h), "\(h)", dumped] {
            for secret in [ed.dangerouslyExportExpanded(), curve.dangerouslyExportSecret()] {
                #expect(!text.contains(secret.hexString) && !text.contains("\(secret)"), "\(text)")
                #expect(!text.contains("\(Array(secret.prefix(8)))".dropLast()), "\(text)")
            }
            #expect(text.contains("redacted"))
        }
    }
}
