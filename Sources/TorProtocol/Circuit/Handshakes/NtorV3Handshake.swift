import TorCrypto

/// The ntor v3 handshake, CREATE2 HTYPE 0x0003 (proposal 332; tor-spec "The ntor-v3
/// handshake"; checklist §4.3; CTor `onion_ntor_v3.c`).
///
/// Client HDATA = NODEID (32, KP_relayid_ed) | KEYID (32, ntor onion key B) | X (32) |
/// MSG (encrypted client message) | MAC (32). Relay HDATA = Y (32) | AUTH (32) | MSG
/// (encrypted relay message). For circuits the messages are extension lists
/// (`NtorV3ExtensionList`); the handshake itself carries any bytes, which is how the
/// published vector ("hello world" / "Hola Mundo", VER "xyzzy") is run.
public enum NtorV3Handshake {
    /// CREATE2 HTYPE.
    public static let handshakeType: UInt16 = 0x0003
    /// VER for circuit extension, as CTor (`NTOR3_CIRC_VERIFICATION`) and arti use it: the 14
    /// bytes "circuit extend", no NUL. Anything else fails every real handshake's MAC.
    public static let circuitExtendVerification: [UInt8] = Array("circuit extend".utf8)
    /// NODEID | KEYID | X | MAC: a client handshake with an empty message.
    public static let minimumOnionskinLength = 128
    /// Y | AUTH: a relay reply with an empty message.
    public static let minimumReplyLength = 64

    static let protoID = Array("ntor3-curve25519-sha3_256-1".utf8)
    static let tMsgKDF = tweak("kdf_phase1")
    static let tMsgMAC = tweak("msg_mac")
    static let tKeySeed = tweak("key_seed")
    static let tVerify = tweak("verify")
    static let tFinal = tweak("kdf_final")
    static let tAuth = tweak("auth_final")
    static let server = Array("Server".utf8)

    static func tweak(_ name: String) -> [UInt8] { protoID + Array(":\(name)".utf8) }

    /// ENCAP(s) = htonll(len(s)) | s.
    static func encap(_ s: [UInt8]) -> [UInt8] {
        let n = UInt64(s.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (56 - 8 * $0)) } + s
    }

    /// H(s, t) = SHA3-256(ENCAP(t) | s).
    static func hash(_ s: [UInt8], tweak t: [UInt8]) -> [UInt8] { Digest.sha3_256(encap(t) + s) }
    /// MAC(k, m, t) = SHA3-256(ENCAP(t) | ENCAP(k) | m).
    static func mac(key k: [UInt8], _ m: [UInt8], tweak t: [UInt8]) -> [UInt8] { Digest.sha3_256(encap(t) + encap(k) + m) }
    /// KDF(s, t) = SHAKE-256(ENCAP(t) | s).
    static func kdf(_ s: [UInt8], tweak t: [UInt8], length: Int) -> [UInt8] { Digest.shake256(encap(t) + s, outputLength: length) }

    /// ENC / DEC: AES-256-CTR with a zero IV.
    static func crypt(key: [UInt8], _ data: [UInt8]) throws -> [UInt8] {
        var out = data
        do {
            try AESCTR(key: key).apply(&out)
        } catch {
            throw TorProtocolError(.handshake, "ntor v3 AES-256-CTR failed: \(error)")
        }
        return out
    }

    /// What the client keeps between its onionskin and the relay's reply.
    public struct ClientState: Sendable {
        let identity: Ed25519PublicKey
        let onionKey: Curve25519PublicKey
        let ephemeral: Curve25519SecretKey
        let bx: [UInt8]
        let messageMAC: [UInt8]
        let verification: [UInt8]
    }

    /// The client side's result: the relay's decrypted message and the shared key material.
    public struct ClientResult: Sendable {
        public let serverMessage: [UInt8]
        public let keyMaterial: CircuitKeyMaterial
        public var keys: CircuitKeys { keyMaterial.keys }
    }

    // MARK: relay

    /// The relay side. Checks the onionskin names us (`identity`, KP_relayid_ed) and one of
    /// `onionKeys` (current and previous KP_ntor), verifies its MAC and decrypts the client's
    /// message, asks `replyMessage` for the message to send back (it may throw to refuse the
    /// client's request), and completes the handshake with a fresh Y.
    public static func serverHandshake(
        onionskin: [UInt8], identity: Ed25519PublicKey, onionKeys: [Curve25519SecretKey],
        verification: [UInt8] = circuitExtendVerification,
        using rng: inout some RandomSource,
        replyMessage: ([UInt8]) throws -> [UInt8]
    ) throws -> CircuitHandshakeReply {
        guard onionskin.count >= minimumOnionskinLength else {
            throw TorProtocolError(.truncated, "ntor v3 onionskin must be at least \(minimumOnionskinLength) bytes, got \(onionskin.count)")
        }
        let id = Array(onionskin[0..<32]), keyID = onionskin[32..<64], x = Array(onionskin[64..<96])
        let encryptedMessage = Array(onionskin[96..<(onionskin.count - 32)])
        let clientMAC = Array(onionskin.suffix(32))
        guard constantTimeEqual(id, identity.bytes) else {
            throw TorProtocolError(.keyMismatch, "ntor v3 onionskin NODEID is not this relay's Ed25519 identity")
        }
        guard let b = CircuitHandshakeSupport.onionKey(matching: keyID, in: onionKeys) else {
            throw TorProtocolError(.keyMismatch, "ntor v3 onionskin KEYID names none of this relay's ntor onion keys")
        }
        let bPub = b.publicKey.bytes
        let xb = try CircuitHandshakeSupport.dh(b, x[...], "ntor v3 EXP(X,b)")
        let (encK1, macK1) = phase1Keys(bx: xb, id: id, x: x, b: bPub, verification: verification)
        let expectedMAC = mac(key: macK1, id + bPub + x + encryptedMessage, tweak: tMsgMAC)
        guard constantTimeEqual(expectedMAC, clientMAC) else {
            throw TorProtocolError(.handshake, "ntor v3 onionskin MAC does not verify (wrong onion key, verification string, or tampered message)")
        }
        let clientMessage = try crypt(key: encK1, encryptedMessage)
        let serverMessage = try replyMessage(clientMessage)

        let y = Curve25519SecretKey.generate(using: &rng)
        let yPub = y.publicKey.bytes
        let xy = try CircuitHandshakeSupport.dh(y, x[...], "ntor v3 EXP(X,y)")
        let (keySeed, verify) = phase2(xy: xy, xb: xb, id: id, b: bPub, x: x, y: yPub, verification: verification)
        let encKey = kdf(keySeed, tweak: tFinal, length: 32)
        let encryptedReply = try crypt(key: encKey, serverMessage)
        let auth = authenticator(verify: verify, id: id, b: bPub, y: yPub, x: x, clientMAC: clientMAC, encryptedReply: encryptedReply)
        return CircuitHandshakeReply(reply: yPub + auth + encryptedReply, keyMaterial: try CircuitKeyMaterial(.ntorV3(keySeed: keySeed)))
    }

    // MARK: client

    /// The client's onionskin carrying `message` (encrypted to the relay's onion key, not
    /// forward-secret) for the relay with identity `identity` and ntor onion key `onionKey`.
    public static func clientCreate(
        identity: Ed25519PublicKey, onionKey: Curve25519PublicKey, message: [UInt8],
        verification: [UInt8] = circuitExtendVerification,
        using rng: inout some RandomSource
    ) throws -> (state: ClientState, onionskin: [UInt8]) {
        let x = Curve25519SecretKey.generate(using: &rng)
        let xPub = x.publicKey.bytes, bPub = onionKey.bytes, id = identity.bytes
        let bx = try CircuitHandshakeSupport.dh(x, bPub[...], "ntor v3 EXP(B,x)")
        let (encK1, macK1) = phase1Keys(bx: bx, id: id, x: xPub, b: bPub, verification: verification)
        let encrypted = try crypt(key: encK1, message)
        let messageMAC = mac(key: macK1, id + bPub + xPub + encrypted, tweak: tMsgMAC)
        let state = ClientState(identity: identity, onionKey: onionKey, ephemeral: x, bx: bx,
                                messageMAC: messageMAC, verification: verification)
        return (state, id + bPub + xPub + encrypted + messageMAC)
    }

    /// Checks the relay's reply (AUTH), decrypts its message and derives the key material.
    public static func clientComplete(_ state: ClientState, reply: [UInt8]) throws -> ClientResult {
        guard reply.count >= minimumReplyLength else {
            throw TorProtocolError(.truncated, "ntor v3 reply must be at least \(minimumReplyLength) bytes, got \(reply.count)")
        }
        let y = Array(reply[0..<32]), auth = Array(reply[32..<64]), encryptedReply = Array(reply[64...])
        let xPub = state.ephemeral.publicKey.bytes, bPub = state.onionKey.bytes, id = state.identity.bytes
        let yx = try CircuitHandshakeSupport.dh(state.ephemeral, y[...], "ntor v3 EXP(Y,x)")
        let (keySeed, verify) = phase2(xy: yx, xb: state.bx, id: id, b: bPub, x: xPub, y: y, verification: state.verification)
        let expected = authenticator(verify: verify, id: id, b: bPub, y: y, x: xPub, clientMAC: state.messageMAC, encryptedReply: encryptedReply)
        guard constantTimeEqual(expected, auth) else {
            throw TorProtocolError(.handshake, "ntor v3 reply AUTH does not verify")
        }
        let encKey = kdf(keySeed, tweak: tFinal, length: 32)
        return ClientResult(serverMessage: try crypt(key: encKey, encryptedReply),
                            keyMaterial: try CircuitKeyMaterial(.ntorV3(keySeed: keySeed)))
    }

    // MARK: shared

    /// (ENC_K1, MAC_K1) = KDF(Bx | ID | X | B | PROTOID | ENCAP(VER), t_msgkdf).
    static func phase1Keys(bx: [UInt8], id: [UInt8], x: [UInt8], b: [UInt8], verification: [UInt8]) -> ([UInt8], [UInt8]) {
        let k = kdf(bx + id + x + b + protoID + encap(verification), tweak: tMsgKDF, length: 64)
        return (Array(k[0..<32]), Array(k[32..<64]))
    }

    /// secret_input = Xy | Xb | ID | B | X | Y | PROTOID | ENCAP(VER);
    /// returns (H(secret_input, t_key_seed), H(secret_input, t_verify)).
    static func phase2(xy: [UInt8], xb: [UInt8], id: [UInt8], b: [UInt8], x: [UInt8], y: [UInt8], verification: [UInt8]) -> ([UInt8], [UInt8]) {
        let secretInput = xy + xb + id + b + x + y + protoID + encap(verification)
        return (hash(secretInput, tweak: tKeySeed), hash(secretInput, tweak: tVerify))
    }

    /// AUTH = H(verify | ID | B | Y | X | MAC | ENCAP(MSG) | PROTOID | "Server", t_auth).
    private static func authenticator(verify: [UInt8], id: [UInt8], b: [UInt8], y: [UInt8], x: [UInt8], clientMAC: [UInt8], encryptedReply: [UInt8]) -> [UInt8] {
        hash(verify + id + b + y + x + clientMAC + encap(encryptedReply) + protoID + server, tweak: tAuth)
    }
}
