import NIOConcurrencyHelpers
import NIOCore

/// Link-level counters, shared by all event loops. Touched once per link event (open, close,
/// failure), never per cell, so a lock is fine here.
public final class LinkStats: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var handshakesCompleted = 0
        public var handshakesFailed = 0
        public var openLinks = 0
        public var openAuthenticatedLinks = 0
        public var refusedOverPerAddressLimit = 0
        /// Failures by a short reason category (timeout, tls, protocol, certificate, identity).
        public var failuresByReason: [String: Int] = [:]
    }

    private let box = NIOLockedValueBox(Snapshot())

    public init() {}

    public var snapshot: Snapshot { box.withLockedValue { $0 } }

    func opened(authenticated: Bool) {
        box.withLockedValue {
            $0.handshakesCompleted += 1
            $0.openLinks += 1
            if authenticated { $0.openAuthenticatedLinks += 1 }
        }
    }

    func closedOpen(authenticated: Bool) {
        box.withLockedValue {
            $0.openLinks -= 1
            if authenticated { $0.openAuthenticatedLinks -= 1 }
        }
    }

    func failed(_ category: String) {
        box.withLockedValue {
            $0.handshakesFailed += 1
            $0.failuresByReason[category, default: 0] += 1
        }
    }

    func refusedOverLimit() {
        box.withLockedValue { $0.refusedOverPerAddressLimit += 1 }
    }
}
