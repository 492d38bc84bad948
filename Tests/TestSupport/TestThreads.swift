import Foundation
import Testing

/// Tests that wait synchronously — for a child process (tor, relaynode, sshd, openssl), with
/// `usleep` between polls, or on fleetctl's synchronous transports — must not run on Swift's
/// cooperative pool: it has one thread per core, so on a 2-core machine two such waits stop every
/// other test in the process, and unrelated tests then run past their time limits.
///
/// `.testThreads` runs a suite's (or test's) body, and every child task it starts, on
/// `TestThreadPool.shared` instead: a pool that starts another thread whenever a job arrives and
/// no thread is idle, so a blocked test only ever holds its own thread.
public struct TestThreadsTrait: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        try await withTaskExecutorPreference(TestThreadPool.shared) {
            try await function()
        }
    }
}

extension Trait where Self == TestThreadsTrait {
    /// Run on threads of their own, off the cooperative pool (see `TestThreadsTrait`).
    public static var testThreads: Self { TestThreadsTrait() }
}

/// An elastic pool of plain threads serving as a task executor. Threads are started on demand
/// (up to `maxThreads`) and then kept, idle, for the life of the test process.
public final class TestThreadPool: TaskExecutor, @unchecked Sendable {
    public static let shared = TestThreadPool(maxThreads: 96)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var threads = 0
    private var idle = 0
    private let maxThreads: Int

    public init(maxThreads: Int) {
        self.maxThreads = maxThreads
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        let pending = jobs.count - head
        let start = pending > idle && threads < maxThreads
        if start { threads += 1 }
        condition.signal()
        condition.unlock()
        if start {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "test-thread"
            thread.stackSize = 4 << 20
            thread.start()
        }
    }

    private func work() {
        let executor = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while head == jobs.count {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let job = jobs[head]
            head += 1
            if head > 1024, head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: executor)
        }
    }
}
