import Testing
import TorCrypto

/// X25519 known answers (RFC 7748 §5.2 and the §6.1 Alice/Bob exchange) and the rejection of
/// small-order peer points Tor's handshakes require.
@Suite struct X25519Tests {
    let file: VectorFile
    init() throws { file = try VectorFile("x25519") }

    static let basePoint: [UInt8] = [9] + [UInt8](repeating: 0, count: 31)

    func vectors(kind: String) -> [Vector] {
        file.vectors.filter { ($0.fields["kind"] as? String) == kind }
    }

    @Test func vectorCounts() {
        #expect(file.vectors.count == 3)
        #expect(vectors(kind: "scalarmult").count == 2)
        #expect(vectors(kind: "dh").count == 1)
    }

    @Test func scalarMultKnownAnswers() throws {
        for v in vectors(kind: "scalarmult") {
            let out = try X25519.scalarMult(scalar: v.hex("scalar"), point: v.hex("u"))
            #expect(out.hexString == (try v.hex("output")).hexString, "\(v.name)")
        }
    }

    /// RFC 7748 §5: the top bit of u is ignored (vector 2's u has it set).
    @Test func topBitOfUIsMasked() throws {
        for v in vectors(kind: "scalarmult") {
            var u = try v.hex("u")
            u[31] ^= 0x80
            let out = try X25519.scalarMult(scalar: v.hex("scalar"), point: u)
            #expect(out.hexString == (try v.hex("output")).hexString, "\(v.name)")
        }
    }

    @Test func diffieHellmanKnownAnswer() throws {
        for v in vectors(kind: "dh") {
            let alicePriv = try v.hex("alice_private"), bobPriv = try v.hex("bob_private")
            let alicePub = try v.hex("alice_public"), bobPub = try v.hex("bob_public")
            let shared = try v.hex("shared")

            // Raw scalar multiplication by the base point and by the peer's key.
            #expect(try X25519.scalarMult(scalar: alicePriv, point: Self.basePoint) == alicePub, "\(v.name)")
            #expect(try X25519.scalarMult(scalar: bobPriv, point: Self.basePoint) == bobPub, "\(v.name)")
            #expect(try X25519.scalarMult(scalar: alicePriv, point: bobPub).hexString == shared.hexString, "\(v.name)")
            #expect(try X25519.scalarMult(scalar: bobPriv, point: alicePub).hexString == shared.hexString, "\(v.name)")

            // Through the key types.
            let alice = try Curve25519SecretKey(bytes: alicePriv)
            let bob = try Curve25519SecretKey(bytes: bobPriv)
            #expect(alice.publicKey.bytes.hexString == alicePub.hexString, "\(v.name): alice public")
            #expect(bob.publicKey.bytes.hexString == bobPub.hexString, "\(v.name): bob public")
            #expect(try alice.sharedSecret(with: Curve25519PublicKey(bytes: bobPub)).hexString == shared.hexString)
            #expect(try bob.sharedSecret(with: Curve25519PublicKey(bytes: alicePub)).hexString == shared.hexString)
        }
    }

    @Test func secretKeyIsStoredClamped() throws {
        for v in vectors(kind: "dh") {
            let raw = try v.hex("alice_private")
            var clamped = raw
            clamped[0] &= 248
            clamped[31] &= 127
            clamped[31] |= 64
            let key = try Curve25519SecretKey(bytes: raw)
            #expect(key.dangerouslyExportSecret() == clamped)
            // Clamping is idempotent and does not change the public key.
            let again = try Curve25519SecretKey(bytes: clamped)
            #expect(again.dangerouslyExportSecret() == clamped)
            #expect(again.publicKey == key.publicKey)
            // Flipping only bits that clamping clears gives the same key.
            var noisy = raw
            noisy[0] |= 7
            noisy[31] |= 0x80
            #expect(try Curve25519SecretKey(bytes: noisy).publicKey.bytes == (try v.hex("alice_public")))
        }
    }

    /// Small-order points give the all-zero output, which must throw `degenerateResult`.
    @Test(arguments: [
        [UInt8](repeating: 0, count: 32),                        // u = 0
        [1] + [UInt8](repeating: 0, count: 31),                  // u = 1 (order 4 point)
        [0xec] + [UInt8](repeating: 0xff, count: 30) + [0x7f],   // u = p - 1 (order 2)
    ])
    func smallOrderPointThrows(u: [UInt8]) throws {
        let scalar = try #require(vectors(kind: "dh").first).hex("alice_private")
        let e = #expect(throws: CryptoError.self) { _ = try X25519.scalarMult(scalar: scalar, point: u) }
        #expect(e?.code == .degenerateResult)
        let key = try Curve25519SecretKey(bytes: scalar)
        let e2 = #expect(throws: CryptoError.self) { _ = try key.sharedSecret(with: Curve25519PublicKey(bytes: u)) }
        #expect(e2?.code == .degenerateResult)
    }

    @Test func badLengthsThrow() {
        let ok = [UInt8](repeating: 5, count: 32)
        for (s, p) in [([UInt8](repeating: 5, count: 31), ok), (ok, [UInt8](repeating: 5, count: 33))] {
            let e = #expect(throws: CryptoError.self) { _ = try X25519.scalarMult(scalar: s, point: p) }
            #expect(e?.code == .invalidLength)
        }
        #expect(throws: CryptoError.self) { _ = try Curve25519SecretKey(bytes: [1, 2, 3]) }
        #expect(throws: CryptoError.self) { _ = try Curve25519PublicKey(bytes: []) }
    }
}
