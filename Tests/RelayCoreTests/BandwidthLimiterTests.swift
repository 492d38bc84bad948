import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TestSupport
import TorProtocol
@testable import RelayCore

/// BandwidthRate / BandwidthBurst. The integration test checks a bound the limiter must
/// enforce (bytes can't pass faster than burst + rate × time), not a speed.
@Suite(.testThreads, .timeLimit(.minutes(2)), .serialized)
struct BandwidthLimiterTests {
    /// Accuracy on simulated time: a greedy reader taking 16 KiB reads whenever the bucket
    /// allows gets, over 60 s of 100 ms refills, the burst plus the rate × time within 5% —
    /// and after `setLimits` (a SIGHUP), the new rate within 5%.
    @Test func aGreedyReaderGetsTheRateWithinFivePercent() {
        func drain(_ l: BandwidthLimiter, seconds: Int) -> Int {
            var total = 0
            for _ in 0..<(seconds * 10) {
                while l.mayRead(orLater: {}) {
                    l.consume(read: 16 * 1024)
                    total += 16 * 1024
                }
                l.refill()
            }
            return total
        }
        for (rate, burst) in [(256 * 1024, 512 * 1024), (1_000_000, 1_000_000), (5 << 20, 10 << 20)] {
            let l = BandwidthLimiter(rate: rate, burst: burst)
            let got = drain(l, seconds: 60)
            let expected = burst + rate * 60
            #expect(abs(Double(got - expected)) <= 0.05 * Double(rate * 60), "rate \(rate): \(got) bytes, expected \(expected)")
            // Reloaded to half the rate: the next minute carries half as much (tokens over the
            // new burst are dropped at once).
            l.setLimits(rate: rate / 2, burst: burst / 2)
            let after = drain(l, seconds: 60)
            #expect(abs(Double(after - rate / 2 * 60)) <= 0.05 * Double(rate / 2 * 60) + Double(burst / 2), "after reload: \(after)")
        }
    }

    @Test func bucketsGoIntoDebtAndWaitersRunAfterRefills() {
        let l = BandwidthLimiter(rate: 1000, burst: 2000)
        let ran = NIOLockedValueBox(0)
        let bump: @Sendable () -> Void = { ran.withLockedValue { $0 += 1 } }
        let first = l.mayRead(orLater: bump)
        #expect(first)
        l.consume(read: 2500)  // 500 in debt
        let second = l.mayRead(orLater: bump)
        #expect(!second)
        l.refill()  // +100: still in debt
        #expect(ran.withLockedValue { $0 } == 0)
        for _ in 0..<5 { l.refill() }  // +500: 100 tokens
        #expect(ran.withLockedValue { $0 } == 1)
        #expect(l.stalls.read == 1)
        // Refills never exceed the burst; writing has its own bucket.
        for _ in 0..<100 { l.refill() }
        l.consume(written: 2000)
        let mayWrite = l.mayWrite(orLater: {}), mayRead = l.mayRead(orLater: {})
        #expect(!mayWrite)
        #expect(mayRead)
    }

    @Test func aLimitedMiddleRelaysNoFasterThanItsRate() async throws {
        let group = CircuitTests.group
        let rate = 256 * 1024, burst = 256 * 1024
        let limiter = BandwidthLimiter(rate: rate, burst: burst)
        let refill = limiter.start(on: group.next())
        defer { refill.cancel() }
        let server = try await TestTCPServer.start(.source, group: group)
        let middle = try await TestRelay.start(group: group, limiter: limiter)
        let exit = try await TestRelay.start(group: group, exitPolicy: ExitTests.localExit)
        let entry = try await TestRelay.start(group: group)
        defer { Task { await server.stop(); await entry.stop(); await middle.stop(); await exit.stop() } }
        let client = try await TestCircuitClient.connect(to: entry.info, group: group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: entry.info)
        try await circ.extend(to: middle.info)
        try await circ.extend(to: exit.info)
        let total = 1536 * 1024
        let started = Date()
        _ = try await circ.begin(streamID: 1, target: "127.0.0.1:\(server.port)")
        try await circ.send(command: RelayCommand.data.rawValue, streamID: 1, data: Array("\(total)\n".utf8))
        let got = try await circ.download(streamID: 1, expecting: total, seconds: 60)
        let elapsed = Date().timeIntervalSince(started)
        #expect(got.count == total)
        // Both buckets start full (burst), so at most burst + rate × elapsed bytes can pass
        // each way: the transfer cannot take less than (total - burst) / rate.
        let floor = Double(total - burst) / Double(rate)
        #expect(elapsed >= floor * 0.9, "\(total) bytes in \(elapsed) s through a middle limited to \(rate) B/s")
        #expect(limiter.stalls.read + limiter.stalls.write > 0)
    }
}
