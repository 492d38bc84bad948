import Foundation
import Logging
import NIOConcurrencyHelpers
import RelayCore
import RelayStore
import ServiceLifecycle
import TorCrypto
import TorProtocol
import UnixSignals

/// The relay's keys while it runs: read by the services that sign or publish, replaced
/// whole by `KeyMaintenance`.
final class LiveKeys: Sendable {
    private let box: NIOLockedValueBox<RelayKeys>
    init(_ keys: RelayKeys) { box = NIOLockedValueBox(keys) }
    var current: RelayKeys { box.withLockedValue { $0 } }
    func replace(_ keys: RelayKeys) { box.withLockedValue { $0 = keys } }
}

/// The scheduled key work CTor does while running: rotate onion keys when due (the previous
/// ones stay accepted for the grace period), drop expired previous keys, renew the signing
/// certificate before it expires when the master key is here, and adopt keys changed in the
/// database by another process (`relaynode keys install-signing-cert` after an offline
/// signing, `keys rotate-onion`). Runs every `interval` and at once on SIGHUP.
struct KeyMaintenance: Service {
    let database: NodeDatabase
    let lifetimes: KeyLifetimes
    let live: LiveKeys
    let handshakes: TorCircuitHandshakes
    let credentials: LinkCredentialStore
    let interval: Duration
    let logger: Logger
    /// SIGHUPs (from `SighupFanout`).
    let sighups: AsyncStream<Void>

    /// What is due for `keys` at `now`, applied; the events to store with them.
    static func maintain(_ keys: inout RelayKeys, now: Date, lifetimes: KeyLifetimes, context: String,
                         logger: Logger) throws -> [KeyEvent] {
        var rng = SystemRandom()
        var events = [KeyEvent]()
        if keys.expireOldOnionKeys(now: now) {
            events.append(KeyEvent(at: now, kind: .rotated, role: "onion", detail: "previous onion keys expired"))
        }
        if keys.onionRotationDue(now: now, lifetimes: lifetimes) {
            try keys.rotateOnionKeys(now: now, lifetimes: lifetimes, using: &rng)
            events.append(KeyEvent(at: now, kind: .rotated, role: "onion", detail: "scheduled rotation (\(context))"))
        }
        if keys.signingRenewalDue(now: now, lifetimes: lifetimes) {
            if keys.masterSecret != nil {
                try keys.renewSigningKey(now: now, lifetimes: lifetimes, using: &rng)
                events.append(KeyEvent(at: now, kind: .renewed, role: KeyRole.ed25519Signing.rawValue, detail: context))
            } else if keys.signingCertExpiration <= now {
                throw CLIError("the signing certificate expired at \(iso(keys.signingCertExpiration)) and the master key is offline: issue a new one with 'relaynode keys sign-cert' and install it")
            } else {
                logger.warning("signing certificate expires soon and the master key is offline",
                               metadata: ["expires": "\(iso(keys.signingCertExpiration))"])
            }
        }
        return events
    }

    /// The parts of the key set that others see: a change means new link certificates, new
    /// handshake keys and a new descriptor.
    static func publicState(_ k: RelayKeys) -> [UInt8] {
        k.signingCert.encoded + k.onionCurrent.ntor.publicKey.bytes + k.onionCurrent.tap.publicKey.pkcs1DER
            + (k.onionPrevious?.ntor.publicKey.bytes ?? []) + k.family.flatMap(\.key.publicKey.bytes).sorted()
    }

    func run() async throws {
        let (triggers, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let hup = Task {
            for await _ in sighups { continuation.yield("SIGHUP") }
        }
        let timer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield("scheduled")
            }
        }
        defer {
            hup.cancel()
            timer.cancel()
        }
        try? await cancelWhenGracefulShutdown {
            for await reason in triggers { self.check(reason: reason) }
        }
    }

    /// Loads the keys from the database, applies what is due, and installs any change.
    func check(reason: String) {
        do {
            var keys = try database.loadKeys()
            let events = try Self.maintain(&keys, now: Date(), lifetimes: lifetimes, context: "while running", logger: logger)
            if !events.isEmpty {
                try database.saveKeys(keys, events: events)
                try database.recordKeyHealthEvents(events)
            }
            let before = live.current
            guard Self.publicState(before) != Self.publicState(keys) else {
                if reason == "SIGHUP" { logger.notice("SIGHUP: keys unchanged") }
                return
            }
            guard keys.rsaFingerprint == before.rsaFingerprint, keys.masterPublic == before.masterPublic else {
                logger.error("the database now holds another relay identity; keeping the running one until restart")
                return
            }
            handshakes.setOnionKeys([keys.onionCurrent.ntor] + (keys.onionPrevious.map { [$0.ntor] } ?? []))
            if keys.signingCert.encoded != before.signingCert.encoded {
                var rng = SystemRandom()
                try credentials.replace(with: try LinkCredentials.generate(keys: keys, now: Date(), using: &rng))
            }
            live.replace(keys)
            logger.notice("keys updated", metadata: [
                "why": "\(reason)", "signing_cert_expires": "\(iso(keys.signingCertExpiration))",
                "onion_key_created": "\(iso(keys.onionCurrent.createdAt))",
            ])
        } catch let e as RelayStoreError {
            logger.error("key maintenance failed", metadata: ["error": "\(e.context)"])
        } catch {
            logger.error("key maintenance failed", metadata: ["error": "\(error)"])
        }
    }
}
