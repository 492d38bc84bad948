import TorCrypto

/// CTor's tagged binary key files (`crypto_write_tagged_contents_to_file`): a 32-byte header
/// `"== <type>: <tag> =="` padded with NULs, then the raw body. See
/// reference/tor-relay-checklist.md §2.5 for the inventory.
public enum CTorKeyFile {
    public static let headerLength = 32

    public enum Kind: Sendable {
        /// `ed25519v1-secret`: a 64-byte expanded Ed25519 secret.
        case ed25519Secret
        /// `ed25519v1-public`: a 32-byte Ed25519 public key.
        case ed25519Public
        /// `ed25519v1-cert`: an Ed25519 certificate.
        case ed25519Cert
        /// `c25519v1`: clamped curve25519 secret ‖ public.
        case curve25519Keypair

        var typeString: String {
            switch self {
            case .ed25519Secret: "ed25519v1-secret"
            case .ed25519Public: "ed25519v1-public"
            case .ed25519Cert: "ed25519v1-cert"
            case .curve25519Keypair: "c25519v1"
            }
        }

        var bodyLength: Int? {
            switch self {
            case .ed25519Secret: 64
            case .ed25519Public: 32
            case .ed25519Cert: nil
            case .curve25519Keypair: 64
            }
        }
    }

    public static func encode(_ kind: Kind, tag: String, body: [UInt8]) -> [UInt8] {
        var header = Array("== \(kind.typeString): \(tag) ==".utf8)
        precondition(header.count <= headerLength, "key file tag too long")
        header += [UInt8](repeating: 0, count: headerLength - header.count)
        return header + body
    }

    /// Checks the header as CTor does and returns (tag, body). `source` names the file in errors.
    public static func decode(_ bytes: [UInt8], expecting kind: Kind, source: String) throws -> (tag: String, body: [UInt8]) {
        guard bytes.count >= headerLength else {
            throw TorProtocolError(.truncated, "\(source): \(bytes.count) bytes is shorter than the 32-byte key file header")
        }
        let header = bytes[0..<headerLength]
        let textEnd = header.firstIndex(of: 0) ?? headerLength
        guard header[textEnd...].allSatisfy({ $0 == 0 }) else {
            throw TorProtocolError(.malformed, "\(source): key file header is not NUL-padded")
        }
        guard let text = String(bytes: header[..<textEnd], encoding: .utf8),
              text.hasPrefix("== "), text.hasSuffix(" =="), text.count >= 6 else {
            throw TorProtocolError(.malformed, "\(source): not a tor key file (no '== type: tag ==' header)")
        }
        let inner = text.dropFirst(3).dropLast(3)
        guard let colon = inner.range(of: ": ") else {
            throw TorProtocolError(.malformed, "\(source): key file header has no ': ' separator")
        }
        let type = String(inner[..<colon.lowerBound])
        let tag = String(inner[colon.upperBound...])
        guard type == kind.typeString else {
            throw TorProtocolError(.wrongType, "\(source): holds a '\(type)' key, expected '\(kind.typeString)'")
        }
        let body = Array(bytes[headerLength...])
        if let n = kind.bodyLength, body.count != n {
            throw TorProtocolError(body.count < n ? .truncated : .malformed,
                                   "\(source): '\(type)' body is \(body.count) bytes, expected \(n)")
        }
        return (tag, body)
    }

    public static func decode(_ bytes: [UInt8], expecting kind: Kind, tag expectedTag: String, source: String) throws -> [UInt8] {
        let (tag, body) = try decode(bytes, expecting: kind, source: source)
        guard tag == expectedTag else {
            throw TorProtocolError(.wrongType, "\(source): key tag is '\(tag)', expected '\(expectedTag)'")
        }
        return body
    }

    // MARK: typed helpers

    public static func encodeEd25519Secret(_ key: Ed25519SecretKey, tag: String) -> [UInt8] {
        encode(.ed25519Secret, tag: tag, body: key.dangerouslyExportExpanded())
    }

    public static func decodeEd25519Secret(_ bytes: [UInt8], tag: String, source: String) throws -> Ed25519SecretKey {
        let body = try decode(bytes, expecting: .ed25519Secret, tag: tag, source: source)
        do { return try Ed25519SecretKey(expanded: body) } catch {
            throw TorProtocolError(.malformed, "\(source): not a valid Ed25519 expanded secret key (\(error))")
        }
    }

    public static func encodeEd25519Public(_ key: Ed25519PublicKey, tag: String) -> [UInt8] {
        encode(.ed25519Public, tag: tag, body: key.bytes)
    }

    public static func decodeEd25519Public(_ bytes: [UInt8], tag: String, source: String) throws -> Ed25519PublicKey {
        try Ed25519PublicKey(bytes: decode(bytes, expecting: .ed25519Public, tag: tag, source: source))
    }

    public static func encodeCurve25519(_ key: Curve25519SecretKey, tag: String = "onion") -> [UInt8] {
        encode(.curve25519Keypair, tag: tag, body: key.dangerouslyExportSecret() + key.publicKey.bytes)
    }

    /// Also checks that the stored public half belongs to the secret half.
    public static func decodeCurve25519(_ bytes: [UInt8], tag: String = "onion", source: String) throws -> Curve25519SecretKey {
        let body = try decode(bytes, expecting: .curve25519Keypair, tag: tag, source: source)
        let key = try Curve25519SecretKey(bytes: Array(body[0..<32]))
        guard key.dangerouslyExportSecret() == Array(body[0..<32]) else {
            throw TorProtocolError(.malformed, "\(source): curve25519 secret is not clamped")
        }
        guard key.publicKey.bytes == Array(body[32..<64]) else {
            throw TorProtocolError(.keyMismatch, "\(source): stored curve25519 public key does not match its secret")
        }
        return key
    }

    public static func encodeCert(_ cert: VerifiedEd25519Cert, tag: String = "type4") -> [UInt8] {
        encode(.ed25519Cert, tag: tag, body: cert.encoded)
    }

    public static func decodeCert(_ bytes: [UInt8], tag: String = "type4", source: String) throws -> UncheckedEd25519Cert {
        let body = try decode(bytes, expecting: .ed25519Cert, tag: tag, source: source)
        do { return try UncheckedEd25519Cert(parsing: body) } catch let e as TorProtocolError {
            throw TorProtocolError(e.code, "\(source): \(e.context)")
        }
    }
}

/// PEM armour (RFC 7468) for the RSA keys and certificates Tor writes as text.
public enum PEM {
    public static func encode(_ der: [UInt8], label: String) -> String {
        let b64 = Data(der).base64EncodedString()
        var lines = ["-----BEGIN \(label)-----"]
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 64, limitedBy: b64.endIndex) ?? b64.endIndex
            lines.append(String(b64[i..<j]))
            i = j
        }
        lines.append("-----END \(label)-----")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The DER inside the first `label` block of `text`.
    public static func decode(_ text: String, label: String, source: String) throws -> [UInt8] {
        let begin = "-----BEGIN \(label)-----", end = "-----END \(label)-----"
        guard let b = text.range(of: begin), let e = text.range(of: end, range: b.upperBound..<text.endIndex) else {
            throw TorProtocolError(.malformed, "\(source): no PEM '\(label)' block")
        }
        let body = text[b.upperBound..<e.lowerBound].filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: String(body)), !der.isEmpty else {
            throw TorProtocolError(.malformed, "\(source): PEM '\(label)' block is not valid base64")
        }
        return Array(der)
    }
}

import Foundation
