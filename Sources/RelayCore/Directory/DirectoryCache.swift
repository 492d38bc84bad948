import Foundation
import NIOConcurrencyHelpers
import TorCrypto
import TorProtocol

/// The directory documents this relay holds and serves to clients over BEGIN_DIR
/// (dir-spec directory-cache-operation.md): the consensus in both flavours, authority
/// certificates, microdescriptors, and our own descriptor. Documents are installed whole by
/// the fetcher (only verified ones) and read by every loop; a lock guards the swap, never
/// a cell.
public final class DirectoryCache: Sendable {
    public struct Documents: Sendable {
        public var consensus: [Consensus.Flavor: Consensus] = [:]
        public var certificates: [AuthorityCertificate] = []
        public var microdescriptors: [String: [UInt8]] = [:]
        public var ownDescriptor: [UInt8]?
        public var ownDescriptorDigest: [UInt8]?
        public var ownExtraInfo: [UInt8]?
        /// RSA identities listed in the newest consensus.
        public var knownRelays: Set<[UInt8]> = []
    }

    public struct Response: Sendable, Equatable {
        public let status: Int
        public let reason: String
        public let body: [UInt8]
        public var lastModified: Date?

        static func notFound() -> Response { Response(status: 404, reason: "Not found", body: []) }
    }

    public struct Counters: Sendable, Equatable {
        public var requests = 0
        public var served = 0
        public var notFound = 0
        public var notModified = 0
        public var bytesServed = 0
    }

    private let documents = NIOLockedValueBox(Documents())
    private let counters = NIOLockedValueBox(Counters())
    public let ourIdentity: RSAFingerprint
    /// Where bytes of answered requests are counted (the extra-info `dirreq-` history).
    let traffic: TrafficCounters?

    public init(ourIdentity: RSAFingerprint, traffic: TrafficCounters? = nil) {
        self.ourIdentity = ourIdentity
        self.traffic = traffic
    }

    /// Counts one answered request's bytes.
    func noteTransfer(read: Int, written: Int) {
        traffic?.addDirectory(read: read, written: written)
    }

    public var snapshot: Documents { documents.withLockedValue { $0 } }
    public var stats: Counters { counters.withLockedValue { $0 } }

    // MARK: installing

    public func install(consensus: Consensus) {
        documents.withLockedValue { d in
            if let old = d.consensus[consensus.flavor], old.validAfter > consensus.validAfter { return }
            d.consensus[consensus.flavor] = consensus
            d.knownRelays = Set(consensus.routers.map(\.identity))
        }
    }

    public func install(certificates: [AuthorityCertificate]) {
        documents.withLockedValue { d in
            var byKey = [[UInt8]: AuthorityCertificate]()
            for c in d.certificates + certificates {
                let k = c.v3Identity + c.signingKeyDigest
                if let old = byKey[k], old.published >= c.published { continue }
                byKey[k] = c
            }
            d.certificates = byKey.values.sorted { $0.v3Identity.lexicographicallyPrecedes($1.v3Identity) }
        }
    }

    /// Adds microdescriptors and drops those the newest microdesc consensus no longer lists.
    public func install(microdescriptors new: [String: [UInt8]]) {
        documents.withLockedValue { d in
            d.microdescriptors.merge(new) { _, n in n }
            if let c = d.consensus[.microdesc] {
                let listed = Set(c.routers.compactMap(\.microdescDigest))
                d.microdescriptors = d.microdescriptors.filter { listed.contains($0.key) }
            }
        }
    }

    public func setOwnDescriptor(_ descriptor: [UInt8], extraInfo: [UInt8]?) {
        documents.withLockedValue { d in
            d.ownDescriptor = descriptor
            d.ownExtraInfo = extraInfo
            if let end = descriptor.firstRange(of: Array("\nrouter-signature\n".utf8)) {
                d.ownDescriptorDigest = Digest.sha1(Array(descriptor[..<end.upperBound]))
            }
        }
    }

    /// Whether `identity` is a relay in the newest consensus; nil while we have none.
    public func isKnownRelay(_ identity: [UInt8]) -> Bool? {
        documents.withLockedValue { d in d.consensus.isEmpty ? nil : d.knownRelays.contains(identity) }
    }

    /// Microdescriptor digests the newest microdesc consensus lists that we lack.
    public func missingMicrodescriptors() -> [String] {
        documents.withLockedValue { d in
            guard let c = d.consensus[.microdesc] else { return [] }
            return c.routers.compactMap(\.microdescDigest).filter { d.microdescriptors[$0] == nil }
        }
    }

    // MARK: serving

    /// The answer to `GET path` (dir-spec general-use-http-urls.md). Compressed variants
    /// (`.z`) are answered uncompressed, with `Content-Encoding: identity`.
    public func respond(path rawPath: String, ifModifiedSince: Date?, now: Date) -> Response {
        counters.withLockedValue { $0.requests += 1 }
        let r = answer(rawPath, ifModifiedSince: ifModifiedSince, now: now)
        counters.withLockedValue {
            switch r.status {
            case 200: $0.served += 1; $0.bytesServed += r.body.count
            case 304: $0.notModified += 1
            default: $0.notFound += 1
            }
        }
        return r
    }

    private func answer(_ rawPath: String, ifModifiedSince: Date?, now: Date) -> Response {
        var path = rawPath.split(separator: "?", maxSplits: 1).first.map(String.init) ?? rawPath
        if path.hasSuffix(".z") { path.removeLast(2) }
        let d = snapshot
        func consensus(_ flavor: Consensus.Flavor, _ rest: Substring) -> Response {
            guard let c = d.consensus[flavor], now <= c.validUntil else { return .notFound() }
            let prefixes = rest.isEmpty ? [] : rest.dropFirst().split(separator: "+").map(String.init)
            guard c.satisfies(requestedPrefixes: prefixes) else { return .notFound() }
            if let ims = ifModifiedSince, c.validAfter <= ims {
                return Response(status: 304, reason: "Not modified", body: [])
            }
            return Response(status: 200, reason: "OK", body: c.text, lastModified: c.validAfter)
        }
        let mdPrefix = "/tor/status-vote/current/consensus-microdesc"
        let nsPrefix = "/tor/status-vote/current/consensus"
        if path.hasPrefix(mdPrefix) {
            let rest = path.dropFirst(mdPrefix.count)
            guard rest.isEmpty || rest.hasPrefix("/") else { return .notFound() }
            return consensus(.microdesc, rest)
        }
        if path.hasPrefix(nsPrefix) {
            let rest = path.dropFirst(nsPrefix.count)
            guard rest.isEmpty || rest.hasPrefix("/") else { return .notFound() }
            return consensus(.ns, rest)
        }
        if path.hasPrefix("/tor/micro/d/") {
            let wanted = path.dropFirst("/tor/micro/d/".count).split(separator: "-").map(String.init)
            let body = wanted.compactMap { d.microdescriptors[$0] }.flatMap { $0 }
            return body.isEmpty ? .notFound() : Response(status: 200, reason: "OK", body: body)
        }
        if path == "/tor/keys/all" {
            let body = d.certificates.flatMap(\.text)
            return body.isEmpty ? .notFound() : Response(status: 200, reason: "OK", body: body)
        }
        if path.hasPrefix("/tor/keys/fp/") {
            let ids = path.dropFirst("/tor/keys/fp/".count).split(separator: "+").compactMap { [UInt8](hex: String($0)) }
            let body = d.certificates.filter { ids.contains($0.v3Identity) }.flatMap(\.text)
            return body.isEmpty ? .notFound() : Response(status: 200, reason: "OK", body: body)
        }
        if path.hasPrefix("/tor/keys/fp-sk/") {
            let pairs = path.dropFirst("/tor/keys/fp-sk/".count).split(separator: "+").compactMap { pair -> ([UInt8], [UInt8])? in
                let p = pair.split(separator: "-")
                guard p.count == 2, let a = [UInt8](hex: String(p[0])), let b = [UInt8](hex: String(p[1])) else { return nil }
                return (a, b)
            }
            let body = d.certificates.filter { c in pairs.contains { $0.0 == c.v3Identity && $0.1 == c.signingKeyDigest } }.flatMap(\.text)
            return body.isEmpty ? .notFound() : Response(status: 200, reason: "OK", body: body)
        }
        // Our own descriptor and extra-info (what a relay serves about itself).
        let ours = ourIdentity.hex
        if let desc = d.ownDescriptor,
           path == "/tor/server/authority" || path == "/tor/server/fp/\(ours)"
            || (d.ownDescriptorDigest.map { path == "/tor/server/d/\($0.upperHexString)" } ?? false) {
            return Response(status: 200, reason: "OK", body: desc)
        }
        if let extra = d.ownExtraInfo, path == "/tor/extra/authority" || path == "/tor/extra/fp/\(ours)" {
            return Response(status: 200, reason: "OK", body: extra)
        }
        return .notFound()
    }
}
