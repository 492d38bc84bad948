import NIOCore
import TorCrypto

/// The handshake's view of the link cells: building, parsing, and logging exact wire bytes
/// for the AUTHENTICATE transcript digests (SLOG/CLOG).
enum LinkWire {
    static let narrow = CellFraming(circuitIDWidth: .narrow)
    static let wide = CellFraming(circuitIDWidth: .wide)

    /// Adds `cell`'s wire encoding to a transcript digest. Re-encoding a decoded cell gives the
    /// bytes that crossed the wire: fixed cells keep their whole 509-byte body.
    static func log(_ cell: Cell, narrow isNarrow: Bool, into digest: DigestContext) throws {
        var buf = ByteBuffer()
        try (isNarrow ? narrow : wide).encode(cell, into: &buf)
        buf.withUnsafeReadableBytes { digest.update($0) }
    }

    static func versionsCell(_ versions: [UInt16]) -> Cell {
        try! VersionsCell(versions: versions).cell()
    }

    static func parseVersions(_ cell: Cell) throws -> [UInt16] {
        guard cell.circuitID == 0 else { throw TorProtocolError(.handshake, "VERSIONS cell on circuit \(cell.circuitID)") }
        return try VersionsCell(cell: cell).versions
    }

    static func certsCell(_ certs: [CertsCell.Certificate]) throws -> Cell {
        try CertsCell(certificates: certs).cell()
    }

    static func parseCerts(_ cell: Cell) throws -> [CertsCell.Certificate] {
        guard cell.circuitID == 0 else { throw TorProtocolError(.handshake, "CERTS cell on circuit \(cell.circuitID)") }
        return try CertsCell(cell: cell).certificates
    }

    static func authChallengeCell(challenge: [UInt8], methods: [UInt16]) -> Cell {
        try! AuthChallengeCell(challenge: challenge, methods: methods.map(LinkAuthMethod.init(rawValue:))).cell()
    }

    static func parseAuthChallengeMethods(_ cell: Cell) throws -> [UInt16] {
        try AuthChallengeCell(cell: cell).methods.map(\.rawValue)
    }

    static func netinfoCell(time: UInt32, otherAddress: NetinfoAddress, myAddresses: [NetinfoAddress]) -> Cell {
        try! NetinfoCell(timestamp: time, otherAddress: otherAddress, myAddresses: myAddresses).cell()
    }

    static func parseNetinfo(_ cell: Cell) throws -> NetinfoCell {
        guard cell.circuitID == 0 else { throw TorProtocolError(.handshake, "NETINFO cell on circuit \(cell.circuitID)") }
        return try NetinfoCell(cell: cell)
    }

    static func parseAuthenticate(_ cell: Cell) throws -> (UInt16, [UInt8]) {
        let a = try AuthenticateCell(cell: cell)
        return (a.authType.rawValue, a.authenticator)
    }

    static func authenticateCell(type: UInt16, authenticator: [UInt8]) -> Cell {
        try! AuthenticateCell(authType: LinkAuthMethod(rawValue: type), authenticator: authenticator).cell()
    }
}

/// The fields of an AUTH0003 authenticator that both sides compute from the connection.
struct Auth0003Fields {
    var cid, sid, cidEd, sidEd, slog, clog, scert, tlsSecrets: [UInt8]
}

extension Auth0003 {
    /// True if every connection-derived field equals what we computed (RAND is not checked).
    func matches(_ f: Auth0003Fields) -> Bool {
        constantTimeEqual(cid + sid + cidEd + sidEd + slog + clog + scert + tlsSecrets,
                          f.cid + f.sid + f.cidEd + f.sidEd + f.slog + f.clog + f.scert + f.tlsSecrets)
    }

    var signedPart: [UInt8] { (try? encodeSignedPart()) ?? [] }

    /// Builds and signs an authenticator with KS_link_ed.
    static func sign(_ f: Auth0003Fields, random: [UInt8], key: Ed25519SecretKey) -> [UInt8] {
        var a = Auth0003(cid: f.cid, sid: f.sid, cidEd: f.cidEd, sidEd: f.sidEd, slog: f.slog, clog: f.clog,
                         scert: f.scert, tlsSecrets: f.tlsSecrets, rand: random,
                         signature: [UInt8](repeating: 0, count: Auth0003.signatureLength))
        a.signature = key.sign(a.signedPart)
        return try! a.encode()
    }
}
