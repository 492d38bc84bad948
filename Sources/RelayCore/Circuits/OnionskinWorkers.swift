import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Public-key work for circuit handshakes, off the I/O loops (CTor's cpuworkers), with a
/// bounded queue: when it is full new CREATE cells are refused (DESTROY RESOURCELIMIT), as
/// CTor does when its onionskin queue overflows.
public final class OnionskinWorkers: Sendable {
    private let pool: NIOThreadPool
    private let pending = NIOLockedValueBox(0)
    public let maxPending: Int
    private let counters = NIOLockedValueBox(Counters())

    public struct Counters: Sendable, Equatable {
        /// Handshakes by type name ("ntor", "ntor_v3", "fast"): processed and dropped.
        public var processed: [String: Int] = [:]
        public var dropped: [String: Int] = [:]
    }

    public init(threads: Int, maxPending: Int = 4096) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        // With no queue (a links-only tool) nothing is ever submitted: start no threads.
        if maxPending > 0 { pool.start() }
        self.maxPending = maxPending
    }

    public var counterSnapshot: Counters { counters.withLockedValue { $0 } }

    /// Runs `work` on a worker thread; the result arrives on `eventLoop`. Returns nil (and
    /// counts a drop) when the queue is full.
    public func submit<T: Sendable>(_ kind: String, on eventLoop: any EventLoop,
                                    _ work: @escaping @Sendable () throws -> T) -> EventLoopFuture<T>? {
        let admitted = pending.withLockedValue { n -> Bool in
            guard n < maxPending else { return false }
            n += 1
            return true
        }
        guard admitted else {
            counters.withLockedValue { $0.dropped[kind, default: 0] += 1 }
            return nil
        }
        return pool.runIfActive(eventLoop: eventLoop) { [pending, counters] in
            defer {
                pending.withLockedValue { $0 -= 1 }
                counters.withLockedValue { $0.processed[kind, default: 0] += 1 }
            }
            return try work()
        }
    }

    public func shutdown() async throws {
        try await pool.shutdownGracefully()
    }
}
