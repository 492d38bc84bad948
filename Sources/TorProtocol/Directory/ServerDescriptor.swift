import Foundation
import TorCrypto

/// What a server descriptor says about this relay (dir-spec server-descriptor-format.md),
/// apart from the keys, which come from `RelayKeys`.
public struct ServerDescriptorContent: Sendable, Equatable {
    public var nickname: String
    /// IPv4 address, 4 bytes.
    public var address: [UInt8]
    public var orPort: Int
    /// `platform`: free text; must not start with "Tor " (authorities parse that as a CTor version).
    public var platform: String
    public var proto: String
    public var published: Date
    public var uptime: Int?
    /// `bandwidth`: average, burst, observed (bytes per second).
    public var bandwidthRate: Int
    public var bandwidthBurst: Int
    public var bandwidthObserved: Int
    /// `extra-info-digest`: SHA-1 (hex) of the extra-info's RSA-signed part and SHA-256 (base64) of the whole.
    public var extraInfoDigest: (sha1Hex: String, sha256Base64: String)?
    /// `family`: `$FINGERPRINT` or nicknames, from MyFamily.
    public var family: [String] = []
    /// From `FamilyId`: the family keys (unpadded base64 public ids) to publish a `family-cert`
    /// with; a key the relay holds but is not listed here is not used.
    public var familyIds: [String] = []
    public var contact: String?
    public var exitPolicy: ExitPolicy
    /// `tunnelled-dir-server`: we answer BEGIN_DIR (needed for V2Dir and so for Guard).
    public var tunnelledDirServer = true
    public var hibernating = false

    public init(nickname: String, address: [UInt8], orPort: Int, platform: String, proto: String, published: Date,
                uptime: Int?, bandwidthRate: Int, bandwidthBurst: Int, bandwidthObserved: Int, exitPolicy: ExitPolicy) {
        self.nickname = nickname
        self.address = address
        self.orPort = orPort
        self.platform = platform
        self.proto = proto
        self.published = published
        self.uptime = uptime
        self.bandwidthRate = bandwidthRate
        self.bandwidthBurst = bandwidthBurst
        self.bandwidthObserved = bandwidthObserved
        self.exitPolicy = exitPolicy
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.nickname == b.nickname && a.address == b.address && a.orPort == b.orPort && a.platform == b.platform
            && a.proto == b.proto && a.published == b.published && a.uptime == b.uptime && a.bandwidthRate == b.bandwidthRate
            && a.bandwidthBurst == b.bandwidthBurst && a.bandwidthObserved == b.bandwidthObserved
            && a.extraInfoDigest?.sha1Hex == b.extraInfoDigest?.sha1Hex && a.extraInfoDigest?.sha256Base64 == b.extraInfoDigest?.sha256Base64
            && a.family == b.family && a.familyIds == b.familyIds && a.contact == b.contact && a.exitPolicy == b.exitPolicy
            && a.tunnelledDirServer == b.tunnelledDirServer && a.hibernating == b.hibernating
    }
}

/// A signed server descriptor, built in the item order CTor 0.4.9 emits
/// (reference/tor-relay-checklist.md §6.1).
public struct ServerDescriptor: Sendable {
    static let ed25519SignaturePrefix = Array("Tor router descriptor signature v1".utf8)
    /// CTor's MAX_DESCRIPTOR_UPLOAD_SIZE.
    public static let maxSize = 20_000

    public let text: String
    public var bytes: [UInt8] { Array(text.utf8) }
    /// SHA-1 of the RSA-signed part: the descriptor digest authorities and the consensus use.
    public let digest: [UInt8]

    /// The protocol versions this build implements, for the `proto` line (checklist §1):
    /// link v4/v5 with Ed25519 link authentication, CREATE2 with ntor and ntor v3,
    /// EXTEND2 with IPv6 link specifiers, CREATE_FAST, tor1 relay crypto, fixed-window
    /// SENDMEs (FlowCtrl=1, no congestion control yet), and a BEGIN_DIR directory cache.
    public static let supportedProtocols = "Cons=1-2 Desc=1-2 DirCache=2 FlowCtrl=1 Link=4-5 LinkAuth=3 Microdesc=1-2 Relay=2-4"

    public init(content c: ServerDescriptorContent, keys: RelayKeys, lifetimes: KeyLifetimes = KeyLifetimes()) throws {
        guard RelayConfig.isValidNickname(c.nickname) else {
            throw TorProtocolError(.malformed, "nickname '\(c.nickname)' must be 1-19 letters or digits")
        }
        guard c.address.count == 4, (1...65535).contains(c.orPort) else {
            throw TorProtocolError(.malformed, "descriptor needs an IPv4 address and an ORPort from 1 to 65535")
        }
        guard !c.platform.hasPrefix("Tor "), !c.platform.contains("\n"), !(c.contact ?? "").contains("\n") else {
            throw TorProtocolError(.malformed, "platform must not start with 'Tor ' and no line may contain a newline")
        }
        guard c.bandwidthRate >= 1, c.bandwidthBurst >= c.bandwidthRate, c.bandwidthObserved >= 0 else {
            throw TorProtocolError(.malformed, "bandwidth must have rate >= 1 and burst >= rate")
        }
        let identity = keys.rsaIdentity.publicKey
        let ed = keys.masterPublic
        var d = ""
        d += "router \(c.nickname) \(c.address.map(String.init).joined(separator: ".")) \(c.orPort) 0 0\n"
        d += "identity-ed25519\n" + NetDoc.armour(keys.signingCert.encoded, label: "ED25519 CERT")
        d += "master-key-ed25519 \(ed.base64)\n"
        d += "platform \(c.platform)\n"
        d += "proto \(c.proto)\n"
        d += "published \(NetDoc.formatTime(c.published))\n"
        d += "fingerprint \(RSAFingerprint(identity: identity).spaced)\n"
        if let up = c.uptime { d += "uptime \(up)\n" }
        d += "bandwidth \(c.bandwidthRate) \(c.bandwidthBurst) \(c.bandwidthObserved)\n"
        if let x = c.extraInfoDigest { d += "extra-info-digest \(x.sha1Hex) \(x.sha256Base64)\n" }
        if c.hibernating { d += "hibernating 1\n" }
        d += "onion-key\n" + NetDoc.armour(keys.onionCurrent.tap.publicKey.pkcs1DER, label: "RSA PUBLIC KEY")
        d += "signing-key\n" + NetDoc.armour(identity.pkcs1DER, label: "RSA PUBLIC KEY")
        // onion-key-crosscert: the TAP key signs SHA1(identity DER) || KP_relayid_ed (no timestamp).
        let tapCross = try keys.onionCurrent.tap.signRaw(Digest.sha1(identity.pkcs1DER) + ed.bytes)
        d += "onion-key-crosscert\n" + NetDoc.armour(tapCross, label: "CROSSCERT")
        // ntor-onion-key-crosscert: a type-0x0A certificate of KP_relayid_ed signed by the
        // Ed25519 key derived from the ntor onion key.
        let (derived, signBit) = keys.onionCurrent.ntor.derivedEd25519Key()
        let ntorCross = try VerifiedEd25519Cert.issue(
            type: .ntorOnionCrossCert, certifiedKey: ed.bytes,
            expiration: c.published + lifetimes.onionKeyRotation + lifetimes.onionKeyGrace,
            signer: derived, includeSignerKey: false)
        d += "ntor-onion-key-crosscert \(signBit)\n" + NetDoc.armour(ntorCross.encoded, label: "ED25519 CERT")
        if !c.family.isEmpty { d += "family \(c.family.joined(separator: " "))\n" }
        for f in keys.family where c.familyIds.contains(f.key.publicKey.base64) {
            // Proposal 321 family certificate: the family key certifies our KP_relayid_ed.
            let cert = try VerifiedEd25519Cert.issue(type: .familyMembership, certifiedKey: ed.bytes,
                                                     expiration: c.published + 30 * 86_400, signer: f.key, includeSignerKey: true)
            d += "family-cert\n" + NetDoc.armour(cert.encoded, label: "FAMILY CERT")
        }
        if let contact = c.contact { d += "contact \(contact)\n" }
        d += "ntor-onion-key \(keys.onionCurrent.ntor.publicKey.bytes.base64Unpadded)\n"
        for line in Self.policyLines(c.exitPolicy) { d += line + "\n" }
        if c.tunnelledDirServer { d += "tunnelled-dir-server\n" }
        d += "router-sig-ed25519 "
        let edSig = keys.signingKey.sign(Digest.sha256(Self.ed25519SignaturePrefix + Array(d.utf8)))
        d += edSig.base64Unpadded + "\n"
        d += "router-signature\n"
        let digest = Digest.sha1(Array(d.utf8))
        d += NetDoc.armour(try keys.rsaIdentity.signRaw(digest), label: "SIGNATURE")
        guard d.utf8.count <= Self.maxSize else {
            throw TorProtocolError(.malformed, "descriptor is \(d.utf8.count) bytes, over the \(Self.maxSize)-byte limit (shorten the exit policy or family)")
        }
        text = d
        self.digest = digest
    }

    /// The IPv4 policy as descriptor lines: IPv6-only rules are left out (descriptors may not
    /// carry `accept6`/`reject6`), `*4` is written `*`, and the list ends at the first catch-all.
    public static func policyLines(_ policy: ExitPolicy) -> [String] {
        var out = [String]()
        for r in policy.rules where r.families.contains(4) {
            if let n = r.network, n.address.count != 4 { continue }
            let addr = r.network.map { $0.prefixLength == 32 ? $0.address.map(String.init).joined(separator: ".")
                : $0.address.map(String.init).joined(separator: ".") + "/\($0.prefixLength)" } ?? "*"
            let port = r.ports == 1...65535 ? "*" : r.ports.lowerBound == r.ports.upperBound ? "\(r.ports.lowerBound)" : "\(r.ports.lowerBound)-\(r.ports.upperBound)"
            out.append("\(r.action.rawValue) \(addr):\(port)")
            if r.network == nil, r.ports == 1...65535 { break }
        }
        if out.isEmpty { out = ["reject *:*"] }
        return out
    }
}

/// A server descriptor whose signatures and certificates were checked (what an authority
/// checks before it accepts one; used for our own output and for documents we relay).
public struct VerifiedServerDescriptor: Sendable {
    public let nickname: String
    public let rsaIdentity: RSAPublicKey
    public let fingerprint: RSAFingerprint
    public let ed25519Identity: Ed25519PublicKey
    public let published: Date
    public let digest: [UInt8]
    public let doc: NetDoc

    /// Checks the router line, the Ed25519 certificate chain, both cross-certificates and
    /// both signatures, as of `now`.
    public init(parsing bytes: [UInt8], now: Date, source: String = "server descriptor") throws {
        let doc = try NetDoc(parsing: bytes, source: source)
        guard let first = doc.items.first, first.keyword == "router", first.arguments.count == 5 else {
            throw TorProtocolError(.malformed, "\(source): does not start with a 'router' line")
        }
        guard doc.items.count > 2, doc.items[1].keyword == "identity-ed25519",
              let certObj = doc.items[1].object, certObj.label == "ED25519 CERT" else {
            throw TorProtocolError(.malformed, "\(source): 'identity-ed25519' must follow 'router'")
        }
        let n = doc.items.count
        guard doc.items[n - 1].keyword == "router-signature", doc.items[n - 2].keyword == "router-sig-ed25519" else {
            throw TorProtocolError(.malformed, "\(source): must end with 'router-sig-ed25519' and 'router-signature'")
        }
        guard try doc.optional("proto", source: source) != nil else {
            throw TorProtocolError(.malformed, "\(source): 'proto' is missing")
        }
        let cert = try UncheckedEd25519Cert(parsing: certObj.bytes)
        guard cert.certType == .identityToSigning, let master = cert.embeddedSigningKey else {
            throw TorProtocolError(.badCertificate, "\(source): identity-ed25519 is not a type-4 certificate with the signer's key")
        }
        let verifiedCert = try cert.verify(signedBy: master, now: now)
        let masterLine = try doc.exactlyOne("master-key-ed25519", source: source)
        guard masterLine.arguments.first.flatMap({ [UInt8](base64Unpadded: $0) }) == master.bytes else {
            throw TorProtocolError(.keyMismatch, "\(source): master-key-ed25519 differs from the certificate's signing key")
        }
        guard let signingEd = verifiedCert.certifiedEd25519Key else {
            throw TorProtocolError(.badCertificate, "\(source): identity-ed25519 does not certify an Ed25519 key")
        }
        guard let rsaObj = try doc.exactlyOne("signing-key", source: source).object else {
            throw TorProtocolError(.malformed, "\(source): signing-key has no key")
        }
        let rsa = try RSAPublicKey(pkcs1DER: rsaObj.bytes)
        // router-sig-ed25519 over everything up to and including "router-sig-ed25519 ".
        let edItem = doc.items[n - 2]
        let edEnd = edItem.lineRange.lowerBound + "router-sig-ed25519 ".utf8.count
        guard let edSig = edItem.arguments.first.flatMap({ [UInt8](base64Unpadded: $0) }),
              signingEd.isValidSignature(edSig, for: Digest.sha256(ServerDescriptor.ed25519SignaturePrefix + Array(bytes[0..<edEnd]))) else {
            throw TorProtocolError(.badSignature, "\(source): router-sig-ed25519 does not verify")
        }
        let rsaItem = doc.items[n - 1]
        let signed = Array(bytes[0..<rsaItem.lineRange.upperBound])
        let digest = Digest.sha1(signed)
        guard let sig = rsaItem.object, rsa.recoverSigned(sig.bytes) == digest else {
            throw TorProtocolError(.badSignature, "\(source): router-signature does not verify")
        }
        // The ntor-onion-key cross-certificate ties the onion key to KP_relayid_ed.
        let ntorLine = try doc.exactlyOne("ntor-onion-key", source: source)
        let crossItem = try doc.exactlyOne("ntor-onion-key-crosscert", source: source)
        guard let ntorBytes = ntorLine.arguments.first.flatMap({ [UInt8](base64Unpadded: $0.replacingOccurrences(of: "=", with: "")) }),
              let bitText = crossItem.arguments.first, let bit = UInt8(bitText), let crossObj = crossItem.object else {
            throw TorProtocolError(.malformed, "\(source): bad ntor-onion-key or its cross-certificate")
        }
        let derived = try Curve25519PublicKey(bytes: ntorBytes).ed25519Equivalent(signBit: bit)
        let cross = try UncheckedEd25519Cert(parsing: crossObj.bytes)
        guard cross.certType == .ntorOnionCrossCert, cross.certifiedKey == master.bytes, cross.signatureIsValid(signedBy: derived) else {
            throw TorProtocolError(.badSignature, "\(source): ntor-onion-key-crosscert does not verify")
        }
        if let onion = try doc.optional("onion-key", source: source)?.object {
            let tap = try RSAPublicKey(pkcs1DER: onion.bytes)
            guard let tc = try doc.optional("onion-key-crosscert", source: source)?.object,
                  tap.recoverSigned(tc.bytes) == Digest.sha1(rsa.pkcs1DER) + master.bytes else {
                throw TorProtocolError(.badSignature, "\(source): onion-key-crosscert does not verify")
            }
        }
        guard let pub = try doc.exactlyOne("published", source: source).arguments.joined(separator: " ") as String?,
              let published = NetDoc.parseTime(pub) else {
            throw TorProtocolError(.malformed, "\(source): bad 'published' line")
        }
        nickname = first.arguments[0]
        rsaIdentity = rsa
        fingerprint = RSAFingerprint(identity: rsa)
        ed25519Identity = master
        self.published = published
        self.digest = digest
        self.doc = doc
    }
}
