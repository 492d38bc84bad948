import Foundation

/// Runs `body` for every relay, hosts in parallel and relays of one host one after another (a
/// host is not asked to do several things at once), and returns the results in the input order.
/// `body` reports its own failures in its result, so one host cannot stop the others.
func perHost<T: Sendable>(_ relays: [RelayView], _ body: @Sendable (RelayView) -> T) -> [T] {
    var groups: [Int64: [Int]] = [:]
    for (i, v) in relays.enumerated() { groups[v.host.id ?? -1, default: []].append(i) }
    let hostGroups = Array(groups.values)
    let results = ResultSlots<T>(count: relays.count)
    DispatchQueue.concurrentPerform(iterations: hostGroups.count) { g in
        for i in hostGroups[g] { results.set(i, body(relays[i])) }
    }
    return results.values()
}

private final class ResultSlots<T: Sendable>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T) { lock.lock(); slots[i] = value; lock.unlock() }
    func values() -> [T] { lock.lock(); defer { lock.unlock() }; return slots.map { $0! } }
}
