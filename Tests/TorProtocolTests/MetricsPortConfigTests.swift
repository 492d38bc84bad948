import Testing
@testable import TorProtocol

/// `MetricsPort` and `MetricsPortPolicy` as CTor's manual describes them.
struct MetricsPortConfigTests {
    func config(_ text: String) throws -> RelayConfig { try RelayConfig(torrc: Torrc(parsing: text, file: "torrc")) }

    @Test func listenersAndPolicy() throws {
        let c = try config("MetricsPort 9035\nMetricsPort [::1]:9036 prometheus\nMetricsPortPolicy accept 127.0.0.1\nMetricsPortPolicy accept 10.0.0.0/8,reject *\n")
        #expect(c.metrics.listeners == [ORPortConfig(host: "127.0.0.1", port: 9035), ORPortConfig(host: "::1", port: 9036)])
        let policy = try c.metrics.policy()
        #expect(policy.allows(address: [127, 0, 0, 1], port: 1))
        #expect(policy.allows(address: [10, 1, 2, 3], port: 1))
        #expect(!policy.allows(address: [192, 0, 2, 1], port: 1))
    }

    @Test func withoutAPolicyNobodyMayScrape() throws {
        let policy = try config("MetricsPort 127.0.0.1:9035\n").metrics.policy()
        #expect(!policy.allows(address: [127, 0, 0, 1], port: 1))
        #expect(!policy.allows(address: Array(repeating: 0, count: 15) + [1], port: 1))
    }

    @Test func badValuesNameTheLine() {
        for (text, needle) in [("MetricsPort 9035 json", "torrc:1"), ("\nMetricsPort 0", "torrc:2"),
                               ("MetricsPort host.example:9035", "torrc:1"),
                               ("MetricsPortPolicy accept 127.0.0.1:80", "no ports"),
                               ("MetricsPortPolicy allow 127.0.0.1", "torrc:1")] {
            #expect(throws: TorProtocolError.self, "\(text)") { _ = try config(text) }
            do { _ = try config(text) } catch let e as TorProtocolError {
                #expect(e.context.contains(needle), "\(e.context)")
            } catch {}
        }
    }
}
