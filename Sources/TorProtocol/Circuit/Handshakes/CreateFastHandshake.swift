import TorCrypto

/// CREATE_FAST / CREATED_FAST (tor-spec "CREATE_FAST/CREATED_FAST cells" and "KDF-TOR";
/// checklist §4.5; CTor `onion_fast.c`). First hop only, never inside EXTEND2: it relies on
/// the link's TLS for authentication and secrecy.
///
/// CREATE_FAST body = X (20 random). CREATED_FAST body = Y (20 random) | KH (20).
/// K = KDF-TOR(X | Y) = KH | Df | Db | Kf | Kb.
public enum CreateFastHandshake {
    public static let onionskinLength = 20
    public static let replyLength = 40

    /// What the client keeps between CREATE_FAST and CREATED_FAST.
    public struct ClientState: Sendable {
        let x: [UInt8]
    }

    /// The relay side: picks Y and proves it derived the same K0 with KH.
    public static func serverHandshake(onionskin: [UInt8], using rng: inout some RandomSource) throws -> CircuitHandshakeReply {
        guard onionskin.count == onionskinLength else {
            throw TorProtocolError(onionskin.count < onionskinLength ? .truncated : .malformed,
                                   "CREATE_FAST key material must be \(onionskinLength) bytes, got \(onionskin.count)")
        }
        let y = rng.bytes(20)
        let material = try CircuitKeyMaterial(.fast(k0: onionskin + y))
        return CircuitHandshakeReply(reply: y + material.keys.nonce, keyMaterial: material)
    }

    /// The client's CREATE_FAST body: 20 random bytes.
    public static func clientCreate(using rng: inout some RandomSource) -> (state: ClientState, onionskin: [UInt8]) {
        let x = rng.bytes(onionskinLength)
        return (ClientState(x: x), x)
    }

    /// Checks the relay's KH and derives the circuit keys.
    public static func clientComplete(_ state: ClientState, reply: [UInt8]) throws -> CircuitKeyMaterial {
        guard reply.count == replyLength else {
            throw TorProtocolError(reply.count < replyLength ? .truncated : .malformed,
                                   "CREATED_FAST body must be \(replyLength) bytes, got \(reply.count)")
        }
        let material = try CircuitKeyMaterial(.fast(k0: state.x + Array(reply[0..<20])))
        guard constantTimeEqual(material.keys.nonce, Array(reply[20..<40])) else {
            throw TorProtocolError(.handshake, "CREATED_FAST KH does not match the derived key material")
        }
        return material
    }
}
