import Testing
import TorCrypto
@testable import TorProtocol

/// The shared key-material type.
@Suite struct HandshakeCircuitKeysTests {
    @Test func splitsAndRejoins() throws {
        let material = Array(0..<72).map { UInt8($0) }, nonce = [UInt8](repeating: 0xAA, count: 20)
        let k = try CircuitKeys(tor1KeyMaterial: material, nonce: nonce)
        #expect(k.forwardDigestSeed.count == 20 && k.backwardDigestSeed.count == 20)
        #expect(k.forwardKey.count == 16 && k.backwardKey.count == 16)
        #expect(k.forwardKey.first == 40 && k.backwardKey.last == 71)
        #expect(k.tor1KeyMaterial == material)
        #expect(k == (try CircuitKeys(tor1KeyMaterial: material, nonce: nonce)))
        #expect(k != (try CircuitKeys(tor1KeyMaterial: material, nonce: [UInt8](repeating: 0, count: 20))))
        expectHandshakeError(.malformed, "71 bytes") { _ = try CircuitKeys(tor1KeyMaterial: Array(material.dropLast()), nonce: nonce) }
        expectHandshakeError(.malformed, "19-byte KH") { _ = try CircuitKeys(tor1KeyMaterial: material, nonce: Array(nonce.dropLast())) }
    }
}
