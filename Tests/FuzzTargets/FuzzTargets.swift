import Foundation
import NIOCore
import RelayCore
import RelayStore
import TorCrypto
import TorProtocol

/// The fuzz targets: each feeds arbitrary bytes to one family of parsers that see hostile
/// input. A target returns normally whatever the input; a trap is a finding. Used by the
/// libFuzzer driver (Tests/Fuzz, `scripts/fuzz`) and by the regression replay in the test
/// suite (FuzzRegressionTests), so the corpus and every past crash run on every `make test`.
public enum FuzzTargets {
    public static let all: [(name: String, run: @Sendable ([UInt8]) -> Void)] = [
        ("cells", cells),
        ("link-cells", linkCells),
        ("relay-messages", relayMessages),
        ("certs", certs),
        ("ntor-server", ntorServer),
        ("netdoc", netdoc),
        ("torrc", torrc),
        ("key-files", keyFiles),
        ("http-response", httpResponse),
        ("control", control),
        ("sealed-bundles", sealedBundles),
        ("bundle-install", bundleInstall),
    ]

    public static func named(_ name: String) -> (@Sendable ([UInt8]) -> Void)? {
        all.first { $0.name == name }?.run
    }

    /// Cell framing at both circuit-ID widths, then each decoded cell's body through the
    /// parser its command selects.
    static func cells(_ bytes: [UInt8]) {
        for framing in [CellFraming(circuitIDWidth: .narrow), CellFraming(circuitIDWidth: .wide, maxVariableBodyLength: 4096)] {
            var buf = ByteBuffer(bytes: bytes)
            while let cell = try? framing.decode(&buf) {
                let body = cell.body
                switch cell.command {
                case .versions: _ = try? VersionsCell(parsingBody: body)
                case .netinfo: _ = try? NetinfoCell(parsingBody: body)
                case .certs: _ = try? CertsCell(parsingBody: body)
                case .authChallenge: _ = try? AuthChallengeCell(parsingBody: body)
                case .authenticate: _ = try? AuthenticateCell(parsingBody: body)
                case .relay, .relayEarly: _ = try? RelayMessage.parse(cellBody: body)
                case .create2: _ = try? Extended2Message(created2Body: body)
                default: continue
                }
            }
        }
    }

    /// Link-handshake cell bodies; the first byte picks the parser.
    static func linkCells(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let body = ByteBuffer(bytes: bytes.dropFirst())
        switch first % 7 {
        case 0: _ = try? VersionsCell(parsingBody: body)
        case 1: _ = try? NetinfoCell(parsingBody: body)
        case 2: _ = try? CertsCell(parsingBody: body)
        case 3: _ = try? AuthChallengeCell(parsingBody: body)
        case 4: _ = try? AuthenticateCell(parsingBody: body)
        case 5: _ = try? Auth0003(parsing: Array(bytes.dropFirst()))
        default: _ = try? PaddingNegotiateCell(parsingBody: body)
        }
    }

    /// A relay cell body (padded or cut to 509 bytes) and each relay message body parser.
    static func relayMessages(_ bytes: [UInt8]) {
        var cell = Array(bytes.prefix(509))
        cell += [UInt8](repeating: 0, count: 509 - cell.count)
        _ = try? RelayMessage.parse(cellBody: ByteBuffer(bytes: cell))
        let body = ByteBuffer(bytes: bytes)
        _ = try? BeginMessage(parsingBody: body)
        _ = try? ConnectedMessage(parsingBody: body)
        _ = try? EndMessage(parsingBody: body)
        _ = try? Extend2Message(parsingBody: body)
        _ = try? Extend2Request(parsingBody: bytes)
        _ = try? Extended2Message(parsingBody: body)
        _ = try? ResolveMessage(parsingBody: body)
        _ = try? ResolvedMessage(parsingBody: body)
        _ = try? SendmeMessage(parsingBody: body)
        _ = try? TruncateMessage(parsingBody: body)
        _ = try? NtorV3ExtensionList(parsing: bytes)
    }

    /// Ed25519 certificates (and checking them), the RSA cross-certificate, X.509 DER.
    static func certs(_ bytes: [UInt8]) {
        if let c = try? UncheckedEd25519Cert(parsing: bytes) {
            _ = c.embeddedSigningKey
            if let k = c.embeddedSigningKey { _ = try? c.verify(signedBy: k, now: Date(timeIntervalSince1970: 1_790_000_000)) }
        }
        _ = try? RSAEd25519CrossCert(parsing: bytes)
        _ = try? X509Certificate(der: bytes)
        _ = try? RSAPublicKey(pkcs1DER: bytes)
    }

    static let ntorIdentity = try! RSAFingerprint(bytes: [UInt8](repeating: 0x42, count: 20))
    static let ntorKeys = [try! Curve25519SecretKey(bytes: [UInt8](repeating: 0x07, count: 32))]
    static let ntorEd = try! Ed25519SecretKey(seed: [UInt8](repeating: 0x09, count: 32)).publicKey

    /// The server side of ntor and ntor v3 on a client's onionskin.
    static func ntorServer(_ bytes: [UInt8]) {
        var rng = SystemRandom()
        if bytes.count == NtorHandshake.onionskinLength {
            _ = try? NtorHandshake.serverHandshake(onionskin: bytes, identity: ntorIdentity, onionKeys: ntorKeys, using: &rng)
        }
        _ = try? NtorV3Handshake.serverHandshake(onionskin: bytes, identity: ntorEd, onionKeys: ntorKeys, using: &rng) { m in
            _ = try NtorV3ExtensionList(parsing: m)
            return [0]
        }
    }

    /// Directory documents: the netdoc tokenizer and every document type on top of it.
    static func netdoc(_ bytes: [UInt8]) {
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        _ = try? NetDoc(parsing: bytes, source: "fuzz")
        _ = try? VerifiedServerDescriptor(parsing: bytes, now: now)
        let certs = AuthorityCertificate.parseAll(bytes, now: now, source: "fuzz").certificates
        _ = try? Consensus(parsing: bytes, certificates: certs, authorities: certs.map(\.v3Identity), now: now)
        for m in Microdescriptors.split(bytes) { _ = try? Microdescriptor(parsing: m.body) }
    }

    /// torrc text into the relay's configuration.
    static func torrc(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let t = try? Torrc(parsing: text, file: "fuzz") { _ = try? RelayConfig(torrc: t) }
    }

    /// ControlPort input: lines through one control session (the first byte's low bit starts it
    /// authenticated, so both sides of the authentication wall are reached), and the text as a
    /// HashedControlPassword value.
    static func control(_ bytes: [UInt8]) {
        let cookie = [UInt8](repeating: 0x11, count: 32)
        let session = ControlSession(
            auth: ControlAuthConfig(cookie: cookie, cookieFile: "/fuzz/cookie", passwords: [controlPassword], version: "0.4.9 (relaynode-fuzz)"),
            backend: FuzzControlBackend(), nonce: { [UInt8](repeating: 0x22, count: 32) })
        if bytes.first.map({ $0 & 1 == 1 }) == true { _ = session.handle("AUTHENTICATE " + String(repeating: "11", count: 32)) }
        let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
        var data: [String]?
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            if data != nil {
                if line == "." {
                    if session.handle(pending, data: data).close { return }
                    data = nil
                } else {
                    data!.append(line)
                }
                continue
            }
            if line.hasPrefix("+") { pending = line; data = []; continue }
            if session.handle(line).close { return }
        }
        _ = try? HashedControlPassword(parsing: text)
    }

    static let controlPassword = try! HashedControlPassword(parsing: "16:B76D033DA62D2B6660349E35FE433C9775386E072B5D767657EEC6DEE8")

    struct FuzzControlBackend: ControlBackend {
        func info(_ key: String) -> String? { key.hasPrefix("multi") ? "a\n.b\n" : key.count % 3 == 0 ? nil : "value" }
        func conf(_ key: String) -> [String]? { key.count % 3 == 0 ? nil : key.count % 2 == 0 ? [] : ["x", "y"] }
        func signal(_ signal: ControlSignal) -> Bool { true }
    }

    /// CTor's key files and PEM.
    static func keyFiles(_ bytes: [UInt8]) {
        _ = try? CTorKeyFile.decodeEd25519Secret(bytes, tag: "type0", source: "fuzz")
        _ = try? CTorKeyFile.decodeEd25519Public(bytes, tag: "type0", source: "fuzz")
        _ = try? CTorKeyFile.decodeCurve25519(bytes, source: "fuzz")
        _ = try? CTorKeyFile.decodeCert(bytes, source: "fuzz")
        let text = String(decoding: bytes, as: UTF8.self)
        if let der = try? PEM.decode(text, label: "RSA PRIVATE KEY", source: "fuzz") { _ = try? RSAPrivateKey(pkcs1DER: der) }
    }

    /// A directory server's HTTP answer.
    static func httpResponse(_ bytes: [UInt8]) {
        _ = try? DirectoryHTTPClient.parse(bytes, from: "fuzz")
    }

    /// The fleet's sealed identity bundles (`relaynode identity import`, fleetctl migrate). A
    /// fixed key stands in for the operation's. Byte 0 picks what the rest is:
    /// - even: a sealed bundle as it arrives (magic, version, seal);
    /// - odd: the plaintext, sealed here first, so the header and digest checks are reached.
    /// Installing an opened bundle's database is `bundleInstall`, a target of its own: it runs
    /// at tens of inputs per second (SQLite files, OpenSSL's RSA key checks), this one at
    /// thousands, and one target for both spent nearly all its time installing.
    static func sealedBundles(_ bytes: [UInt8]) {
        guard let mode = bytes.first, let key = bundleKey else { return }
        let rest = Array(bytes.dropFirst())
        if mode % 2 == 0 {
            _ = try? IdentityBundle.open(rest, secretKey: key.secret)
        } else {
            guard let sealed = try? SealedBox.seal(rest, to: key.public) else { return }
            _ = try? IdentityBundle.open(IdentityBundle.magic + [IdentityBundle.version] + sealed, secretKey: key.secret)
        }
    }

    /// An opened bundle installed into a scratch data directory (`relaynode identity import`'s
    /// last step). Bytes 0-1: length of the RSA fingerprint text that follows; the rest is the
    /// database (hostile SQLite bytes). Size and SHA-256 in the header are made to match, so the
    /// bundle opens and the install reads the database: schema, keys, their consistency.
    static func bundleInstall(_ bytes: [UInt8]) {
        guard bytes.count >= 2, let key = bundleKey else { return }
        let n = min(bytes.count - 2, Int(bytes[0]) << 8 | Int(bytes[1]))
        let fingerprint = String(decoding: bytes[2..<2 + n], as: UTF8.self)
        let db = Array(bytes[(2 + n)...])
        let header = IdentityBundle.Header(rsa_fingerprint: fingerprint, ed25519_identity: "", created: 0,
                                           database_size: db.count, database_sha256: Digest.sha256(db).hexString)
        guard let sealed = try? IdentityBundle(header: header, database: db).sealed(to: key.public),
              let opened = try? IdentityBundle.open(sealed, secretKey: key.secret) else { return }
        let dir = NSTemporaryDirectory() + "relayfuzz-bundle-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try? opened.install(dataDirectory: dir)
    }

    /// SHA-256("relayfleet fuzz bundle key") as the secret key; nothing real is sealed to it.
    private static let bundleKey: (public: [UInt8], secret: [UInt8])? = {
        let secret = Digest.sha256(Array("relayfleet fuzz bundle key".utf8))
        guard let pub = try? SealedBox.publicKey(of: secret) else { return nil }
        return (pub, secret)
    }()
}
