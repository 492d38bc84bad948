import Foundation
import Testing
import TestSupport
import TorCrypto

/// X.509 certificates as Tor uses them (tor-relay-checklist §3.1, §3.4): the TLS link
/// certificate and the self-signed RSA-1024 identity certificate, checked against the real
/// `openssl` CLI as an independent parser.
@Suite(.testThreads) struct X509CertificateTests {
    static let identityKey = try! RSAPrivateKey.generate(bits: 1024)
    static let linkKey = try! RSAPrivateKey.generate(bits: 2048)
    static let otherKey = try! RSAPrivateKey.generate(bits: 1024)
    /// 2026-03-15T12:34:56Z
    static let now = Date(timeIntervalSince1970: 1_773_578_096)

    static func linkCertificate(notAfter: Date = now.addingTimeInterval(30 * 86_400)) throws -> X509Certificate {
        try X509Certificate.issue(subjectKey: linkKey.publicKey, issuerKey: identityKey,
                                  subjectCommonName: "www.abcdefgh.net", issuerCommonName: "www.ijklmnop.com",
                                  notBefore: Date(timeIntervalSince1970: 1_773_532_800), notAfter: notAfter,
                                  serial: [0x81, 2, 3, 4, 5, 6, 7, 8])
    }

    @Test func issueEncodeParseKeepsKeyAndValidity() throws {
        let cert = try Self.linkCertificate()
        let parsed = try X509Certificate(der: cert.der)
        #expect(parsed == cert)
        #expect(parsed.der == cert.der)
        #expect(try parsed.publicKey == Self.linkKey.publicKey)
        #expect(try parsed.publicKey.bits == 2048)
        #expect(parsed.notBefore == Date(timeIntervalSince1970: 1_773_532_800))
        #expect(parsed.notAfter == Self.now.addingTimeInterval(30 * 86_400))
        #expect(parsed.sha256Digest == Digest.sha256(cert.der))
        #expect(parsed.sha256Digest.count == 32)
    }

    @Test func validityAfter2049UsesGeneralizedTimeAndRoundTrips() throws {
        let late = Date(timeIntervalSince1970: 2_839_000_000)  // 2059-12-19
        let parsed = try X509Certificate(der: try Self.linkCertificate(notAfter: late).der)
        #expect(parsed.notAfter == late)
    }

    @Test func fractionalSecondsAreTruncated() throws {
        let parsed = try X509Certificate(der: try Self.linkCertificate(notAfter: Self.now.addingTimeInterval(0.75)).der)
        #expect(parsed.notAfter == Self.now)
    }

    @Test func signatureVerifiesOnlyUnderTheIssuerKey() throws {
        let cert = try X509Certificate(der: try Self.linkCertificate().der)
        #expect(cert.isSignedBy(Self.identityKey.publicKey))
        #expect(!cert.isSignedBy(Self.linkKey.publicKey))
        #expect(!cert.isSignedBy(Self.otherKey.publicKey))

        // The signature is the last BIT STRING: flipping its last byte keeps the DER valid.
        var tampered = cert.der
        tampered[tampered.count - 1] ^= 0x01
        let bad = try X509Certificate(der: tampered)
        #expect(!bad.isSignedBy(Self.identityKey.publicKey))
    }

    @Test func selfSignedIdentityCertificate() throws {
        let id = try X509Certificate.issue(subjectKey: Self.identityKey.publicKey, issuerKey: Self.identityKey,
                                           subjectCommonName: "www.ijklmnop.com", issuerCommonName: "www.ijklmnop.com",
                                           notBefore: Self.now, notAfter: Self.now.addingTimeInterval(365 * 86_400),
                                           serial: [1])
        #expect(id.isSignedBy(Self.identityKey.publicKey))
        #expect(try id.publicKey.bits == 1024)
        #expect(try id.publicKey == Self.identityKey.publicKey)
    }

    @Test func badIssueArgumentsAreRefused() throws {
        #expect(throws: CryptoError.self) {
            try X509Certificate.issue(subjectKey: Self.linkKey.publicKey, issuerKey: Self.identityKey,
                                      subjectCommonName: "a", issuerCommonName: "b", notBefore: Self.now,
                                      notAfter: Self.now, serial: [])
        }
        #expect(throws: CryptoError.self) {
            try X509Certificate.issue(subjectKey: Self.linkKey.publicKey, issuerKey: Self.identityKey,
                                      subjectCommonName: "a", issuerCommonName: "b", notBefore: Self.now,
                                      notAfter: Self.now.addingTimeInterval(-1), serial: [1])
        }
    }

    // MARK: - Bad input

    @Test func garbageEmptyAndTrailingBytesAreRefused() throws {
        let der = try Self.linkCertificate().der
        for bad in [[], [0x30], [0x30, 0x00], [UInt8](repeating: 0xFF, count: 600), Array("not a certificate".utf8), der + [0]] {
            #expect(throws: CryptoError.self) { try X509Certificate(der: bad) }
        }
        var rng = SplitMix(seed: 7)
        for _ in 0..<200 {
            let bytes = rng.bytes(Int(rng.bytes(1)[0]) + 1)
            #expect(throws: CryptoError.self) { try X509Certificate(der: bytes) }
        }
    }

    @Test func everyTruncationIsRefused() throws {
        let der = try Self.linkCertificate().der
        for n in 0..<der.count {
            #expect(throws: CryptoError.self) { try X509Certificate(der: Array(der.prefix(n))) }
        }
    }

    @Test func nonRSASubjectKeyThrowsOnPublicKey() throws {
        guard let openssl = OpenSSLCLI.path else { return }
        let dir = try OpenSSLCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try OpenSSLCLI.run(openssl, ["req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", dir + "/k.pem",
                                                  "-subj", "/CN=ed", "-days", "1", "-outform", "DER", "-out", dir + "/c.der"])
        #expect(result.status == 0, "\(result.output)")
        let cert = try X509Certificate(der: Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/c.der"))))
        #expect(throws: CryptoError.self) { _ = try cert.publicKey }
        #expect(!cert.isSignedBy(Self.identityKey.publicKey))
    }

    // MARK: - Independent parser

    @Test func opensslCLIAcceptsOurCertificate() throws {
        guard let openssl = OpenSSLCLI.path else { return }
        let cert = try Self.linkCertificate()
        let text = try OpenSSLCLI.describe(cert.der, with: openssl)
        #expect(text.contains("Version: 3 (0x2)"))
        #expect(text.contains("Signature Algorithm: sha256WithRSAEncryption"))
        #expect(!text.contains("X509v3 extensions"))
        #expect(text.contains("Issuer: CN = www.ijklmnop.com"))
        #expect(text.contains("Subject: CN = www.abcdefgh.net"))
        #expect(text.contains("Public-Key: (2048 bit)"))
        #expect(text.contains("Not Before: Mar 15 00:00:00 2026 GMT"))
        #expect(text.contains("81:02:03:04:05:06:07:08"))
    }

    // MARK: - CTor-style parameters

    @Test func ctorStyleParametersFollowCTor() throws {
        let day: TimeInterval = 86_400
        for seed in UInt64(0)..<300 {
            var rng = SplitMix(seed: seed)
            let link = X509CertificateParameters.ctorLink(issuerCommonName: "www.issuer.com", now: Self.now, using: &rng)
            let id = X509CertificateParameters.ctorIdentity(commonName: "www.issuer.com", now: Self.now, using: &rng)
            #expect(Self.isCTorHostname(link.subjectCommonName, suffix: ".net"))
            #expect(link.issuerCommonName == "www.issuer.com")
            #expect(id.subjectCommonName == "www.issuer.com" && id.issuerCommonName == "www.issuer.com")
            for p in [link, id] {
                #expect(p.serial.count == 8)
                #expect(p.notBefore.timeIntervalSince1970.truncatingRemainder(dividingBy: day) == 0, "midnight UTC")
                #expect(p.notBefore <= Self.now)
                #expect(p.notAfter.timeIntervalSince(Self.now) >= day, "at least a day of real lifetime")
            }
            let lifetime = link.notAfter.timeIntervalSince(link.notBefore)
            #expect(lifetime >= 5 * day - 1 && lifetime < 365 * day)
            #expect(lifetime.truncatingRemainder(dividingBy: day) == 0 || (lifetime + 1).truncatingRemainder(dividingBy: day) == 0)
            #expect(id.notAfter.timeIntervalSince(id.notBefore) == 365 * day)
        }
        var rng = SplitMix(seed: 1)
        let names = (0..<200).map { _ in X509CertificateParameters.ctorRandomHostname(suffix: ".com", using: &rng) }
        #expect(names.allSatisfy { Self.isCTorHostname($0, suffix: ".com") })
        #expect(Set(names.map(\.count)).count > 5, "random length 8–20")
        #expect(Set(names).count == names.count)
    }

    @Test func ctorStylePairIsConsistent() throws {
        var rng = SplitMix(seed: 42)
        let (link, identity) = try X509Certificate.issueCTorStyle(linkKey: Self.linkKey.publicKey, identityKey: Self.identityKey,
                                                                  now: Self.now, using: &rng)
        #expect(link.isSignedBy(Self.identityKey.publicKey))
        #expect(identity.isSignedBy(Self.identityKey.publicKey))
        #expect(try link.publicKey == Self.linkKey.publicKey)
        #expect(try identity.publicKey == Self.identityKey.publicKey)
        #expect(identity.notAfter.timeIntervalSince(identity.notBefore) == 365 * 86_400)

        var again = SplitMix(seed: 42)
        let (link2, _) = try X509Certificate.issueCTorStyle(linkKey: Self.linkKey.publicKey, identityKey: Self.identityKey,
                                                            now: Self.now, using: &again)
        #expect(link2.der == link.der, "deterministic given the random source (PKCS#1 v1.5 signatures are)")

        guard let openssl = OpenSSLCLI.path else { return }
        let linkText = try OpenSSLCLI.describe(link.der, with: openssl)
        let idText = try OpenSSLCLI.describe(identity.der, with: openssl)
        let issuer = try #require(linkText.firstMatch(of: /Issuer: CN = (www\.[a-z2-7]{8,20}\.com)/)?.1)
        #expect(linkText.contains(/Subject: CN = www\.[a-z2-7]{8,20}\.net\n/))
        #expect(idText.contains("Issuer: CN = \(issuer)\n"))
        #expect(idText.contains("Subject: CN = \(issuer)\n"))
        #expect(idText.contains("Public-Key: (1024 bit)"))
        #expect(!idText.contains("X509v3 extensions"))
    }

    static func isCTorHostname(_ name: String, suffix: String) -> Bool {
        guard name.hasPrefix("www."), name.hasSuffix(suffix) else { return false }
        let middle = name.dropFirst(4).dropLast(suffix.count)
        return (8...20).contains(middle.count) && middle.allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) }
    }
}

/// SplitMix64: a deterministic RandomSource for these tests.
private struct SplitMix: RandomSource {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        for i in 0..<buffer.count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            buffer[i] = UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }
}

/// Debian's `openssl` command, run with a hard time limit.
private enum OpenSSLCLI {
    static let path: String? = ["/usr/bin/openssl", "/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relayfleet-x509-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func describe(_ der: [UInt8], with openssl: String) throws -> String {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(der).write(to: URL(fileURLWithPath: dir + "/c.der"))
        let result = try run(openssl, ["x509", "-inform", "DER", "-in", dir + "/c.der", "-noout", "-text"])
        #expect(result.status == 0, "openssl x509 refused our DER: \(result.output)")
        return result.output
    }

    static func run(_ program: String, _ args: [String], timeout: TimeInterval = 20) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let pid = p.processIdentifier
        let killer = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        killer.cancel()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
