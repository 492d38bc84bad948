/// The authenticator of link authentication method 3, Ed25519-SHA256-RFC5705 (tor-spec
/// negotiating-channels#Ed25519-SHA256-RFC5705, checklist §3.6; CTor trunnel `auth1`).
/// 352 bytes:
///
///     TYPE "AUTH0003" (8) | CID | SID | CID_ED | SID_ED | SLOG | CLOG | SCERT | TLSSECRETS
///     (32 each) | RAND (24) | SIG (64)
///
/// SIG is the initiator's KS_link_ed signature over `encodeSignedPart()` (TYPE through RAND).
/// The responder recomputes TYPE..TLSSECRETS and compares them byte for byte; RAND is not checked.
public struct Auth0003: Hashable, Sendable {
    /// TYPE.
    public static let type: [UInt8] = Array("AUTH0003".utf8)
    public static let length = 352
    /// TYPE through RAND: what SIG covers.
    public static let signedLength = 288
    public static let randomLength = 24
    public static let signatureLength = 64

    /// CID: SHA256 of the DER RSAPublicKey of the initiator's identity.
    public var cid: [UInt8]
    /// SID: SHA256 of the DER RSAPublicKey of the responder's identity.
    public var sid: [UInt8]
    /// CID_ED: the initiator's KP_relayid_ed.
    public var cidEd: [UInt8]
    /// SID_ED: the responder's KP_relayid_ed.
    public var sidEd: [UInt8]
    /// SLOG: SHA256 of every byte the responder sent, VERSIONS through AUTH_CHALLENGE.
    public var slog: [UInt8]
    /// CLOG: SHA256 of every byte the initiator sent before AUTHENTICATE.
    public var clog: [UInt8]
    /// SCERT: SHA256 of the DER of the responder's TLS certificate.
    public var scert: [UInt8]
    /// TLSSECRETS: the TLS exporter, label "EXPORTER FOR TOR TLS CLIENT BINDING AUTH0003", context CID.
    public var tlsSecrets: [UInt8]
    /// RAND: 24 random bytes.
    public var rand: [UInt8]
    /// SIG: Ed25519 signature by KS_link_ed over TYPE..RAND; empty until signed.
    public var signature: [UInt8]

    public init(cid: [UInt8], sid: [UInt8], cidEd: [UInt8], sidEd: [UInt8], slog: [UInt8], clog: [UInt8],
                scert: [UInt8], tlsSecrets: [UInt8], rand: [UInt8], signature: [UInt8] = []) {
        self.cid = cid
        self.sid = sid
        self.cidEd = cidEd
        self.sidEd = sidEd
        self.slog = slog
        self.clog = clog
        self.scert = scert
        self.tlsSecrets = tlsSecrets
        self.rand = rand
        self.signature = signature
    }

    /// Parses exactly 352 bytes with TYPE "AUTH0003".
    public init(parsing bytes: [UInt8]) throws {
        guard bytes.count == Self.length else {
            throw TorProtocolError(bytes.count < Self.length ? .truncated : .malformed,
                                   "AUTH0003 authenticator has \(bytes.count) bytes, expected \(Self.length)")
        }
        guard bytes.prefix(8).elementsEqual(Self.type) else {
            throw TorProtocolError(.wrongType, "authenticator TYPE is not AUTH0003")
        }
        func field(_ index: Int) -> [UInt8] { Array(bytes[(8 + 32 * index)..<(8 + 32 * (index + 1))]) }
        cid = field(0)
        sid = field(1)
        cidEd = field(2)
        sidEd = field(3)
        slog = field(4)
        clog = field(5)
        scert = field(6)
        tlsSecrets = field(7)
        rand = Array(bytes[264..<Self.signedLength])
        signature = Array(bytes[Self.signedLength...])
    }

    /// TYPE through RAND (288 bytes): the message SIG signs.
    public func encodeSignedPart() throws -> [UInt8] {
        let fields: [(String, [UInt8])] = [("CID", cid), ("SID", sid), ("CID_ED", cidEd), ("SID_ED", sidEd),
                                           ("SLOG", slog), ("CLOG", clog), ("SCERT", scert), ("TLSSECRETS", tlsSecrets)]
        var out = Self.type
        out.reserveCapacity(Self.length)
        for (name, value) in fields {
            guard value.count == 32 else {
                throw TorProtocolError(.malformed, "AUTH0003 \(name) has \(value.count) bytes, expected 32")
            }
            out += value
        }
        guard rand.count == Self.randomLength else {
            throw TorProtocolError(.malformed, "AUTH0003 RAND has \(rand.count) bytes, expected 24")
        }
        return out + rand
    }

    /// All 352 bytes; SIG must be set.
    public func encode() throws -> [UInt8] {
        guard signature.count == Self.signatureLength else {
            throw TorProtocolError(.malformed, "AUTH0003 SIG has \(signature.count) bytes, expected 64")
        }
        return try encodeSignedPart() + signature
    }
}
