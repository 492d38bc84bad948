import Foundation

/// How long each relay key and certificate lives, with CTor 0.4.9's defaults
/// (reference/tor-relay-checklist.md §2.1, §10).
public struct KeyLifetimes: Sendable, Equatable {
    /// KP_relaysign_ed certificate lifetime (`SigningKeyLifetime`, default 30 days).
    public var signingKey: TimeInterval = 30 * 86_400
    /// Renew the signing certificate when less than this is left (`TestingSigningKeySlop`).
    public var signingKeyRenewBefore: TimeInterval = 86_400
    /// Onion (ntor, TAP) key rotation interval (consensus `onion-key-rotation-days`, default 28).
    public var onionKeyRotation: TimeInterval = 28 * 86_400
    /// How long a rotated-out onion key is still accepted (`onion-key-grace-period-days`, 7).
    public var onionKeyGrace: TimeInterval = 7 * 86_400
    /// The RSA→Ed25519 cross-certificate: about 6 months.
    public var rsaCrossCert: TimeInterval = 183 * 86_400

    public init() {}

    public init(signingKeyDays: Int) {
        signingKey = TimeInterval(signingKeyDays) * 86_400
    }
}
