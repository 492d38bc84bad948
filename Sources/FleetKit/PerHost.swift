import Foundation

/// How many hosts fleetctl works on at once. The work is mostly waiting on ssh and remote
/// commands, not CPU, so this is not the number of cores (`DispatchQueue.concurrentPerform`
/// would ask only as many hosts at a time as this machine has cores).
public let maxConcurrentHosts = 16

/// Where fleetctl says how far an operation across hosts has come: one line per host finished,
/// with the count. fleetctl sets it (standard error, when that is a terminal or
/// RELAYFLEET_PROGRESS=1); nil prints nothing.
public final class FleetProgress: @unchecked Sendable {
    public static let shared = FleetProgress()
    private let lock = NSLock()
    private var sink: (@Sendable (String) -> Void)?

    public func setSink(_ sink: (@Sendable (String) -> Void)?) {
        lock.lock(); self.sink = sink; lock.unlock()
    }

    func say(_ line: String) {
        lock.lock(); let s = sink; lock.unlock()
        s?(line)
    }
}

/// Runs `body` for every group, at most `maxConcurrentHosts` groups at a time, and waits for all.
func forEachConcurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let slots = DispatchSemaphore(value: maxConcurrentHosts)
    let all = DispatchGroup()
    for i in 0..<count {
        slots.wait()
        all.enter()
        DispatchQueue.global().async {
            defer { slots.signal(); all.leave() }
            body(i)
        }
    }
    all.wait()
}

/// Runs `body` for every relay, hosts in parallel and relays of one host one after another (a
/// host is not asked to do several things at once), and returns the results in the input order.
/// `body` reports its own failures in its result, so one host cannot stop the others. `what`
/// names the operation in progress lines.
func perHost<T: Sendable>(_ relays: [RelayView], _ what: String = "hosts", _ body: @escaping @Sendable (RelayView) -> T) -> [T] {
    var groups: [Int64: [Int]] = [:]
    for (i, v) in relays.enumerated() { groups[v.host.id ?? -1, default: []].append(i) }
    let hostGroups = Array(groups.values)
    let results = ResultSlots<T>(count: relays.count)
    let done = Counter()
    let started = Date()
    forEachConcurrently(hostGroups.count) { g in
        for i in hostGroups[g] { results.set(i, body(relays[i])) }
        let n = done.increment()
        let host = relays[hostGroups[g][0]].host.name
        FleetProgress.shared.say("\(what): \(n)/\(hostGroups.count) hosts done (\(host), \(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
    }
    return results.values()
}

final class Counter: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}

private final class ResultSlots<T: Sendable>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T) { lock.lock(); slots[i] = value; lock.unlock() }
    func values() -> [T] { lock.lock(); defer { lock.unlock() }; return slots.map { $0! } }
}
