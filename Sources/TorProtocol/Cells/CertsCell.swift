import NIOCore

/// CERTS (command 129; tor-spec negotiating-channels, checklist §3.4):
///
///     N (1) | N × { CertType (1) | CertLen (2) | Cert (CertLen) }
///
/// Certificates are kept in order and as received, duplicates included: refusing a second
/// cert of one type, ignoring unknown types and checking the certs is the handshake's job.
public struct CertsCell: LinkCellBody {
    public static let command = CellCommand.certs

    /// CertType (CTor `CERTTYPE_*`). Open: unknown types are carried and ignored by the handshake.
    public struct CertType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// 1, `CERTTYPE_RSA1024_ID_LINK`: X.509 TLS link certificate (DER).
        public static let rsaLinkX509 = CertType(rawValue: 1)
        /// 2, `CERTTYPE_RSA1024_ID_ID`: self-signed X.509 RSA-1024 identity certificate.
        public static let rsaIdentityX509 = CertType(rawValue: 2)
        /// 3, `CERTTYPE_RSA1024_ID_AUTH`: legacy X.509 link-authentication certificate.
        public static let rsaAuthX509 = CertType(rawValue: 3)
        /// 4, `CERTTYPE_ED_ID_SIGN`: Ed25519 KP_relayid_ed → KP_relaysign_ed.
        public static let ed25519IdentityToSigning = CertType(rawValue: 4)
        /// 5, `CERTTYPE_ED_SIGN_LINK`: Ed25519 KP_relaysign_ed → SHA256 of the TLS certificate.
        public static let ed25519SigningToTLSLink = CertType(rawValue: 5)
        /// 6, `CERTTYPE_ED_SIGN_AUTH`: Ed25519 KP_relaysign_ed → KP_link_ed.
        public static let ed25519SigningToLinkAuth = CertType(rawValue: 6)
        /// 7, `CERTTYPE_RSA1024_ID_EDID`: RSA → Ed25519 cross-certificate.
        public static let rsaEd25519CrossCert = CertType(rawValue: 7)
        public var description: String { "cert type \(rawValue)" }
    }

    public struct Certificate: Hashable, Sendable {
        public var type: CertType
        /// The certificate's bytes, unparsed.
        public var body: [UInt8]
        public init(type: CertType, body: [UInt8]) {
            self.type = type
            self.body = body
        }
    }

    public var certificates: [Certificate]

    public init(certificates: [Certificate]) {
        self.certificates = certificates
    }

    /// Every certificate of `type`, in cell order (more than one is the handshake's to refuse).
    public func certificates(ofType type: CertType) -> [[UInt8]] {
        certificates.filter { $0.type == type }.map(\.body)
    }

    /// Bytes after the N certificates are ignored, as CTor's trunnel parser does.
    public init(parsingBody body: ByteBuffer) throws {
        var reader = CellBodyReader(body, cell: "CERTS")
        let count: UInt8 = try reader.readInteger("N")
        var certs = [Certificate]()
        certs.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            let type = CertType(rawValue: try reader.readInteger("cert \(i) type"))
            let length: UInt16 = try reader.readInteger("cert \(i) length")
            let bytes = try reader.readBytes(Int(length), "cert \(i) (\(type))")
            certs.append(Certificate(type: type, body: bytes))
        }
        certificates = certs
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        guard certificates.count <= Int(UInt8.max) else {
            throw TorProtocolError(.malformed, "CERTS cell cannot carry \(certificates.count) certificates")
        }
        buffer.writeInteger(UInt8(certificates.count))
        for cert in certificates {
            guard cert.body.count <= Int(UInt16.max) else {
                throw TorProtocolError(.malformed, "\(cert.type) of \(cert.body.count) bytes does not fit CertLen")
            }
            buffer.writeInteger(cert.type.rawValue)
            buffer.writeInteger(UInt16(cert.body.count))
            buffer.writeBytes(cert.body)
        }
    }
}
