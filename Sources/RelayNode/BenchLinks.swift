import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RelayCore
import TorCrypto
import TorProtocol

extension BenchCommand {
    /// Load for an ORPort (ours or C tor's): full link handshakes as a client would make them.
    struct Links: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open Tor links to an ORPort: a handshake rate, or N links held idle.")
        @Option(help: "HOST:PORT of the ORPort under test.") var target: String
        @Option(help: "rate: handshakes per second; idle: open --count links and hold them.") var mode: String = "rate"
        @Option(help: "Concurrent handshakes (rate mode).") var concurrency: Int = 32
        @Option(help: "Seconds to run (rate) or to hold the links (idle).") var seconds: Double = 10
        @Option(help: "Links to open (idle mode).") var count: Int = 1000
        @Option(help: "Spread connections over this many source addresses 127.0.1.x (per-address caps).") var sources: Int = 120

        func run() async throws {
            guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else {
                fail("--target must be HOST:PORT")
            }
            let host = String(target[..<colon])
            var rng = SystemRandom()
            let keys = try RelayKeys.generate(now: Date(), lifetimes: KeyLifetimes(), using: &rng)
            var logger = Logger(label: "bench")
            logger.logLevel = .critical
            let group = MultiThreadedEventLoopGroup.singleton
            let env = LinkEnvironment(credentials: try LinkCredentialStore(try LinkCredentials.generate(keys: keys, now: Date(), using: &rng)),
                                      relay: .linksOnly(ourIdentity: keys.rsaFingerprint, registry: LinkRegistry(maxConnectionsPerAddress: .max), logger: logger),
                                      stats: LinkStats(), ourAddresses: [],
                                      configuration: .init(), logger: logger)
            let connector = LinkConnector(environment: env, group: group)
            func source(_ i: Int) -> SocketAddress? {
                try? SocketAddress(ipAddress: "127.0.1.\(1 + i % max(1, min(sources, 250)))", port: 0)
            }
            switch mode {
            case "rate":
                let done = NIOLockedValueBox(0), failed = NIOLockedValueBox(0)
                let deadline = Date() + seconds
                let start = Date()
                await withTaskGroup(of: Void.self) { tasks in
                    for worker in 0..<concurrency {
                        tasks.addTask {
                            var i = worker
                            while Date() < deadline {
                                do {
                                    let (ch, _) = try await connector.connect(host: host, port: port, expected: nil, authenticate: false,
                                                                              source: source(i)).get()
                                    try? await ch.close()
                                    done.withLockedValue { $0 += 1 }
                                } catch {
                                    failed.withLockedValue { $0 += 1 }
                                }
                                i += concurrency
                            }
                        }
                    }
                }
                let elapsed = Date().timeIntervalSince(start)
                let n = done.withLockedValue { $0 }
                print(String(format: "handshakes=%d failed=%d seconds=%.2f rate=%.1f/s", n, failed.withLockedValue { $0 }, elapsed, Double(n) / elapsed))
            case "idle":
                var channels = [any Channel]()
                var failures = 0
                for i in 0..<count {
                    do {
                        let (ch, _) = try await connector.connect(host: host, port: port, expected: nil, authenticate: false, source: source(i)).get()
                        channels.append(ch)
                    } catch { failures += 1 }
                }
                // Unbuffered: the script waits for this line while the links are held.
                FileHandle.standardOutput.write(Data("opened=\(channels.count) failed=\(failures)\n".utf8))
                try await Task.sleep(for: .seconds(seconds))
                let stillOpen = channels.filter(\.isActive).count
                print("still_open=\(stillOpen)")
                for ch in channels { try? await ch.close() }
            default:
                fail("--mode must be rate or idle")
            }
        }
    }
}
