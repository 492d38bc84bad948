import Foundation
import Logging
import RelayCore
import ServiceLifecycle
import TorCrypto
import TorProtocol

/// CTor's ORPort self-test: once the consensus lists other relays, build a circuit through
/// one of them back to our ORPort. Retried soon after a failure (through another relay),
/// repeated every 20 minutes after a success; each result is logged and recorded.
struct ReachabilitySelfTest: Service {
    let ourself: @Sendable () -> CircuitHopTarget
    let cache: DirectoryCache
    let connector: @Sendable () -> LinkConnector?
    let retryAfterFailure: Duration
    let repeatAfterSuccess: Duration
    let record: @Sendable (_ reachable: Bool, _ detail: String) -> Void
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown { await self.loop() }
    }

    private func loop() async {
        var lastOutcome: Bool?
        var tried = Set<[UInt8]>()
        while !Task.isCancelled {
            guard let via = pickRelay(avoiding: tried), let connector = connector() else {
                try? await Task.sleep(for: .seconds(2))
                continue
            }
            let wait: Duration
            do {
                let took = try await ReachabilityProbe.run(via: via, to: ourself(), connector: connector)
                let ms = Int(Double(took.components.seconds) * 1000 + Double(took.components.attoseconds) / 1e15)
                let detail = "circuit through \(via.rsa.hex) back to our ORPort in \(ms) ms"
                if lastOutcome != true { logger.notice("self-test: ORPort reachable", metadata: ["via": "\(via.rsa.hex)", "ms": "\(ms)"]) }
                record(true, detail)
                lastOutcome = true
                tried.removeAll()
                wait = repeatAfterSuccess
            } catch {
                logger.warning("self-test: ORPort not reached", metadata: ["via": "\(via.rsa.hex)", "error": "\(error)"])
                record(false, "through \(via.rsa.hex): \(error)")
                lastOutcome = false
                tried.insert(via.rsa.bytes)
                wait = retryAfterFailure
            }
            try? await Task.sleep(for: wait)
        }
    }

    /// A random running relay from the microdesc consensus (not us) whose microdescriptor we hold.
    func pickRelay(avoiding tried: Set<[UInt8]>) -> CircuitHopTarget? {
        let docs = cache.snapshot
        let ourIdentity = ourself().rsa.bytes
        guard let consensus = docs.consensus[.microdesc] else { return nil }
        var candidates = [CircuitHopTarget]()
        for r in consensus.routers where r.identity != ourIdentity && r.flags.contains("Running") && r.flags.contains("Valid") {
            guard let digest = r.microdescDigest, let md = docs.microdescriptors[digest],
                  let parsed = try? Microdescriptor(parsing: md), let ntor = try? Curve25519PublicKey(bytes: parsed.ntorOnionKey),
                  let rsa = try? RSAFingerprint(bytes: r.identity) else { continue }
            candidates.append(CircuitHopTarget(host: r.address, port: r.orPort, rsa: rsa,
                                               ed25519: parsed.ed25519Identity.flatMap { try? Ed25519PublicKey(bytes: $0) }, ntor: ntor))
        }
        let fresh = candidates.filter { !tried.contains($0.rsa.bytes) }
        return (fresh.isEmpty ? candidates : fresh).randomElement()
    }
}
