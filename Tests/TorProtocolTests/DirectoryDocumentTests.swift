import Foundation
import Testing
import TorCrypto
@testable import TorProtocol

/// Documents made by CTor 0.4.9.11 (Vectors/ctor-0.4.9.11-privnet/README.md) and by us.
@Suite struct DirectoryDocumentTests {
    static func vector(_ name: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "txt", subdirectory: "Vectors/ctor-0.4.9.11-privnet"))
        return Array(try Data(contentsOf: url))
    }

    static let auth1 = try! [UInt8](hex: "A2256FA0EF98A86B360CE2EBBB26BBF02DFB5C55")!
    /// Inside the vectors' validity: the consensus's valid-after.
    static let vectorTime = NetDoc.parseTime("2026-11-22 07:31:20")!

    // MARK: CTor's documents

    @Test func ctorAuthorityCertificateVerifies() throws {
        let cert = try AuthorityCertificate(parsing: Self.vector("authority-certificate"), now: Self.vectorTime)
        #expect(cert.v3Identity == Self.auth1)
        #expect(cert.expires == NetDoc.parseTime("2027-11-22 07:29:41"))
        #expect(cert.text == (try Self.vector("authority-certificate")))
    }

    @Test func tamperedAuthorityCertificateIsRefused() throws {
        var bytes = try Self.vector("authority-certificate")
        let at = try #require(bytes.firstRange(of: Array("dir-key-expires 2027".utf8)))
        bytes[at.lowerBound + 19] = UInt8(ascii: "8")  // 2027 -> 2028
        #expect(throws: TorProtocolError.self) { try AuthorityCertificate(parsing: bytes, now: Self.vectorTime) }
    }

    @Test func expiredAuthorityCertificateIsRefused() throws {
        let later = NetDoc.parseTime("2027-11-23 00:00:00")!
        let e = #expect(throws: TorProtocolError.self) { try AuthorityCertificate(parsing: Self.vector("authority-certificate"), now: later) }
        #expect(e?.code == .expired)
    }

    @Test func ctorMicrodescConsensusVerifiesAndListsRouters() throws {
        let cert = try AuthorityCertificate(parsing: Self.vector("authority-certificate"), now: Self.vectorTime)
        let c = try Consensus(parsing: Self.vector("consensus-microdesc"), certificates: [cert], authorities: [Self.auth1], now: Self.vectorTime)
        #expect(c.flavor == .microdesc)
        #expect(c.validAfter == Self.vectorTime)
        #expect(c.freshUntil == Self.vectorTime + 10)
        #expect(c.signedBy == [Self.auth1])
        #expect(c.routers.map(\.nickname) == ["auth1", "rn1"])
        let rn1 = try #require(c.routers.last)
        #expect(rn1.identity == [UInt8](hex: "D86F9F7677E3200160AC0E07B083509D125D5A0C"))
        #expect(rn1.orPort == 17010)
        #expect(rn1.flags == ["Exit", "Fast", "Guard", "HSDir", "Running", "Stable", "V2Dir", "Valid"])
        #expect(rn1.protocols?.contains("Relay=2-4") == true)
        #expect(c.satisfies(requestedPrefixes: ["A225"]))
        #expect(!c.satisfies(requestedPrefixes: ["FFFF"]))
        #expect(!c.satisfies(requestedPrefixes: ["A225", "FFFF", "EEEE"]))
        // Its microdescriptors are the ones in the microdescs vector.
        let mds = Microdescriptors.split(try Self.vector("microdescs"))
        #expect(Set(mds.map(\.digest)) == Set(c.routers.compactMap(\.microdescDigest)))
    }

    @Test func ctorNSConsensusVerifies() throws {
        let cert = try AuthorityCertificate(parsing: Self.vector("authority-certificate"), now: Self.vectorTime)
        let c = try Consensus(parsing: Self.vector("consensus-ns"), certificates: [cert], authorities: [Self.auth1], now: Self.vectorTime)
        #expect(c.flavor == .ns)
        #expect(c.routers.count == 2)
        #expect(c.routers.allSatisfy { $0.flags.contains("Running") })
    }

    @Test func consensusNeedsMoreThanHalfOfTheAuthorities() throws {
        let cert = try AuthorityCertificate(parsing: Self.vector("authority-certificate"), now: Self.vectorTime)
        let other = [UInt8](repeating: 7, count: 20)
        let e = #expect(throws: TorProtocolError.self) {
            try Consensus(parsing: Self.vector("consensus-microdesc"), certificates: [cert], authorities: [Self.auth1, other], now: Self.vectorTime)
        }
        #expect(e?.code == .badSignature)
        // Without the certificate nothing verifies.
        #expect(throws: TorProtocolError.self) {
            try Consensus(parsing: Self.vector("consensus-microdesc"), certificates: [], authorities: [Self.auth1], now: Self.vectorTime)
        }
    }

    @Test func tamperedOrExpiredConsensusIsRefused() throws {
        let cert = try AuthorityCertificate(parsing: Self.vector("authority-certificate"), now: Self.vectorTime)
        var bytes = try Self.vector("consensus-microdesc")
        let at = try #require(bytes.firstRange(of: Array("s Exit Fast Guard".utf8)))
        bytes[at.lowerBound + 2] = UInt8(ascii: "e")
        let e = #expect(throws: TorProtocolError.self) {
            try Consensus(parsing: bytes, certificates: [cert], authorities: [Self.auth1], now: Self.vectorTime)
        }
        #expect(e?.code == .badSignature)
        let late = #expect(throws: TorProtocolError.self) {
            try Consensus(parsing: Self.vector("consensus-microdesc"), certificates: [cert], authorities: [Self.auth1], now: Self.vectorTime + 3600)
        }
        #expect(late?.code == .expired)
    }

    @Test func ctorServerDescriptorVerifies() throws {
        let bytes = try Self.vector("server-descriptor-auth1")
        let d = try VerifiedServerDescriptor(parsing: bytes, now: Self.vectorTime)
        #expect(d.nickname == "auth1")
        #expect(d.fingerprint.hex == "665547FE0B877FF9A35F7DA6E876ACA79A67E412")
    }

    // MARK: ours

    func keys() throws -> RelayKeys {
        var r = TestRandom(seed: 5)
        return try RelayKeys.generate(now: Self.vectorTime, lifetimes: KeyLifetimes(), using: &r)
    }

    func content(_ policy: ExitPolicy = .rejectAll) -> ServerDescriptorContent {
        var c = ServerDescriptorContent(nickname: "rn1", address: [127, 0, 0, 1], orPort: 9001, platform: "relaynode 0.1.0 on Linux",
                                        proto: ServerDescriptor.supportedProtocols, published: Self.vectorTime, uptime: 5,
                                        bandwidthRate: 1 << 30, bandwidthBurst: 1 << 30, bandwidthObserved: 12345, exitPolicy: policy)
        c.contact = "rn1@test.test"
        c.family = ["$" + String(repeating: "AB", count: 20)]
        return c
    }

    @Test func ourDescriptorVerifiesAndHasCTorsItemOrder() throws {
        let k = try keys()
        let d = try ServerDescriptor(content: content(), keys: k)
        let v = try VerifiedServerDescriptor(parsing: d.bytes, now: Self.vectorTime)
        #expect(v.fingerprint == k.rsaFingerprint)
        #expect(v.ed25519Identity == k.masterPublic)
        #expect(v.digest == d.digest)
        #expect(v.published == Self.vectorTime)
        let keywords = v.doc.items.map(\.keyword)
        #expect(keywords == ["router", "identity-ed25519", "master-key-ed25519", "platform", "proto", "published", "fingerprint",
                             "uptime", "bandwidth", "onion-key", "signing-key", "onion-key-crosscert", "ntor-onion-key-crosscert",
                             "family", "contact", "ntor-onion-key", "reject", "tunnelled-dir-server", "router-sig-ed25519", "router-signature"])
        #expect(d.text.hasPrefix("router rn1 127.0.0.1 9001 0 0\n"))
        #expect(d.text.contains("\nbandwidth 1073741824 1073741824 12345\n"))
        #expect(!d.text.contains("platform Tor "))
    }

    @Test func everyByteOfOurDescriptorIsCovered() throws {
        let d = try ServerDescriptor(content: content(), keys: keys())
        let original = d.bytes
        // Flip one byte in each line's text (not in the RSA signature object): verification fails.
        let doc = try NetDoc(parsing: original, source: "ours")
        for item in doc.items.dropLast() {
            var b = original
            let at = item.lineRange.lowerBound + 1
            b[at] = b[at] == UInt8(ascii: "x") ? UInt8(ascii: "y") : UInt8(ascii: "x")
            #expect(throws: (any Error).self, "changed \(item.keyword)") { try VerifiedServerDescriptor(parsing: b, now: Self.vectorTime) }
        }
    }

    @Test func exitPolicyLinesAreIPv4AndEndAtTheCatchAll() throws {
        let policy = try ExitPolicy.effective(configured: ["accept 127.0.0.1:*", "accept *:8080", "accept [::1]:*", "reject *:*"],
                                              rejectPrivate: false)
        #expect(ServerDescriptor.policyLines(policy) == ["accept 127.0.0.1:*", "accept *:8080", "reject *:*"])
        let withPrivate = try ExitPolicy.effective(configured: ["accept *:443"], rejectPrivate: true, ownAddresses: [[203, 0, 113, 5]])
        let lines = ServerDescriptor.policyLines(withPrivate)
        #expect(lines.first == "reject 0.0.0.0/8:*")
        #expect(lines.contains("reject 203.0.113.5:*"))
        #expect(lines.contains("accept *:443"))
        #expect(lines.last == "accept *:*")
        #expect(ServerDescriptor.policyLines(.rejectAll) == ["reject *:*"])
    }

    @Test func extraInfoDigestsMatchTheDocument() throws {
        let k = try keys()
        let hist = ["write-history 2026-11-22 00:00:00 (86400 s) 1024,2048", "read-history 2026-11-22 00:00:00 (86400 s) 0,3072"]
        let x = try ExtraInfoDocument(nickname: "rn1", keys: k, published: Self.vectorTime, historyLines: hist)
        let bytes = Array(x.text.utf8)
        let end = try #require(bytes.firstRange(of: Array("\nrouter-signature\n".utf8)))
        #expect(x.sha1Hex == Digest.sha1(Array(bytes[..<end.upperBound])).upperHexString)
        #expect(x.sha256Base64 == Digest.sha256(bytes).base64Unpadded)
        #expect(x.text.hasPrefix("extra-info rn1 \(k.rsaFingerprint.hex)\nidentity-ed25519\n"))
        #expect(x.text.contains("\n" + hist[0] + "\n" + hist[1] + "\n"))
        var c = content()
        c.extraInfoDigest = (x.sha1Hex, x.sha256Base64)
        let d = try ServerDescriptor(content: c, keys: k)
        #expect(d.text.contains("\nextra-info-digest \(x.sha1Hex) \(x.sha256Base64)\n"))
    }

    @Test func badContentIsRefusedBeforeSigning() throws {
        let k = try keys()
        var c = content()
        c.platform = "Tor 0.4.9.11"
        #expect(throws: TorProtocolError.self) { try ServerDescriptor(content: c, keys: k) }
        c = content()
        c.nickname = "has space"
        #expect(throws: TorProtocolError.self) { try ServerDescriptor(content: c, keys: k) }
        c = content()
        c.contact = "two\nlines"
        #expect(throws: TorProtocolError.self) { try ServerDescriptor(content: c, keys: k) }
    }

    @Test func netDocRejectsBrokenObjects() {
        for bad in ["router x\n-----BEGIN SIG-----\nAAAA\n", "router x\n-----BEGIN SIG-----\nAAAA\n-----END OTHER-----\n",
                    "-----BEGIN SIG-----\n", "router x", "b@d x\n", "\t\n"] {
            #expect(throws: TorProtocolError.self, "\(bad)") { try NetDoc(parsing: Array(bad.utf8), source: "t") }
        }
    }

    @Test func dirAuthorityLines() throws {
        let a = try DirAuthorityConfig(parsing: "auth1 orport=17002 no-v2 v3ident=A2256FA0EF98A86B360CE2EBBB26BBF02DFB5C55 127.0.0.1:17001 6655 47FE 0B87 7FF9 A35F 7DA6 E876 ACA7 9A67 E412", "t:1")
        #expect(a.nickname == "auth1")
        #expect(a.orPort == 17002)
        #expect(a.dirPort == 17001)
        #expect(a.address == "127.0.0.1")
        #expect(a.v3Identity == Self.auth1)
        #expect(a.fingerprint.hex == "665547FE0B877FF9A35F7DA6E876ACA79A67E412")
        for bad in ["auth1 127.0.0.1:17001 665547FE0B877FF9A35F7DA6E876ACA79A67E412",  // no v3ident
                    "auth1 v3ident=A2256FA0EF98A86B360CE2EBBB26BBF02DFB5C55 127.0.0.1 665547FE0B877FF9A35F7DA6E876ACA79A67E412",
                    "auth1 v3ident=A2256FA0EF98A86B360CE2EBBB26BBF02DFB5C55 127.0.0.1:17001 6655",
                    "auth1 bogus=1 v3ident=A2256FA0EF98A86B360CE2EBBB26BBF02DFB5C55 127.0.0.1:17001 665547FE0B877FF9A35F7DA6E876ACA79A67E412"] {
            #expect(throws: TorProtocolError.self, "\(bad)") { try DirAuthorityConfig(parsing: bad, "t:1") }
        }
    }
}
