import Foundation
import Logging
import NIOCore
import RelayCore
import RelayStore
import ServiceLifecycle
import TorCrypto
import TorProtocol

/// Keeps the directory cache current: authority certificates, the consensus in both
/// flavours and the microdescriptors it lists, fetched from the configured authorities and
/// verified before they are served or believed. Fetches again soon after each consensus's
/// fresh-until, as a directory cache must, and records how each consensus lists us.
struct ConsensusFetcher: Service {
    let authorities: [DirAuthorityConfig]
    let database: NodeDatabase
    let cache: DirectoryCache
    let group: any EventLoopGroup
    let ourIdentity: RSAFingerprint
    let retryInterval: TimeInterval
    let logger: Logger

    /// Microdescriptors per request (CTor asks for at most 92 per URL).
    static let microdescBatch = 90
    /// Clock tolerance for a consensus we load from disk or fetch.
    static let skew: TimeInterval = 60

    var v3Identities: [[UInt8]] { authorities.compactMap(\.v3Identity) }

    func run() async throws {
        restore()
        try? await cancelWhenGracefulShutdown { await self.loop() }
    }

    /// Loads what the database kept, so a restarted relay serves at once.
    func restore() {
        let now = Date()
        do {
            if let certs = try database.directoryDocument(.authorityCertificates) {
                cache.install(certificates: AuthorityCertificate.parseAll(Array(certs.body), now: now, source: "stored certificates").certificates)
            }
            let certificates = cache.snapshot.certificates
            for kind in [DirectoryDocumentKind.consensusMicrodesc, .consensus] {
                guard let stored = try database.directoryDocument(kind) else { continue }
                if let c = try? Consensus(parsing: Array(stored.body), certificates: certificates, authorities: v3Identities,
                                          now: now, skew: Self.skew, source: "stored \(kind.rawValue)") {
                    cache.install(consensus: c)
                }
            }
            cache.install(microdescriptors: try database.microdescriptors())
        } catch {
            logger.warning("cannot load stored directory documents", metadata: ["error": "\(error)"])
        }
    }

    private func loop() async {
        var lastFlags: [String]?
        while !Task.isCancelled {
            var next = Date() + retryInterval
            do {
                let md = try await refresh(.microdesc)
                _ = try? await refresh(.ns)
                try await fetchMicrodescriptors()
                next = Self.nextFetch(after: md, now: Date(), retry: retryInterval)
                let flags = record(md)
                if flags != lastFlags {
                    try? database.recordHealthEvent(.consensusFlags, ok: flags != nil,
                                                    detail: flags.map { $0.joined(separator: " ") } ?? "not listed")
                    if let flags {
                        logger.notice("listed in the consensus", metadata: ["flags": "\(flags.joined(separator: " "))", "valid_after": "\(NetDoc.formatTime(md.validAfter))"])
                    } else {
                        logger.notice("not listed in the consensus", metadata: ["valid_after": "\(NetDoc.formatTime(md.validAfter))"])
                    }
                    lastFlags = flags
                }
            } catch {
                logger.info("consensus fetch incomplete; retrying", metadata: ["error": "\(error)"])
            }
            let wait = max(1, min(600, next.timeIntervalSinceNow))
            try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
        }
    }

    /// When to fetch again: a little after fresh-until (spread over a twentieth of the time
    /// until valid-until), or after `retry` when the authorities have nothing newer yet.
    static func nextFetch(after c: Consensus, now: Date, retry: TimeInterval) -> Date {
        if now >= c.freshUntil { return now + retry }
        let spread = max(1, c.validUntil.timeIntervalSince(c.freshUntil) / 20)
        return c.freshUntil + Double.random(in: 1...spread)
    }

    /// The newest consensus of `flavor`: the cached one while it is fresh, else fetched.
    func refresh(_ flavor: Consensus.Flavor) async throws -> Consensus {
        let now = Date()
        if let c = cache.snapshot.consensus[flavor], now < c.freshUntil { return c }
        let path = flavor == .microdesc ? "/tor/status-vote/current/consensus-microdesc" : "/tor/status-vote/current/consensus"
        var lastError: any Error = DirectoryClientError("no DirAuthority configured")
        for a in authorities.shuffled() {
            do {
                let r = try await DirectoryHTTPClient.get(host: a.address, port: a.dirPort, path: path, group: group)
                guard r.status == 200 else { throw DirectoryClientError("\(a.label) answered \(r.status) \(r.reason)") }
                let consensus = try await verify(r.body, flavor: flavor, from: a)
                if let old = cache.snapshot.consensus[flavor], old.validAfter >= consensus.validAfter { return old }
                cache.install(consensus: consensus)
                try database.saveDirectoryDocument(StoredDirectoryDocument(
                    kind: flavor == .microdesc ? .consensusMicrodesc : .consensus, body: consensus.text,
                    validAfter: consensus.validAfter, freshUntil: consensus.freshUntil, validUntil: consensus.validUntil, fetchedAt: Date()))
                logger.info("new consensus", metadata: ["flavor": "\(flavor.rawValue)", "valid_after": "\(NetDoc.formatTime(consensus.validAfter))",
                                                        "routers": "\(consensus.routers.count)", "from": "\(a.label)"])
                return consensus
            } catch {
                lastError = error
            }
        }
        if let c = cache.snapshot.consensus[flavor] { return c }
        throw lastError
    }

    /// Parses and checks a consensus; fetches authority certificates when signatures can't
    /// be checked with those we hold.
    func verify(_ body: [UInt8], flavor: Consensus.Flavor, from a: DirAuthorityConfig) async throws -> Consensus {
        do {
            return try Consensus(parsing: body, certificates: cache.snapshot.certificates, authorities: v3Identities,
                                 now: Date(), skew: Self.skew, source: "\(flavor.rawValue) consensus from \(a.label)")
        } catch let e as TorProtocolError where e.code == .badSignature {
            try await fetchCertificates(from: a)
            return try Consensus(parsing: body, certificates: cache.snapshot.certificates, authorities: v3Identities,
                                 now: Date(), skew: Self.skew, source: "\(flavor.rawValue) consensus from \(a.label)")
        }
    }

    func fetchCertificates(from a: DirAuthorityConfig) async throws {
        let r = try await DirectoryHTTPClient.get(host: a.address, port: a.dirPort, path: "/tor/keys/all", group: group)
        guard r.status == 200 else { throw DirectoryClientError("\(a.label) answered \(r.status) \(r.reason) for certificates") }
        let (certs, errors) = AuthorityCertificate.parseAll(r.body, now: Date(), source: "certificates from \(a.label)")
        for e in errors { logger.warning("rejected an authority certificate", metadata: ["error": "\(e)"]) }
        // Only certificates of configured authorities count.
        let ours = certs.filter { c in v3Identities.contains(c.v3Identity) }
        cache.install(certificates: ours)
        try database.saveDirectoryDocument(StoredDirectoryDocument(
            kind: .authorityCertificates, body: cache.snapshot.certificates.flatMap(\.text),
            validAfter: nil, freshUntil: nil, validUntil: nil, fetchedAt: Date()))
    }

    /// Fetches the microdescriptors the microdesc consensus lists that we lack; keeps only
    /// documents whose digest was asked for.
    func fetchMicrodescriptors() async throws {
        let missing = cache.missingMicrodescriptors()
        guard !missing.isEmpty else { return }
        var got = [String: [UInt8]]()
        for start in stride(from: 0, to: missing.count, by: Self.microdescBatch) {
            let batch = Array(missing[start..<min(start + Self.microdescBatch, missing.count)])
            for a in authorities.shuffled() {
                guard let r = try? await DirectoryHTTPClient.get(host: a.address, port: a.dirPort,
                                                                 path: "/tor/micro/d/" + batch.joined(separator: "-"), group: group),
                      r.status == 200 else { continue }
                let wanted = Set(batch)
                for m in Microdescriptors.split(r.body) where wanted.contains(m.digest) { got[m.digest] = m.body }
                break
            }
        }
        cache.install(microdescriptors: got)
        let listed = cache.snapshot.consensus[.microdesc]?.routers.compactMap(\.microdescDigest) ?? []
        try database.updateMicrodescriptors(adding: got.map { ($0.key, $0.value) }, listed: listed, now: Date())
        if got.count < missing.count {
            throw DirectoryClientError("got \(got.count) of \(missing.count) microdescriptors")
        }
    }

    /// Stores how `consensus` lists us; returns our flags, or nil when we are not listed.
    func record(_ consensus: Consensus) -> [String]? {
        let me = consensus.router(identity: ourIdentity.bytes)
        do {
            try database.recordConsensusListing(ConsensusListing(validAfter: consensus.validAfter, listed: me != nil, flags: me?.flags ?? []))
        } catch {
            logger.warning("cannot record the consensus listing", metadata: ["error": "\(error)"])
        }
        return me?.flags
    }
}
