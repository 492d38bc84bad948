import Foundation
import NIOConcurrencyHelpers

/// Circuit creations per client address, as CTor's DoS subsystem limits them
/// (`DoSCircuitCreationRate` 3/s, `DoSCircuitCreationBurst` 90): a token bucket per address.
/// Only client links are limited; relays extending through us are not. Touched once per CREATE.
public final class CreateRateLimiter: Sendable {
    public struct Settings: Sendable {
        public var ratePerSecond: Double = 3
        public var burst: Double = 90
        public init() {}
    }

    private struct Bucket {
        var tokens: Double
        var updated: TimeInterval
    }

    public let settings: Settings
    private let buckets = NIOLockedValueBox([String: Bucket]())

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// Takes one token for `address`; false when its bucket is empty.
    public func admit(_ address: String, now: TimeInterval = ProcessInfo.processInfo.systemUptime) -> Bool {
        buckets.withLockedValue { all in
            var b = all[address] ?? Bucket(tokens: settings.burst, updated: now)
            b.tokens = min(settings.burst, b.tokens + (now - b.updated) * settings.ratePerSecond)
            b.updated = now
            let ok = b.tokens >= 1
            if ok { b.tokens -= 1 }
            all[address] = b
            // Forget full buckets so the table does not grow with every address ever seen.
            if all.count > 100_000 { all = all.filter { $0.value.tokens < settings.burst } }
            return ok
        }
    }
}
