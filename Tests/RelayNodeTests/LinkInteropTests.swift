import Foundation
import Testing
import TestSupport

/// relaynode's link layer against Debian's real tor 0.4.9 (issue #3).
@Suite(.testThreads, .timeLimit(.minutes(3)), .serialized)
struct LinkInteropTests {
    /// (b) relaynode opens a link to a CTor relay and authenticates; CTor treats it as a relay
    /// connection (it records our identity digest), not a client one.
    @Test func ctorRelayAcceptsOurAuthenticatedLink() throws {
        let tmp = TempDirectory()
        let orport = freePort()
        let relay = try CTor.start("ctor-relay", torrc: CTor.loopbackOnly(dataDirectory: tmp.sub("ctor/data")) + """
            Nickname ctorrelay
            ORPort 127.0.0.1:\(orport)
            Address 127.0.0.1
            SocksPort 0
            AssumeReachable 1
            PublishServerDescriptor 0
            ExitRelay 0
            """, in: tmp.sub("ctor"))
        defer { relay.stop() }
        let infoLog = tmp.sub("ctor/data/info.log")
        func info() -> String { (try? String(contentsOfFile: infoLog, encoding: .utf8)) ?? "" }
        #expect(waitFor(30) { info().contains("Opened OR listener connection (ready) on 127.0.0.1:\(orport)") }, "\(relay.log)")
        #expect(waitFor(30) { FileManager.default.fileExists(atPath: tmp.sub("ctor/data/fingerprint")) })
        let ctorFP = try String(contentsOfFile: tmp.sub("ctor/data/fingerprint"), encoding: .utf8).split(separator: " ")[1]
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let node = tmp.sub("node")
        let ours = try jsonObject(relaynode("keys", "generate", "--json", "--data-directory", node).stdout)
        let ourFP = try #require(ours["rsa_fingerprint"] as? String)
        let ourEd = try #require(ours["ed25519_identity"] as? String)

        let probe = try relaynode("link-probe", "127.0.0.1:\(orport)", "--expect-fingerprint", ctorFP,
                                  "--data-directory", node, "--json")
        #expect(probe.status == 0, "\(probe.stderr)")
        let seen = try jsonObject(probe.stdout)
        #expect(seen["rsa_fingerprint"] as? String == ctorFP)
        #expect(seen["link_version"] as? Int == 5)
        // CTor verified our CERTS + AUTHENTICATE and opened the link under our identity.
        #expect(waitFor(10) { info().contains("Its ID digest is \(ourFP)") }, "CTor did not record our identity")
        #expect(info().contains("ID=\(ourEd) RSA_ID=\(ourFP)"))

        // A probe that expects some other identity is refused with a clear error.
        let wrong = try relaynode("link-probe", "127.0.0.1:\(orport)", "--expect-fingerprint", ourFP)
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("expected $\(ourFP)"))
    }

    /// (c) a CTor client completes the link handshake with relaynode's ORPort (configured as
    /// its bridge, so it connects to nothing else), and relaynode stops cleanly on SIGTERM.
    @Test func ctorClientCompletesHandshakeWithOurORPort() throws {
        let tmp = TempDirectory()
        let node = tmp.sub("node")
        let ours = try jsonObject(relaynode("keys", "generate", "--json", "--data-directory", node).stdout)
        let ourFP = try #require(ours["rsa_fingerprint"] as? String)
        let orport = freePort()
        let torrc = tmp.sub("relaynode.torrc")
        try "DataDirectory \(node)\nNickname swiftrelay\nORPort 127.0.0.1:\(orport)\nAddress 127.0.0.1\n"
            .write(toFile: torrc, atomically: true, encoding: .utf8)
        let relay = try Daemon("relaynode", Programs.relaynode, ["run", "--config", torrc, "--log-level", "info"], logPath: tmp.sub("relaynode.log"))
        defer { relay.stop() }
        #expect(waitFor(20) { relay.log.contains("ORPort listening") }, "\(relay.log)")

        let client = try CTor.start("ctor-client", torrc: CTor.loopbackOnly(dataDirectory: tmp.sub("client/data")) + """
            SocksPort 0
            UseBridges 1
            Bridge 127.0.0.1:\(orport) \(ourFP)
            """, in: tmp.sub("client"))
        defer { client.stop() }
        let infoLog = tmp.sub("client/data/info.log")
        func info() -> String { (try? String(contentsOfFile: infoLog, encoding: .utf8)) ?? "" }
        #expect(waitFor(60) { info().contains("OR connection is now open, using protocol version 5. Its ID digest is \(ourFP)") },
                "CTor client never opened a link to relaynode:\n\(info().suffix(3000))")
        #expect(info().contains("Authenticated it with RSA and Ed25519"))
        #expect(waitFor(10) { relay.log.contains("link open") && relay.log.contains("peer_identity=client") })
        // Peer addresses are scrubbed from the log by default.
        #expect(relay.log.contains("peer=[scrubbed]"))
        #expect(!relay.log.contains("peer=127."), "relaynode logged a peer address")

        client.stop()
        let status = relay.stop(grace: 10)
        #expect(status == 0, "relaynode did not exit cleanly on SIGTERM:\n\(relay.log)")
        #expect(relay.log.contains("stopped"))
    }
}
