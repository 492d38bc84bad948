import FleetKit
import RelayStore
import Foundation
import Testing
import TestSupport
import TorCrypto
import TorProtocol

/// Family keys (proposal 321) on one relay: a key made by Debian's real `tor --keygen-family`
/// is installed, listed by `FamilyId`, and certifies the relay's Ed25519 identity in its
/// descriptor; bad input and the order of removal. The authorities' side (family-ids in the
/// microdescriptors) is checked by `scripts/privnet check` against C tor authorities.
@Suite(.testThreads, .timeLimit(.minutes(3)), .serialized)
struct FamilyKeyTests {
    static func keys(_ args: [String], stdin: [UInt8] = []) throws -> CommandResult {
        try Subprocess.run([Programs.relaynode, "keys"] + args, stdin: stdin, timeout: 60)
    }

    /// The `family-cert` objects of a descriptor, parsed.
    static func familyCerts(_ descriptor: String) throws -> [UncheckedEd25519Cert] {
        var certs = [UncheckedEd25519Cert]()
        var rest = Substring(descriptor)
        while let begin = rest.range(of: "-----BEGIN FAMILY CERT-----\n"), let end = rest.range(of: "-----END FAMILY CERT-----", range: begin.upperBound..<rest.endIndex) {
            let b64 = rest[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
            let bytes = try #require(Data(base64Encoded: String(b64)))
            certs.append(try UncheckedEd25519Cert(parsing: Array(bytes)))
            rest = rest[end.upperBound...]
        }
        return certs
    }

    @Test func ctorsFamilyKeyCertifiesTheDescriptor() throws {
        let tmp = TempDirectory()
        // C tor makes the key, as an operator following the Tor docs would.
        let gen = try Subprocess.run(["tor", "--keygen-family", tmp.sub("fam")], timeout: 60)
        #expect(gen.status == 0, "\(gen.stderrText)")
        let torLine = try #require(gen.stdoutText.split(separator: "\n").first { $0.hasPrefix("FamilyId ") })
        let familyId = String(torLine.dropFirst("FamilyId ".count))
        let familyKey = try Ed25519PublicKey(base64: familyId)

        let data = tmp.sub("relay/data")
        try FileManager.default.createDirectory(atPath: tmp.sub("relay"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ident = try jsonObject(relaynode("keys", "generate", "--json", "--data-directory", data).stdout)
        let ed = try Ed25519PublicKey(base64: #require(ident["ed25519_identity"] as? String))
        let other = String(repeating: "AB", count: 20)
        let torrc = tmp.sub("relay/torrc")
        try """
        Nickname famtest
        DataDirectory \(data)
        ORPort 127.0.0.1:\(freeLoopbackPort())
        Address 127.0.0.1
        FamilyId \(familyId)
        MyFamily $\(other)

        """.write(toFile: torrc, atomically: true, encoding: .utf8)

        // Without its key the relay refuses to start (as C tor does), naming the fix.
        let refused = try Subprocess.run([Programs.relaynode, "run", "--config", torrc], timeout: 60)
        #expect(refused.status != 0 && refused.stderrText.contains(familyId) && refused.stderrText.contains("family-install"), "\(refused.stderrText)")

        // Bad input first: nothing is installed.
        let garbage = tmp.sub("garbage.secret_family_key")
        _ = FileManager.default.createFile(atPath: garbage, contents: Data(repeating: 0x41, count: 96), attributes: [.posixPermissions: 0o600])
        let bad = try Self.keys(["family-install", garbage, "--data-directory", data])
        #expect(bad.status == 1 && bad.stderrText.contains("relaynode: error:"), "\(bad.stderrText)")
        var rng = SystemRandom()
        let master = try Self.keys(["family-install", "-", "--name", "x", "--data-directory", data],
                                   stdin: CTorKeyFile.encodeEd25519Secret(Ed25519SecretKey.generate(using: &rng), tag: "type0"))
        #expect(master.status == 1, "a master key file is not a family key: \(master.stdoutText)")
        let noName = try Self.keys(["family-install", "-", "--data-directory", data], stdin: Array(try #require(FileManager.default.contents(atPath: tmp.sub("fam.secret_family_key")))))
        #expect(noName.status == 1 && noName.stderrText.contains("--name"), "\(noName.stderrText)")
        #expect(try jsonObject(relaynode("keys", "show", "--json", "--data-directory", data).stdout)["family_keys"] as? [String: String] == [:])

        // tor's file installs; twice is harmless.
        let installed = try jsonObject(Self.keys(["family-install", tmp.sub("fam.secret_family_key"), "--json", "--data-directory", data]).stdoutText)
        #expect(installed["family_id"] as? String == familyId && installed["name"] as? String == "fam" && installed["installed"] as? Bool == true)
        let again = try jsonObject(Self.keys(["family-install", tmp.sub("fam.secret_family_key"), "--json", "--data-directory", data]).stdoutText)
        #expect(again["installed"] as? Bool == false)
        #expect(try jsonObject(relaynode("keys", "show", "--json", "--data-directory", data).stdout)["family_keys"] as? [String: String] == ["fam": familyId])

        // The descriptor: one family-cert, type 0x0C, certifying our Ed25519 identity, signed by
        // the family key it names in its signed-with-ed25519-key extension.
        let desc = try Subprocess.run([Programs.relaynode, "descriptor", "show", "--config", torrc], timeout: 60)
        #expect(desc.status == 0, "\(desc.stderrText)")
        #expect(desc.stdoutText.contains("\nfamily $\(other)\n"))
        let certs = try Self.familyCerts(desc.stdoutText)
        #expect(certs.count == 1)
        let cert = try #require(certs.first)
        #expect(cert.certType == .familyMembership && cert.keyType == .ed25519)
        #expect(cert.certifiedKey == ed.bytes)
        #expect(cert.embeddedSigningKey == familyKey)
        #expect(cert.signatureIsValid(signedBy: familyKey))
        #expect(cert.expiration > Date() + 29 * 86_400)

        // A second key the torrc does not list is held but not used.
        let gen2 = try Self.keys(["family-generate", "spare", "--out", tmp.sub("spare")])
        #expect(gen2.status == 0, "\(gen2.stderrText)")
        #expect(mode(tmp.sub("spare")) == 0o700 && mode(tmp.sub("spare/spare.secret_family_key")) == 0o600)
        let spareId = try String(contentsOfFile: tmp.sub("spare/spare.public_family_id"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(gen2.stdoutText.contains("FamilyId \(spareId)"))
        #expect(try Self.keys(["family-install", tmp.sub("spare/spare.secret_family_key"), "--data-directory", data]).status == 0)
        let desc2 = try Subprocess.run([Programs.relaynode, "descriptor", "show", "--config", torrc], timeout: 60)
        #expect(try Self.familyCerts(desc2.stdoutText).map { $0.embeddedSigningKey } == [familyKey])

        // Removal: refused while the torrc lists the id; allowed once it does not.
        let listed = try Self.keys(["family-remove", familyId, "--config", torrc])
        #expect(listed.status == 1 && listed.stderrText.contains("still lists FamilyId"), "\(listed.stderrText)")
        let spareGone = try Self.keys(["family-remove", spareId, "--config", torrc])
        #expect(spareGone.status == 0 && spareGone.stdoutText.contains("removed"), "\(spareGone.stderrText)")
        #expect(try Self.keys(["family-remove", spareId, "--config", torrc]).stdoutText.contains("nothing changed"))
        #expect(try jsonObject(relaynode("keys", "show", "--json", "--data-directory", data).stdout)["family_keys"] as? [String: String] == ["fam": familyId])
        let events = try NodeDatabase(dataDirectory: data, create: false).keyEvents().filter { $0.role == "family" }.map { "\($0.kind.rawValue) \($0.detail)" }
        #expect(events.contains("installed fam FamilyId \(familyId)") && events.contains("rotated removed spare FamilyId \(spareId)"), "\(events)")
    }

    @Test func malformedFamilyIdIsAConfigError() throws {
        let tmp = TempDirectory()
        let torrc = tmp.sub("torrc")
        try "Nickname x\nORPort 9001\nFamilyId not-a-key\n".write(toFile: torrc, atomically: true, encoding: .utf8)
        let r = try Subprocess.run([Programs.relaynode, "verify-config", "--config", torrc], timeout: 60)
        #expect(r.status != 0 && r.stderrText.contains("FamilyId must be"), "\(r.stderrText)")
    }
}

