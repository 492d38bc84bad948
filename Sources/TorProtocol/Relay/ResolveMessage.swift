import NIOCore

/// RELAY_RESOLVE (command 11; tor-spec remote-hostname-lookup): `HOSTNAME NUL`. A reverse
/// lookup names `…in-addr.arpa` or `…ip6.arpa`. No stream is opened; the exit answers with
/// RESOLVED on the same stream ID.
///
/// CTor copies the body up to the first NUL or the end, so a missing NUL is accepted (it
/// re-encodes with one). The name must be non-empty printable ASCII without spaces.
public struct ResolveMessage: RelayMessageBody {
    public static let command = RelayCommand.resolve
    public var hostname: String

    public init(hostname: String) throws {
        try Self.check(Array(hostname.utf8))
        self.hostname = hostname
    }

    /// The reverse-lookup name for `address` (`4.3.2.1.in-addr.arpa`, nibbles for IPv6).
    public init(reverseLookupOf address: RelayIPAddress) {
        switch address {
        case .ipv4(let b):
            hostname = b.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa"
        case .ipv6(let b):
            let digits = Array("0123456789abcdef")
            hostname = b.reversed().map { "\(digits[Int($0 & 0x0f)]).\(digits[Int($0 >> 4)])" }
                .joined(separator: ".") + ".ip6.arpa"
        }
    }

    public init(parsingBody body: ByteBuffer) throws {
        let bytes = Array(body.readableBytesView.prefix { $0 != 0 })
        try Self.check(bytes)
        hostname = String(decoding: bytes, as: UTF8.self)
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        let bytes = Array(hostname.utf8)
        try Self.check(bytes)
        buffer.writeBytes(bytes)
        buffer.writeInteger(UInt8(0))
    }

    private static func check(_ name: [UInt8]) throws {
        guard !name.isEmpty else { throw TorProtocolError(.malformed, "RESOLVE has an empty host name") }
        guard RelayText.isPrintableASCII(name) else {
            throw TorProtocolError(.malformed, "RESOLVE host name is not printable ASCII")
        }
    }
}

/// RELAY_RESOLVED (command 12; tor-spec remote-hostname-lookup, CTor `resolved_cell_parse`):
/// a list of answers, each
///
///     TYPE (1) | LEN (1) | VALUE (LEN) | TTL (4)
///
/// TYPE 0x04 IPv4 (LEN 4), 0x06 IPv6 (LEN 16), 0x00 host name (LEN ≥ 1), 0xF0 transient
/// error, 0xF1 permanent error (their VALUE is ignored). An answer running past the body, or
/// a wrong LEN for IPv4/IPv6, or an empty host name, fails the whole message, as in CTor.
/// Unknown types are kept. 0.4.9 exits clip the TTLs they send to 60 s (checklist §9 item 25)
/// — a policy for the sender, not checked here.
public struct ResolvedMessage: RelayMessageBody {
    public static let command = RelayCommand.resolved

    public enum Value: Hashable, Sendable {
        case address(RelayIPAddress)
        /// The answer to a reverse lookup. Kept as bytes: CTor accepts any octets here.
        case hostname([UInt8])
        /// 0xF0: try again later. Its VALUE is ignored and re-encodes empty.
        case transientError
        /// 0xF1: the name does not resolve. Its VALUE is ignored and re-encodes empty.
        case permanentError
        case unrecognized(type: UInt8, value: [UInt8])
    }

    public struct Answer: Hashable, Sendable {
        public var value: Value
        public var ttl: UInt32
        public init(_ value: Value, ttl: UInt32) {
            self.value = value
            self.ttl = ttl
        }
    }

    public static let hostnameType: UInt8 = 0x00
    public static let ipv4Type: UInt8 = 0x04
    public static let ipv6Type: UInt8 = 0x06
    public static let transientErrorType: UInt8 = 0xF0
    public static let permanentErrorType: UInt8 = 0xF1

    public var answers: [Answer]

    public init(answers: [Answer]) { self.answers = answers }

    public init(parsingBody body: ByteBuffer) throws {
        var r = CellBodyReader(body, cell: "RESOLVED")
        var answers = [Answer]()
        while r.remaining > 0 {
            let i = answers.count
            let type: UInt8 = try r.readInteger("answer \(i) TYPE")
            let length: UInt8 = try r.readInteger("answer \(i) LEN")
            let value = try r.readBytes(Int(length), "answer \(i) VALUE")
            let ttl = try r.readUInt32("answer \(i) TTL")
            let parsed: Value
            switch type {
            case Self.ipv4Type:
                guard length == 4 else { throw TorProtocolError(.malformed, "RESOLVED answer \(i) is IPv4 with length \(length), expected 4") }
                parsed = .address(.ipv4(value))
            case Self.ipv6Type:
                guard length == 16 else { throw TorProtocolError(.malformed, "RESOLVED answer \(i) is IPv6 with length \(length), expected 16") }
                parsed = .address(.ipv6(value))
            case Self.hostnameType:
                guard length > 0 else { throw TorProtocolError(.malformed, "RESOLVED answer \(i) is an empty host name") }
                parsed = .hostname(value)
            case Self.transientErrorType:
                parsed = .transientError
            case Self.permanentErrorType:
                parsed = .permanentError
            default:
                parsed = .unrecognized(type: type, value: value)
            }
            answers.append(Answer(parsed, ttl: ttl))
        }
        self.answers = answers
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        for (i, answer) in answers.enumerated() {
            let type: UInt8, value: [UInt8]
            switch answer.value {
            case .address(.ipv4(let b)): (type, value) = (Self.ipv4Type, b)
            case .address(.ipv6(let b)): (type, value) = (Self.ipv6Type, b)
            case .hostname(let b): (type, value) = (Self.hostnameType, b)
            case .transientError: (type, value) = (Self.transientErrorType, [])
            case .permanentError: (type, value) = (Self.permanentErrorType, [])
            case .unrecognized(let t, let b):
                guard ![Self.hostnameType, Self.ipv4Type, Self.ipv6Type, Self.transientErrorType, Self.permanentErrorType].contains(t) else {
                    throw TorProtocolError(.malformed, "RESOLVED answer \(i): type \(t) must be written as its own case")
                }
                (type, value) = (t, b)
            }
            guard value.count <= Int(UInt8.max),
                  type != Self.ipv4Type || value.count == 4, type != Self.ipv6Type || value.count == 16,
                  type != Self.hostnameType || !value.isEmpty else {
                throw TorProtocolError(.malformed, "RESOLVED answer \(i) of type \(type) cannot have \(value.count) value bytes")
            }
            buffer.writeInteger(type)
            buffer.writeInteger(UInt8(value.count))
            buffer.writeBytes(value)
            buffer.writeInteger(answer.ttl)
        }
    }
}
