import NIOCore

/// RELAY_END (command 3; tor-spec closing-streams, CTor `connection_edge_end`,
/// `connection_ap_process_end_not_open`):
///
///     REASON (1) [ | ADDRESS (4 or 16) [ | TTL (4) ] ]     address only with EXITPOLICY
///
/// * An empty body is accepted as reason MISC — CTor 0.4.9.7 fixed an out-of-bounds read on
///   exactly this reason-less END (checklist §9 item 24); it re-encodes as `01`.
/// * With EXITPOLICY, a body of 5 or 9 bytes carries an IPv4 address (and TTL), 17 or 21 an
///   IPv6 address (and TTL), as CTor reads it; any other length carries no address.
/// * With any other reason, bytes after REASON are ignored, as CTor ignores them.
public struct EndMessage: RelayMessageBody {
    public static let command = RelayCommand.end

    public var reason: EndReason
    /// With EXITPOLICY: the address the exit resolved the target to and refused.
    public var address: RelayIPAddress?
    /// With `address`: seconds the client may cache it. CTor always sends one.
    public var ttl: UInt32?

    public init(reason: EndReason) {
        self.reason = reason
        address = nil
        ttl = nil
    }

    /// An EXITPOLICY refusal naming the resolved address.
    public init(exitPolicyAddress address: RelayIPAddress, ttl: UInt32?) {
        reason = .exitPolicy
        self.address = address
        self.ttl = ttl
    }

    public init(parsingBody body: ByteBuffer) throws {
        var r = CellBodyReader(body, cell: "END")
        address = nil
        ttl = nil
        guard r.remaining > 0 else {
            reason = .misc
            return
        }
        reason = EndReason(try r.readInteger("REASON", as: UInt8.self))
        guard reason == .exitPolicy else { return }
        switch r.remaining {
        case 4, 8:
            address = .ipv4(try r.readBytes(4, "IPv4 address"))
        case 16, 20:
            address = .ipv6(try r.readBytes(16, "IPv6 address"))
        default:
            return
        }
        if r.remaining == 4 { ttl = try r.readUInt32("TTL") }
    }

    public func encodeBody(into buffer: inout ByteBuffer) throws {
        guard address != nil || ttl == nil else {
            throw TorProtocolError(.malformed, "END cannot carry a TTL without an address")
        }
        buffer.writeInteger(reason.rawValue)
        guard let address else { return }
        guard reason == .exitPolicy else {
            throw TorProtocolError(.malformed, "END carries an address only with reason EXITPOLICY, not \(reason)")
        }
        try address.write(to: &buffer, "END address")
        if let ttl { buffer.writeInteger(ttl) }
    }
}
