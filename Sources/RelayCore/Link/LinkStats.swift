import NIOConcurrencyHelpers
import NIOCore

/// Link-level counters, shared by all event loops. Touched once per link event (open, close,
/// failure), never per cell, so a lock is fine here.
public final class LinkStats: Sendable {
    /// Which way a connection was made and over which IP family (the `direction` and
    /// `family` labels of CTor's `tor_relay_connections`).
    public struct Kind: Sendable, Hashable {
        public var outbound: Bool
        public var ipv6: Bool
        public init(outbound: Bool, ipv6: Bool) {
            self.outbound = outbound
            self.ipv6 = ipv6
        }
    }

    public struct Snapshot: Sendable, Equatable {
        public var handshakesCompleted = 0
        public var handshakesFailed = 0
        public var openLinks = 0
        public var openAuthenticatedLinks = 0
        public var refusedOverPerAddressLimit = 0
        /// Failures by a short reason category (timeout, tls, protocol, certificate, identity).
        public var failuresByReason: [String: Int] = [:]
        /// Connections made (before their handshake), refused at accept, and open links, by kind.
        public var createdByKind: [Kind: Int] = [:]
        public var refusedByKind: [Kind: Int] = [:]
        public var openByKind: [Kind: Int] = [:]
    }

    private let box = NIOLockedValueBox(Snapshot())

    public init() {}

    public var snapshot: Snapshot { box.withLockedValue { $0 } }

    func created(_ kind: Kind) {
        box.withLockedValue { $0.createdByKind[kind, default: 0] += 1 }
    }

    func opened(authenticated: Bool, kind: Kind) {
        box.withLockedValue {
            $0.openByKind[kind, default: 0] += 1
            $0.handshakesCompleted += 1
            $0.openLinks += 1
            if authenticated { $0.openAuthenticatedLinks += 1 }
        }
    }

    func closedOpen(authenticated: Bool, kind: Kind) {
        box.withLockedValue {
            $0.openByKind[kind, default: 0] -= 1
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

    func refusedOverLimit(ipv6: Bool) {
        box.withLockedValue {
            $0.refusedOverPerAddressLimit += 1
            $0.refusedByKind[Kind(outbound: false, ipv6: ipv6), default: 0] += 1
        }
    }
}
