import Foundation
import NIOCore
import RelayCore
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
}
