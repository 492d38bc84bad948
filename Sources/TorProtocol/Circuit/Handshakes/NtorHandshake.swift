import TorCrypto

/// The ntor handshake, CREATE2 HTYPE 0x0002 (tor-spec "The ntor handshake";
/// checklist §4.2; CTor `onion_ntor.c`).
///
/// Client HDATA (84) = NODEID (20, the relay's RSA fingerprint) | KEYID (32, its ntor onion
/// key B) | X (32). Relay HDATA (64) = Y (32) | AUTH (32). Key material is
/// HKDF-SHA256(secret_input, salt t_key, info m_expand): Df | Db | Kf | Kb | KH.
public enum NtorHandshake {
    /// CREATE2 HTYPE.
    public static let handshakeType: UInt16 = 0x0002
    public static let onionskinLength = 84
    public static let replyLength = 64

    static let protoID = Array("ntor-curve25519-sha256-1".utf8)
    static let tMac = protoID + Array(":mac".utf8)
    static let tKey = protoID + Array(":key_extract".utf8)
    static let tVerify = protoID + Array(":verify".utf8)
    static let mExpand = protoID + Array(":key_expand".utf8)
    static let server = Array("Server".utf8)

    /// What the client keeps between its onionskin and the relay's reply.
    public struct ClientState: Sendable {
        let identity: RSAFingerprint
        let onionKey: Curve25519PublicKey
        let ephemeral: Curve25519SecretKey
    }

    // MARK: relay

    /// The relay side: checks that the onionskin names us (`identity`, our RSA fingerprint) and
    /// one of `onionKeys` (current and previous KP_ntor: whichever KEYID names), answers with a
    /// fresh Y, and derives the circuit keys.
    public static func serverHandshake(
        onionskin: [UInt8], identity: RSAFingerprint, onionKeys: [Curve25519SecretKey],
        using rng: inout some RandomSource
    ) throws -> CircuitHandshakeReply {
        guard onionskin.count == onionskinLength else {
            throw TorProtocolError(onionskin.count < onionskinLength ? .truncated : .malformed,
                                   "ntor onionskin must be \(onionskinLength) bytes, got \(onionskin.count)")
        }
        let nodeID = onionskin[0..<20], keyID = onionskin[20..<52], x = onionskin[52..<84]
        guard constantTimeEqual(Array(nodeID), identity.bytes) else {
            throw TorProtocolError(.keyMismatch, "ntor onionskin NODEID is not this relay's RSA identity")
        }
        guard let b = CircuitHandshakeSupport.onionKey(matching: keyID, in: onionKeys) else {
            throw TorProtocolError(.keyMismatch, "ntor onionskin KEYID names none of this relay's ntor onion keys")
        }
        let y = Curve25519SecretKey.generate(using: &rng)
        let xy = try CircuitHandshakeSupport.dh(y, x, "ntor EXP(X,y)")
        let xb = try CircuitHandshakeSupport.dh(b, x, "ntor EXP(X,b)")
        let (secretInput, auth) = derive(xy: xy, xb: xb, id: identity.bytes, b: b.publicKey.bytes, x: Array(x), y: y.publicKey.bytes)
        return CircuitHandshakeReply(reply: y.publicKey.bytes + auth, keyMaterial: try CircuitKeyMaterial(.ntor(secretInput: secretInput)))
    }

    // MARK: client

    /// The client's onionskin for the relay with RSA fingerprint `identity` and ntor onion key
    /// `onionKey`.
    public static func clientCreate(
        identity: RSAFingerprint, onionKey: Curve25519PublicKey, using rng: inout some RandomSource
    ) -> (state: ClientState, onionskin: [UInt8]) {
        let x = Curve25519SecretKey.generate(using: &rng)
        let state = ClientState(identity: identity, onionKey: onionKey, ephemeral: x)
        return (state, identity.bytes + onionKey.bytes + x.publicKey.bytes)
    }

    /// Checks the relay's reply (its AUTH proves it holds b) and derives the circuit keys.
    public static func clientComplete(_ state: ClientState, reply: [UInt8]) throws -> CircuitKeyMaterial {
        guard reply.count == replyLength else {
            throw TorProtocolError(reply.count < replyLength ? .truncated : .malformed,
                                   "ntor reply must be \(replyLength) bytes, got \(reply.count)")
        }
        let y = reply[0..<32], auth = Array(reply[32..<64])
        let yx = try CircuitHandshakeSupport.dh(state.ephemeral, y, "ntor EXP(Y,x)")
        let bx = try CircuitHandshakeSupport.dh(state.ephemeral, state.onionKey.bytes[...], "ntor EXP(B,x)")
        let (secretInput, expected) = derive(xy: yx, xb: bx, id: state.identity.bytes, b: state.onionKey.bytes,
                                             x: state.ephemeral.publicKey.bytes, y: Array(y))
        guard constantTimeEqual(expected, auth) else {
            throw TorProtocolError(.handshake, "ntor reply AUTH does not verify: the relay does not hold this onion key")
        }
        return try CircuitKeyMaterial(.ntor(secretInput: secretInput))
    }

    // MARK: shared

    /// secret_input = EXP(X,y) | EXP(X,b) | ID | B | X | Y | PROTOID, and
    /// AUTH = H(verify | ID | B | Y | X | PROTOID | "Server", t_mac) with
    /// verify = H(secret_input, t_verify), H(x, t) = HMAC-SHA256(key t, message x).
    private static func derive(xy: [UInt8], xb: [UInt8], id: [UInt8], b: [UInt8], x: [UInt8], y: [UInt8]) -> (secretInput: [UInt8], auth: [UInt8]) {
        let secretInput = xy + xb + id + b + x + y + protoID
        let verify = HMAC.sha256(key: tVerify, data: secretInput)
        let authInput = verify + id + b + y + x + protoID + server
        return (secretInput, HMAC.sha256(key: tMac, data: authInput))
    }
}
