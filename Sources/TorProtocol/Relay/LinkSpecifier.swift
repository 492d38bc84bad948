import NIOCore
import TorCrypto

/// One link specifier (tor-spec create-created-cells "EXTEND2", CTor trunnel
/// `link_specifier`): how EXTEND2 (and onion-service messages) name the next relay.
///
///     LSTYPE (1) | LSLEN (1) | LSPEC (LSLEN)
///     0x00 IPv4 address (4) + ORPort (2)      0x01 IPv6 address (16) + ORPort (2)
///     0x02 legacy RSA identity (20)           0x03 Ed25519 identity (32)
///
/// A known type whose LSLEN differs from its fixed size fails the whole message, as trunnel's
/// length-bounded union does; unknown types are kept as they came.
public enum LinkSpecifier: Hashable, Sendable, CustomStringConvertible {
    case ipv4(address: [UInt8], port: UInt16)
    case ipv6(address: [UInt8], port: UInt16)
    /// KP_relayid_rsa's fingerprint (SHA-1 of its DER).
    case rsaIdentity(RSAFingerprint)
    /// KP_relayid_ed, 32 bytes.
    case ed25519Identity([UInt8])
    case unrecognized(type: UInt8, value: [UInt8])

    public static let ipv4Type: UInt8 = 0x00
    public static let ipv6Type: UInt8 = 0x01
    public static let rsaIdentityType: UInt8 = 0x02
    public static let ed25519IdentityType: UInt8 = 0x03

    public var type: UInt8 {
        switch self {
        case .ipv4: Self.ipv4Type
        case .ipv6: Self.ipv6Type
        case .rsaIdentity: Self.rsaIdentityType
        case .ed25519Identity: Self.ed25519IdentityType
        case .unrecognized(let type, _): type
        }
    }

    init(reading r: inout CellBodyReader, _ field: String) throws {
        let type: UInt8 = try r.readInteger("\(field) type")
        let length: UInt8 = try r.readInteger("\(field) length")
        let value = try r.readBytes(Int(length), "\(field) value")
        func expect(_ n: Int, _ what: String) throws {
            guard value.count == n else {
                throw TorProtocolError(.malformed, "\(r.cell) \(field) is \(what) with length \(value.count), expected \(n)")
            }
        }
        switch type {
        case Self.ipv4Type:
            try expect(6, "IPv4")
            self = .ipv4(address: Array(value[0..<4]), port: UInt16(value[4]) << 8 | UInt16(value[5]))
        case Self.ipv6Type:
            try expect(18, "IPv6")
            self = .ipv6(address: Array(value[0..<16]), port: UInt16(value[16]) << 8 | UInt16(value[17]))
        case Self.rsaIdentityType:
            try expect(20, "an RSA identity")
            self = .rsaIdentity(try RSAFingerprint(bytes: value))
        case Self.ed25519IdentityType:
            try expect(32, "an Ed25519 identity")
            self = .ed25519Identity(value)
        default:
            self = .unrecognized(type: type, value: value)
        }
    }

    func encode(into buffer: inout ByteBuffer) throws {
        let value: [UInt8]
        switch self {
        case .ipv4(let address, let port):
            guard address.count == 4 else { throw TorProtocolError(.malformed, "IPv4 link specifier address has \(address.count) bytes") }
            value = address + [UInt8(port >> 8), UInt8(port & 0xff)]
        case .ipv6(let address, let port):
            guard address.count == 16 else { throw TorProtocolError(.malformed, "IPv6 link specifier address has \(address.count) bytes") }
            value = address + [UInt8(port >> 8), UInt8(port & 0xff)]
        case .rsaIdentity(let fingerprint):
            value = fingerprint.bytes
        case .ed25519Identity(let key):
            guard key.count == 32 else { throw TorProtocolError(.malformed, "Ed25519 link specifier has \(key.count) bytes") }
            value = key
        case .unrecognized(let type, let bytes):
            guard type > Self.ed25519IdentityType else {
                throw TorProtocolError(.malformed, "link specifier type \(type) must be written as its own case")
            }
            guard bytes.count <= Int(UInt8.max) else {
                throw TorProtocolError(.malformed, "link specifier of \(bytes.count) bytes does not fit LSLEN")
            }
            value = bytes
        }
        buffer.writeInteger(type)
        buffer.writeInteger(UInt8(value.count))
        buffer.writeBytes(value)
    }

    /// Never an address in clear: link specifiers name where a client's circuit goes.
    public var description: String {
        switch self {
        case .ipv4: "IPv4 ORPort"
        case .ipv6: "IPv6 ORPort"
        case .rsaIdentity(let fingerprint): "RSA identity \(fingerprint)"
        case .ed25519Identity(let key): "Ed25519 identity \(key.base64Unpadded)"
        case .unrecognized(let type, let value): "link specifier type \(type) (\(value.count) bytes)"
        }
    }
}
