import Foundation
import Logging
import RelayCore
import RelayStore
import ServiceLifecycle
import TorProtocol

/// Samples the link byte counters every `sampleInterval` seconds into 15-minute bins with
/// their highest 10-second rates, and writes them to the node database every
/// `flushInterval` seconds and on shutdown. The only writer of `bandwidth_bin`; it runs on
/// the concurrency pool, never on an I/O loop. After `kill -9` at most the bytes since the
/// last flush are lost (each flush samples first). A failed write is kept and retried.
struct BandwidthRecorder: Service {
    let traffic: TrafficCounters
    let database: NodeDatabase
    var sampleInterval: Double = 10
    var flushInterval: Double = 60
    let logger: Logger
    var clock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

    func run() async {
        var accumulator = BandwidthAccumulator(minRateWindow: min(9, sampleInterval * 0.9))
        accumulator.sample(await traffic.snapshot(), at: clock())
        var lastFlush = clock()
        var lastPrune = -Double.infinity
        while await sleepUntilNextBoundary(of: sampleInterval, clock: clock) {
            let t = clock()
            accumulator.sample(await traffic.snapshot(), at: t)
            guard t - lastFlush >= flushInterval - sampleInterval / 2 else { continue }
            flush(&accumulator)
            lastFlush = t
            if lastFlush - lastPrune >= 3600 {
                prune(now: lastFlush)
                lastPrune = lastFlush
            }
        }
        accumulator.sample(await traffic.snapshot(), at: clock())
        flush(&accumulator)
    }

    private func flush(_ accumulator: inout BandwidthAccumulator) {
        let bins = accumulator.drain()
        do {
            try database.addBandwidth(bins)
        } catch {
            accumulator.restore(bins)
            logger.error("could not write bandwidth history; will retry", metadata: ["error": "\(error)"])
        }
    }

    private func prune(now: Double) {
        do {
            try database.pruneBandwidth(before: Int64(now - NodeDatabase.bandwidthRetention))
        } catch {
            logger.warning("could not prune bandwidth history", metadata: ["error": "\(error)"])
        }
    }
}
