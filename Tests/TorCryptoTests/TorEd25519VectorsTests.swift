import Testing
import TorCrypto

/// Tor's own Ed25519 vectors (torproject/tor src/test/ed25519_vectors.inc): expanded keys,
/// self-signatures, and the Curve25519 ↔ Ed25519 conversion used by the ntor-onion-key
/// cross-certificate. The blinding fields are not checked (key blinding is not implemented).
@Suite struct TorEd25519VectorsTests {
    let file: VectorFile
    init() throws { file = try VectorFile("tor_ed25519_vectors") }

    @Test func vectorCount() {
        #expect(file.vectors.count == 10)
    }

    @Test func seedExpandsToExpandedKey() throws {
        for v in file.vectors {
            let key = try Ed25519SecretKey(seed: v.hex("secret_key"))
            #expect(key.dangerouslyExportExpanded().hexString == (try v.hex("expanded_secret_key")).hexString, "\(v.name)")
            #expect(key.publicKey.bytes.hexString == (try v.hex("public_key")).hexString, "\(v.name)")
        }
    }

    @Test func expandedKeyGivesPublicKey() throws {
        for v in file.vectors {
            let key = try Ed25519SecretKey(expanded: v.hex("expanded_secret_key"))
            #expect(key.publicKey.bytes.hexString == (try v.hex("public_key")).hexString, "\(v.name)")
            #expect(key.dangerouslyExportExpanded() == (try v.hex("expanded_secret_key")), "\(v.name)")
        }
    }

    @Test func selfSignature() throws {
        for v in file.vectors {
            let key = try Ed25519SecretKey(expanded: v.hex("expanded_secret_key"))
            let message = try v.hex("message"), signature = try v.hex("signature")
            #expect(message == (try v.hex("public_key")), "\(v.name): message is the public key")
            #expect(key.sign(message).hexString == signature.hexString, "\(v.name): signature")
            let pub = try Ed25519PublicKey(bytes: v.hex("public_key"))
            #expect(pub.isValidSignature(signature, for: message), "\(v.name): verify")
            var bad = signature
            bad[10] ^= 0x20
            #expect(!pub.isValidSignature(bad, for: message), "\(v.name): tampered signature")
            var badMessage = message
            badMessage[0] ^= 1
            #expect(!pub.isValidSignature(signature, for: badMessage), "\(v.name): tampered message")
        }
    }

    @Test func curve25519PublicKeyFromExpandedScalar() throws {
        for v in file.vectors {
            let scalar = Array(try v.hex("expanded_secret_key")[0 ..< 32])
            let c = try Curve25519SecretKey(bytes: scalar)
            // The Ed25519 scalar is already clamped, so the curve25519 secret is unchanged.
            #expect(c.dangerouslyExportSecret() == scalar, "\(v.name)")
            #expect(c.publicKey.bytes.hexString == (try v.hex("curve25519_public_key")).hexString, "\(v.name)")
        }
    }

    @Test func ed25519EquivalentOfCurve25519PublicKey() throws {
        for v in file.vectors {
            let edPub = try v.hex("public_key")
            let signBit = edPub[31] >> 7
            let cPub = try Curve25519PublicKey(bytes: v.hex("curve25519_public_key"))
            let converted = try cPub.ed25519Equivalent(signBit: signBit)
            #expect(converted.bytes.hexString == edPub.hexString, "\(v.name)")
            // The other sign bit gives a different key.
            let flipped = try cPub.ed25519Equivalent(signBit: signBit ^ 1)
            #expect(flipped.bytes != edPub, "\(v.name): opposite sign bit")
            #expect(flipped.bytes[31] ^ edPub[31] == 0x80 && Array(flipped.bytes[0 ..< 31]) == Array(edPub[0 ..< 31]),
                    "\(v.name): only the sign bit differs")
        }
        let any = try Curve25519PublicKey(bytes: [UInt8](repeating: 9, count: 32))
        let e = #expect(throws: CryptoError.self) { _ = try any.ed25519Equivalent(signBit: 2) }
        #expect(e?.code == .invalidKey)
    }

    /// CTor's ed25519_keypair_from_curve25519_keypair: same scalar (so same public key and sign
    /// bit), but its own nonce prefix; signatures it makes verify under the converted key.
    @Test func derivedEd25519KeyFromCurve25519Secret() throws {
        for v in file.vectors {
            let expanded = try v.hex("expanded_secret_key"), edPub = try v.hex("public_key")
            let c = try Curve25519SecretKey(bytes: Array(expanded[0 ..< 32]))
            let (derived, signBit) = c.derivedEd25519Key()
            #expect(derived.publicKey.bytes.hexString == edPub.hexString, "\(v.name): public key")
            #expect(signBit == edPub[31] >> 7, "\(v.name): sign bit")

            let dExp = derived.dangerouslyExportExpanded()
            #expect(Array(dExp[0 ..< 32]) == Array(expanded[0 ..< 32]), "\(v.name): scalar half")
            let label = Array("Derive high part of ed25519 key from curve25519 key".utf8) + [0]
            #expect(Array(dExp[32 ..< 64]) == Array(Digest.sha512(Array(expanded[0 ..< 32]) + label).prefix(32)),
                    "\(v.name): upper half")
            #expect(Array(dExp[32 ..< 64]) != Array(expanded[32 ..< 64]), "\(v.name): upper half differs")

            // Cross-certificate shape: sign with the derived key, verify with the key a verifier
            // computes from the published curve25519 key and the sign bit.
            let message = Array("ntor-onion-key-crosscert test ".utf8) + edPub
            let sig = derived.sign(message)
            let verifierKey = try c.publicKey.ed25519Equivalent(signBit: signBit)
            #expect(verifierKey.bytes == edPub, "\(v.name)")
            #expect(verifierKey.isValidSignature(sig, for: message), "\(v.name): cross-cert verifies")
            // Different nonce prefix, so a different (still valid) signature from the original key.
            let original = try Ed25519SecretKey(expanded: expanded)
            #expect(original.sign(message) != sig, "\(v.name): nonce prefix differs")
            #expect(verifierKey.isValidSignature(original.sign(message), for: message), "\(v.name)")
        }
    }
}
