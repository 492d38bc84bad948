import Foundation
import Testing
import TorCrypto
@testable import TorProtocol

@Suite struct CTorKeyFileTests {
    @Test func headerIsTorsTaggedFormat() {
        var r = TestRandom(seed: 3)
        let k = Ed25519SecretKey.generate(using: &r)
        let bytes = CTorKeyFile.encodeEd25519Secret(k, tag: "type0")
        // As in a real CTor keys/ed25519_master_id_secret_key: 32-byte NUL-padded header + 64 bytes.
        let header = Array("== ed25519v1-secret: type0 ==".utf8)
        #expect(bytes.count == 96)
        #expect(Array(bytes[0..<header.count]) == header)
        #expect(bytes[header.count..<32].allSatisfy { $0 == 0 })
        #expect(Array(bytes[32...]) == k.dangerouslyExportExpanded())
        let back = try? CTorKeyFile.decodeEd25519Secret(bytes, tag: "type0", source: "f")
        #expect(back?.publicKey == k.publicKey)
    }

    @Test func curve25519FileHoldsSecretThenPublic() throws {
        var r = TestRandom(seed: 4)
        let k = Curve25519SecretKey.generate(using: &r)
        let bytes = CTorKeyFile.encodeCurve25519(k)
        #expect(bytes.count == 96)
        #expect(Array(bytes[0..<23]) == Array("== c25519v1: onion ==".utf8) + [0, 0])
        #expect(Array(bytes[64...]) == k.publicKey.bytes)
        #expect(try CTorKeyFile.decodeCurve25519(bytes, source: "f").publicKey == k.publicKey)
        var mismatched = bytes
        mismatched[70] ^= 1
        #expect(throws: TorProtocolError.self) { try CTorKeyFile.decodeCurve25519(mismatched, source: "f") }
    }

    @Test func badFilesAreNamedErrors() {
        var r = TestRandom(seed: 5)
        let good = CTorKeyFile.encodeEd25519Secret(Ed25519SecretKey.generate(using: &r), tag: "type4")
        func code(_ bytes: [UInt8], tag: String = "type4") -> TorProtocolError.Code? {
            do {
                _ = try CTorKeyFile.decodeEd25519Secret(bytes, tag: tag, source: "keys/x")
                return nil
            } catch let e as TorProtocolError {
                #expect(e.context.hasPrefix("keys/x"), "error does not name the file: \(e.context)")
                return e.code
            } catch { return nil }
        }
        #expect(code(Array(good.prefix(10))) == .truncated)          // shorter than a header
        #expect(code(Array(good.prefix(95))) == .truncated)          // body one byte short
        #expect(code(good + [0]) == .malformed)                      // body one byte long
        #expect(code(good, tag: "type0") == .wrongType)              // a signing key where a master key belongs
        let pub = CTorKeyFile.encode(.ed25519Public, tag: "type4", body: [UInt8](repeating: 1, count: 32))
        #expect(code(pub) == .wrongType)                             // a public key file
        var noPad = good
        noPad[31] = 0x41
        #expect(code(noPad) == .malformed)                           // header not NUL-padded
        var notTor = good
        notTor[0] = 0x58
        #expect(code(notTor) == .malformed)                          // no "== " prefix
        var unclamped = good
        unclamped[32] |= 7
        #expect(code(unclamped) == .malformed)                       // not an expanded key
    }

    @Test func pemRoundTrip() throws {
        let der: [UInt8] = Array(0..<200).map { UInt8($0) }
        let pem = PEM.encode(der, label: "RSA PUBLIC KEY")
        #expect(pem.hasPrefix("-----BEGIN RSA PUBLIC KEY-----\n"))
        #expect(pem.split(separator: "\n").allSatisfy { $0.count <= 64 })
        #expect(try PEM.decode(pem, label: "RSA PUBLIC KEY", source: "x") == der)
        #expect(throws: TorProtocolError.self) { try PEM.decode(pem, label: "CERTIFICATE", source: "x") }
    }
}

@Suite struct TorrcTests {
    @Test func syntax() throws {
        let text = """
        # comment
        DataDirectory /var/lib/relay   # trailing comment
        nickname   Alpha1
        ContactInfo ops@example.org \\
          pgp 0xABC

        SigningKeyLifetime 14 days
        """
        let t = try Torrc(parsing: text, file: "torrc")
        #expect(t.lines.map(\.key) == ["DataDirectory", "nickname", "ContactInfo", "SigningKeyLifetime"])
        #expect(t.lines[0].value == "/var/lib/relay")
        #expect(t.lines[1].line == 3)
        #expect(t.lines[2].value == "ops@example.org pgp 0xABC")
        let c = try RelayConfig(torrc: t)
        #expect(c.dataDirectory == "/var/lib/relay")
        #expect(c.nickname == "Alpha1")
        #expect(c.signingKeyLifetime == 14 * 86_400)
    }

    @Test func unsupportedOptionNamesFileAndLine() throws {
        let t = try Torrc(parsing: "Nickname ok\nSocksPort 9050\n", file: "/etc/relay/torrc")
        do {
            _ = try RelayConfig(torrc: t)
            Issue.record("accepted an unsupported option")
        } catch let e as TorProtocolError {
            #expect(e.context.contains("/etc/relay/torrc:2"))
            #expect(e.context.contains("SocksPort"))
        }
    }

    @Test func badValuesNameTheLine() throws {
        for (text, needle) in [("Nickname this-is-not-valid", "torrc:1"), ("\nOfflineMasterKey yes", "torrc:2"),
                               ("SigningKeyLifetime 3 fortnights", "torrc:1"), ("SigningKeyLifetime 1 hour", "torrc:1"),
                               ("Bad-Key x", "torrc:1"), ("Nickname a \\", "torrc:1")] {
            do {
                _ = try RelayConfig(torrc: Torrc(parsing: text, file: "torrc"))
                Issue.record("accepted '\(text)'")
            } catch let e as TorProtocolError {
                #expect(e.context.contains(needle), "\(e.context)")
            }
        }
    }

    @Test func directoryOptions() throws {
        let text = """
        DirAuthority auth1 orport=17002 no-v2 v3ident=A2256FA0EF98A86B360CE2EBBB26BBF02DFB5C55 127.0.0.1:17001 665547FE0B877FF9A35F7DA6E876ACA79A67E412
        TestingTorNetwork 1
        AssumeReachable 1
        BandwidthRate 5 MBytes
        BandwidthBurst 80 mbits
        MyFamily $665547FE0B877FF9A35F7DA6E876ACA79A67E412,665547FE0B877FF9A35F7DA6E876ACA79A67E413
        PublishServerDescriptor 0
        """
        let c = try RelayConfig(torrc: Torrc(parsing: text, file: "torrc"))
        #expect(c.dirAuthorities.count == 1)
        #expect(c.dirAuthorities[0].dirPort == 17001)
        #expect(c.testingTorNetwork && c.assumeReachable && !c.publishServerDescriptor)
        #expect(c.bandwidthRate == 5 * 1_048_576)
        #expect(c.bandwidthBurst == 10_000_000)
        #expect(c.myFamily == ["$665547FE0B877FF9A35F7DA6E876ACA79A67E412", "$665547FE0B877FF9A35F7DA6E876ACA79A67E413"])
        for (bad, needle) in [("BandwidthRate 5 parsecs", "unknown unit"), ("BandwidthRate 10 MB\nBandwidthBurst 1 MB", "at least BandwidthRate"),
                              ("MyFamily relay1", "fingerprints"), ("DirAuthority 127.0.0.1:80", "DirAuthority")] {
            do {
                _ = try RelayConfig(torrc: Torrc(parsing: bad.replacingOccurrences(of: "\\n", with: "\n"), file: "torrc"))
                Issue.record("accepted '\(bad)'")
            } catch let e as TorProtocolError {
                #expect(e.context.contains(needle), "\(e.context)")
            }
        }
    }
}
