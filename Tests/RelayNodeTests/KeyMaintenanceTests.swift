import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Keys changed while the relay runs: SIGHUP makes `run` adopt what another process stored
/// (here `keys renew-signing` and `keys rotate-onion`, as an operator or fleetctl would run).
@Suite(.testThreads, .timeLimit(.minutes(2)), .serialized)
struct KeyMaintenanceTests {
    @Test func sighupAdoptsANewSigningCertAndOnionKeys() throws {
        let tmp = TempDirectory()
        let orport = freePort()
        let data = tmp.sub("node")
        try relaynode("keys", "generate", "--data-directory", data)
        try "DataDirectory \(data)\nNickname hup\nORPort 127.0.0.1:\(orport)\nAddress 127.0.0.1\n"
            .write(toFile: tmp.sub("torrc"), atomically: true, encoding: .utf8)
        let before = try jsonObject(try relaynode("keys", "show", "--json", "--data-directory", data).stdout)
        let d = try Daemon("relaynode", Programs.relaynode, ["run", "--config", tmp.sub("torrc")], logPath: tmp.sub("relaynode.log"))
        #expect(waitFor(20) { d.log.contains("ORPort listening") }, "\(d.log)")

        // Nothing changed yet: SIGHUP says so, to both the configuration reload and the key
        // check (sent as soon as the relay listens: each must already be subscribed).
        kill(d.pid, SIGHUP)
        #expect(waitFor(10) { d.log.contains("SIGHUP: keys unchanged") && d.log.contains("SIGHUP: configuration reloaded") }, "\(d.log)")

        // Another process renews the signing certificate and rotates the onion keys.
        let renew = try relaynode("keys", "renew-signing", "--data-directory", data)
        #expect(renew.status == 0, "\(renew.stderr)")
        let rotate = try relaynode("keys", "rotate-onion", "--data-directory", data)
        #expect(rotate.status == 0, "\(rotate.stderr)")
        let after = try jsonObject(try relaynode("keys", "show", "--json", "--data-directory", data).stdout)
        #expect(after["signing_key"] as? String != before["signing_key"] as? String)
        #expect(after["ntor_onion_key"] as? String != before["ntor_onion_key"] as? String)

        kill(d.pid, SIGHUP)
        #expect(waitFor(10) { d.log.contains("keys updated") && d.log.contains("why=SIGHUP") }, "\(d.log)")
        // The link certificates were remade from the new signing key: the CERTS chain verifies.
        let probe = try relaynode("link-probe", "127.0.0.1:\(orport)", "--expect-fingerprint", before["rsa_fingerprint"] as? String ?? "")
        #expect(probe.status == 0, "\(probe.stderr)")
        #expect(d.stop() == 0)
    }
}
