import NIOCore

/// The FLAGS of a RELAY_BEGIN (tor-spec opening-streams). Unknown bits are kept.
public struct BeginFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Bit 1: the client accepts an IPv6 address for the destination.
    public static let ipv6Okay = BeginFlags(rawValue: 1 << 0)
    /// Bit 2: the client does not accept an IPv4 address.
    public static let ipv4NotOkay = BeginFlags(rawValue: 1 << 1)
    /// Bit 3: the client prefers IPv6 when the name resolves to both.
    public static let ipv6Preferred = BeginFlags(rawValue: 1 << 2)
}

/// RELAY_BEGIN (command 1; tor-spec opening-streams, CTor `begin_cell_parse`):
///
///     ADDRPORT "host:port" NUL | FLAGS (4, optional; absent = 0)
///
/// Parsing is as strict as CTor or stricter, never looser:
/// * no NUL in the body → TORPROTOCOL (CTor: "Relay begin cell has no \0");
/// * a missing or zero port, or one over 65535 → TORPROTOCOL;
/// * an unbracketed IPv6 literal (CTor reads it as an address without a port) → refused;
/// * FLAGS is read only when all 4 bytes are present after the NUL — CTor before 0.4.9.7
///   checked for 3 and read one byte past LENGTH (the "malformed BEGIN" fix of checklist §9
///   item 24, as we understand it); fewer bytes mean flags 0, and bytes after FLAGS are ignored;
/// * stricter than CTor: the host must be printable ASCII without spaces (as arti requires),
///   non-empty, and a port is decimal digits only (CTor's `strtol` also takes `+80`).
///
/// Which hosts the exit then connects to (policy, private addresses) is not decided here.
public struct BeginMessage: RelayMessageBody {
    public static let command = RelayCommand.begin

    /// The host exactly as the client wrote it: a DNS name, a dotted IPv4 address, or an
    /// IPv6 address in brackets (`[2001:db8::1]`), in any case.
    public var host: String
    public var port: UInt16
    public var flags: BeginFlags

    /// Checks `host` and `port` by the rules parsing applies.
    public init(host: String, port: UInt16, flags: BeginFlags = []) throws {
        try Self.checkHost(Array(host.utf8))
        guard port != 0 else { throw TorProtocolError(.malformed, "BEGIN needs a port from 1 to 65535") }
        self.host = host
        self.port = port
        self.flags = flags
    }

    /// The host without IPv6 brackets.
    public var unbracketedHost: String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    public init(parsingBody body: ByteBuffer) throws {
        let bytes = Array(body.readableBytesView)
        guard let nul = bytes.firstIndex(of: 0) else {
            throw TorProtocolError(.malformed, "BEGIN has no NUL after its target address")
        }
        let addrport = bytes[..<nul]
        guard let colon = addrport.lastIndex(of: UInt8(ascii: ":")) else {
            throw TorProtocolError(.malformed, "BEGIN target has no port")
        }
        let hostBytes = Array(addrport[..<colon])
        try Self.checkHost(hostBytes)
        port = try Self.parsePort(addrport[(colon + 1)...])
        host = String(decoding: hostBytes, as: UTF8.self)
        let afterNUL = bytes.count - (nul + 1)
        if afterNUL >= 4 {
            flags = BeginFlags(rawValue: UInt32(bytes[nul + 1]) << 24 | UInt32(bytes[nul + 2]) << 16
                | UInt32(bytes[nul + 3]) << 8 | UInt32(bytes[nul + 4]))
        } else {
            flags = []
        }
    }

    /// FLAGS is written only when non-zero, as CTor and arti do (so `…\0 00000000` re-encodes
    /// without it).
    public func encodeBody(into buffer: inout ByteBuffer) throws {
        let hostBytes = Array(host.utf8)
        try Self.checkHost(hostBytes)
        guard port != 0 else { throw TorProtocolError(.malformed, "BEGIN needs a port from 1 to 65535") }
        buffer.writeBytes(hostBytes)
        buffer.writeString(":\(port)")
        buffer.writeInteger(UInt8(0))
        if flags.rawValue != 0 { buffer.writeInteger(flags.rawValue) }
    }

    static func checkHost(_ host: [UInt8]) throws {
        guard !host.isEmpty else { throw TorProtocolError(.malformed, "BEGIN target has an empty host") }
        guard RelayText.isPrintableASCII(host) else {
            throw TorProtocolError(.malformed, "BEGIN target host is not printable ASCII")
        }
        let colon = UInt8(ascii: ":"), open = UInt8(ascii: "["), close = UInt8(ascii: "]")
        if host.first == open {
            let inner = host.dropFirst().dropLast()
            guard host.count > 2, host.last == close,
                  inner.allSatisfy({ $0 == colon || $0 == UInt8(ascii: ".") || hexDigit($0) }) else {
                throw TorProtocolError(.malformed, "BEGIN target has a malformed bracketed IPv6 address")
            }
        } else {
            guard !host.contains(colon), !host.contains(open), !host.contains(close) else {
                throw TorProtocolError(.malformed, "BEGIN target has an IPv6 address without brackets, or a stray ':' or bracket")
            }
        }
    }

    static func parsePort(_ text: ArraySlice<UInt8>) throws -> UInt16 {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            throw TorProtocolError(.malformed, "BEGIN target port is not a decimal number")
        }
        let value = text.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard (1...65535).contains(value) else {
            throw TorProtocolError(.malformed, "BEGIN target port \(value) is out of range 1...65535")
        }
        return UInt16(value)
    }

    private static func hexDigit(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(c)
    }
}

/// RELAY_BEGIN_DIR (command 13): an empty body. CTor ignores any bytes there, and so do we
/// (they re-encode as nothing).
public struct BeginDirMessage: RelayMessageBody {
    public static let command = RelayCommand.beginDir
    public init() {}
    public init(parsingBody body: ByteBuffer) throws {}
    public func encodeBody(into buffer: inout ByteBuffer) throws {}
}
