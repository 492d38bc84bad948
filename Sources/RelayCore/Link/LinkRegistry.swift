import NIOConcurrencyHelpers
import NIOCore
import TorProtocol

/// Open links by the relay identity proven in their handshake, for reuse when extending
/// circuits, and connection counts per peer address (to cap them).
public final class LinkRegistry: Sendable {
    public struct Entry: Sendable {
        public let channel: any Channel
        public let established: LinkEstablished
        /// We opened it (true) or accepted it (false).
        public let outbound: Bool
        /// The link's circuit switch.
        public let mux: LinkMuxRef?
    }

    private struct State {
        var byIdentity: [RSAFingerprint: [ObjectIdentifier: Entry]] = [:]  // keyed by the mux
        var connectionsPerAddress: [String: Int] = [:]
        /// Every accepted connection, to close them all (hard hibernation).
        var inbound: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = NIOLockedValueBox(State())
    public let maxConnectionsPerAddress: Int

    public init(maxConnectionsPerAddress: Int = 50) {
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
    }

    /// An open authenticated link to `fingerprint`, if any (the first found; outbound first).
    public func link(to fingerprint: RSAFingerprint) -> Entry? {
        state.withLockedValue { s in
            let all = s.byIdentity[fingerprint]?.values.filter { $0.channel.isActive } ?? []
            return all.first { $0.outbound } ?? all.first
        }
    }

    /// The relays we have an open authenticated link with.
    public func authenticatedPeers() -> [RSAFingerprint] {
        state.withLockedValue { s in
            s.byIdentity.compactMap { fp, entries in entries.values.contains { $0.channel.isActive } ? fp : nil }
        }
    }

    public var authenticatedLinkCount: Int {
        state.withLockedValue { $0.byIdentity.values.reduce(0) { $0 + $1.count } }
    }

    func register(_ entry: Entry) {
        guard let peer = entry.established.peer, let mux = entry.mux else { return }
        let fp = peer.rsaFingerprint
        state.withLockedValue { $0.byIdentity[fp, default: [:]][mux.id] = entry }
    }

    func unregister(_ mux: LinkMuxRef, peer: PeerIdentity?) {
        guard let fp = peer?.rsaFingerprint else { return }
        state.withLockedValue { s in
            s.byIdentity[fp]?[mux.id] = nil
            if s.byIdentity[fp]?.isEmpty == true { s.byIdentity[fp] = nil }
        }
    }

    /// Counts a new connection from `address`; false (and not counted) when over the cap.
    func admit(address: String) -> Bool {
        state.withLockedValue { s in
            let n = s.connectionsPerAddress[address, default: 0]
            guard n < maxConnectionsPerAddress else { return false }
            s.connectionsPerAddress[address] = n + 1
            return true
        }
    }

    func track(_ channel: any Channel) { state.withLockedValue { $0.inbound[ObjectIdentifier(channel)] = channel } }

    /// Closes every link, accepted or opened (AccountingMax's hard hibernation).
    public func closeAll() {
        let channels = state.withLockedValue { s in
            Array(s.inbound.values) + s.byIdentity.values.flatMap { $0.values.map(\.channel) }
        }
        for c in channels { c.close(promise: nil) }
    }

    func release(address: String, channel: (any Channel)? = nil) {
        state.withLockedValue { s in
            if let channel { s.inbound.removeValue(forKey: ObjectIdentifier(channel)) }
            let n = s.connectionsPerAddress[address, default: 0] - 1
            s.connectionsPerAddress[address] = n > 0 ? n : nil
        }
    }
}
