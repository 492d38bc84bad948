import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import RelayCore
import RelayStore
import TorCrypto
import TorProtocol

struct LinkProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link-probe",
        abstract: "Open a Tor link to HOST:PORT, verify the relay's certificates, and print its identity.",
        discussion: """
        Without --data-directory the probe connects as a client (no authentication). With it, \
        it authenticates as this relay, as relays do when extending circuits. Exit status 0 only \
        when the handshake completed (and the identity matched --expect-fingerprint / --expect-ed25519).
        """)

    @Argument(help: "HOST:PORT of an ORPort.") var target: String
    @Option(help: "The RSA fingerprint the relay must prove.") var expectFingerprint: String?
    @Option(help: "The Ed25519 identity (base64) the relay must prove.") var expectEd25519: String?
    @Option(help: "Authenticate as the relay in this data directory.") var dataDirectory: String?
    @Option(help: "Seconds to wait for the handshake.") var timeout: Int = 20
    @Option(help: "Seconds to keep the open link before closing it.") var hold: Double = 0.5
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else {
            fail("target must be HOST:PORT, got '\(target)'")
        }
        let host = String(target[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var expected: InitiatorHandshake.ExpectedPeer?
        do {
            if let fp = expectFingerprint {
                expected = .init(rsaFingerprint: try RSAFingerprint(text: fp),
                                 ed25519: try expectEd25519.map { try Ed25519PublicKey(base64: $0) })
            } else if expectEd25519 != nil {
                fail("--expect-ed25519 needs --expect-fingerprint too")
            }
        } catch let e as TorProtocolError { fail(e.context) } catch { fail("\(error)") }

        var rng = SystemRandom()
        let credentials: LinkCredentials
        do {
            let keys: RelayKeys
            if let dataDirectory {
                keys = try NodeDatabase(dataDirectory: dataDirectory, create: false).loadKeys()
            } else {
                // A client does not authenticate; credentials are only needed for the shared plumbing.
                keys = try RelayKeys.generate(now: Date(), lifetimes: KeyLifetimes(), using: &rng)
            }
            credentials = try LinkCredentials.generate(keys: keys, now: Date(), using: &rng)
        } catch let e as RelayStoreError { fail(e.context) } catch { fail("\(error)") }

        do {
            let (channel, established) = try await LinkProbe.open(host: host, port: port, expected: expected, credentials: credentials,
                                                                  authenticate: dataDirectory != nil, timeout: timeout)
            try? await Task.sleep(for: .milliseconds(Int(hold * 1000)))
            try? await channel.close()
            guard let peer = established.peer else { fail("the responder did not prove an identity") }
            if json {
                let out: [String: Any] = ["rsa_fingerprint": peer.rsaFingerprint.hex, "ed25519_identity": peer.ed25519.base64,
                                          "link_version": Int(established.linkVersion),
                                          "authenticated_as": dataDirectory == nil ? "client" : credentials.peerIdentity.rsaFingerprint.hex]
                let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("link version \(established.linkVersion) to \(peer.rsaFingerprint.spaced) \(peer.ed25519.base64)")
            }
        } catch {
            fail("link to \(target) failed: \(error)")
        }
    }
}

/// Opens one Tor link to an ORPort and completes the handshake, as `link-probe` and
/// `health --probe` do.
enum LinkProbe {
    static func open(host: String, port: Int, expected: InitiatorHandshake.ExpectedPeer?, credentials: LinkCredentials,
                     authenticate: Bool, timeout: Int) async throws -> (any Channel, LinkEstablished) {
        var logger = Logger(label: "relaynode")
        logger.logLevel = .warning
        // --timeout bounds the whole handshake, not only the TCP connect.
        var configuration = LinkHandler.Configuration()
        configuration.handshakeTimeout = .seconds(Int64(max(1, timeout)))
        let env = LinkEnvironment(credentials: try LinkCredentialStore(credentials),
                                  relay: .linksOnly(ourIdentity: credentials.peerIdentity.rsaFingerprint, logger: logger), stats: LinkStats(),
                                  ourAddresses: [], configuration: configuration, logger: logger)
        return try await LinkConnector(environment: env, group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port, expected: expected, authenticate: authenticate, timeout: .seconds(Int64(timeout))).get()
    }
}
