import Foundation
import TorCrypto

/// A network-status consensus (dir-spec consensus-formats.md), either flavour: `ns` (full
/// descriptors) or `microdesc`. Only what a relay and a directory cache need is kept: the
/// timing, parameters, the routers with their flags, and which authorities signed it.
/// Only consensuses signed by more than half of the configured authorities are constructed.
public struct Consensus: Sendable {
    public enum Flavor: String, Sendable { case ns, microdesc }

    public struct Router: Sendable, Equatable {
        public let nickname: String
        /// The relay's RSA identity (20 bytes).
        public let identity: [UInt8]
        public let address: String
        public let orPort: Int
        public var flags: [String] = []
        /// Microdesc flavour: the microdescriptor's SHA-256, base64 without padding.
        public var microdescDigest: String?
        public var protocols: String?
    }

    public let flavor: Flavor
    public let validAfter: Date
    public let freshUntil: Date
    public let validUntil: Date
    public let params: [String: Int]
    public let routers: [Router]
    /// v3 identities of the authorities whose signatures verified.
    public let signedBy: [[UInt8]]
    /// The document as received, for serving.
    public let text: [UInt8]

    /// Parses and checks a consensus: its signatures against `certificates`, of which more
    /// than half of `authorities` (v3 identities) must have signed; and that `now` is
    /// before valid-until (with `skew` of tolerance).
    public init(parsing bytes: [UInt8], certificates: [AuthorityCertificate], authorities: [[UInt8]],
                now: Date, skew: TimeInterval = 0, source: String = "consensus") throws {
        let doc = try NetDoc(parsing: bytes, source: source)
        guard let first = doc.items.first, first.keyword == "network-status-version", first.arguments.first == "3" else {
            throw TorProtocolError(.malformed, "\(source): does not start with 'network-status-version 3'")
        }
        flavor = first.arguments.count > 1 && first.arguments[1] == "microdesc" ? .microdesc : .ns
        guard try doc.exactlyOne("vote-status", source: source).arguments.first == "consensus" else {
            throw TorProtocolError(.malformed, "\(source): not a consensus (vote-status)")
        }
        func time(_ k: String) throws -> Date {
            guard let d = NetDoc.parseTime(try doc.exactlyOne(k, source: source).argumentString) else {
                throw TorProtocolError(.malformed, "\(source): bad '\(k)'")
            }
            return d
        }
        validAfter = try time("valid-after")
        freshUntil = try time("fresh-until")
        validUntil = try time("valid-until")
        guard validAfter <= freshUntil, freshUntil <= validUntil else {
            throw TorProtocolError(.malformed, "\(source): valid-after, fresh-until and valid-until out of order")
        }
        guard now <= validUntil + skew else {
            throw TorProtocolError(.expired, "\(source): expired at \(NetDoc.formatTime(validUntil))")
        }
        var params = [String: Int]()
        if let p = try doc.optional("params", source: source) {
            for kv in p.arguments {
                let parts = kv.split(separator: "=", maxSplits: 1)
                if parts.count == 2, let v = Int(parts[1]) { params[String(parts[0])] = v }
            }
        }
        self.params = params

        // Signatures: each over SHA-1 or SHA-256 of the text up to and including the space
        // after the first "directory-signature".
        let sigItems = doc.all("directory-signature")
        guard let firstSig = sigItems.first else { throw TorProtocolError(.malformed, "\(source): no signatures") }
        let signed = Array(bytes[first.range.lowerBound..<(firstSig.lineRange.lowerBound + "directory-signature ".utf8.count)])
        let sha1 = Digest.sha1(signed), sha256 = Digest.sha256(signed)
        var signers = [[UInt8]]()
        for s in sigItems {
            var args = s.arguments
            let algorithm = args.count == 3 ? args.removeFirst() : "sha1"
            guard args.count == 2, let id = [UInt8](hex: args[0]), let skd = [UInt8](hex: args[1]), let sig = s.object?.bytes,
                  authorities.contains(id), !signers.contains(id),
                  let cert = certificates.first(where: { $0.v3Identity == id && $0.signingKeyDigest == skd }) else { continue }
            let digest = algorithm == "sha256" ? sha256 : algorithm == "sha1" ? sha1 : []
            if !digest.isEmpty, cert.signingKey.recoverSigned(sig) == digest { signers.append(id) }
        }
        guard signers.count * 2 > authorities.count else {
            throw TorProtocolError(.badSignature, "\(source): only \(signers.count) of \(authorities.count) authorities' signatures verify (need more than half)")
        }
        signedBy = signers

        var routers = [Router]()
        for item in doc.items {
            switch item.keyword {
            case "r":
                // ns: nick id digest date time ip orport dirport; microdesc: nick id date time ip orport dirport
                let a = item.arguments
                let ipIndex = flavor == .microdesc ? 4 : 5
                guard a.count >= ipIndex + 3, let id = [UInt8](base64Unpadded: a[1].replacingOccurrences(of: "=", with: "")), id.count == 20,
                      let port = Int(a[ipIndex + 1]) else {
                    throw TorProtocolError(.malformed, "\(source): bad 'r' line '\(item.argumentString.prefix(80))'")
                }
                routers.append(Router(nickname: a[0], identity: id, address: a[ipIndex], orPort: port))
            case "s":
                if !routers.isEmpty { routers[routers.count - 1].flags = item.arguments }
            case "m":
                if !routers.isEmpty, flavor == .microdesc { routers[routers.count - 1].microdescDigest = item.arguments.first }
            case "pr":
                if !routers.isEmpty { routers[routers.count - 1].protocols = item.argumentString }
            default:
                continue
            }
        }
        self.routers = routers
        text = bytes
    }

    public func router(identity: [UInt8]) -> Router? { routers.first { $0.identity == identity } }

    /// Whether at least half plus one of the authorities named by hex prefixes in a client's
    /// request signed this consensus (how a cache decides to serve `consensus/F1+F2…`).
    public func satisfies(requestedPrefixes: [String]) -> Bool {
        guard !requestedPrefixes.isEmpty else { return true }
        let signersHex = signedBy.map(\.upperHexString)
        let matched = requestedPrefixes.filter { p in signersHex.contains { $0.hasPrefix(p.uppercased()) } }.count
        return matched * 2 > requestedPrefixes.count
    }
}

/// Splits microdescriptors (the answer to `/tor/micro/d/...`) into documents with their
/// SHA-256 digests (base64, unpadded). Each starts with the keyword of the first line.
public enum Microdescriptors {
    public static func split(_ bytes: [UInt8]) -> [(digest: String, body: [UInt8])] {
        guard let nl = bytes.firstIndex(of: UInt8(ascii: "\n")),
              let firstKeyword = bytes[..<nl].split(separator: UInt8(ascii: " ")).first else { return [] }
        let marker = Array(firstKeyword) + [UInt8(ascii: " ")]
        let markerNL = Array(firstKeyword) + [UInt8(ascii: "\n")]
        var starts = [Int]()
        var i = 0
        while i < bytes.count {
            if bytes[i...].starts(with: marker) || bytes[i...].starts(with: markerNL) { starts.append(i) }
            guard let e = bytes[i...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            i = e + 1
        }
        return starts.enumerated().map { k, s in
            let e = k + 1 < starts.count ? starts[k + 1] : bytes.count
            let body = Array(bytes[s..<e])
            return (Digest.sha256(body).base64Unpadded, body)
        }
    }
}

/// What a relay needs from another relay's microdescriptor to build a circuit through it.
public struct Microdescriptor: Sendable, Equatable {
    public let ntorOnionKey: [UInt8]
    public let ed25519Identity: [UInt8]?

    public init(parsing bytes: [UInt8], source: String = "microdescriptor") throws {
        let doc = try NetDoc(parsing: bytes, source: source)
        guard let ntor = try doc.exactlyOne("ntor-onion-key", source: source).arguments.first
            .flatMap({ [UInt8](base64Unpadded: $0.replacingOccurrences(of: "=", with: "")) }), ntor.count == 32 else {
            throw TorProtocolError(.malformed, "\(source): bad ntor-onion-key")
        }
        ntorOnionKey = ntor
        ed25519Identity = doc.all("id").first { $0.arguments.first == "ed25519" }?.arguments.dropFirst().first
            .flatMap { [UInt8](base64Unpadded: $0.replacingOccurrences(of: "=", with: "")) }
    }
}
