import Foundation
import NIOCore
import TorCrypto

/// What a link handshake asks its handler to do.
public enum LinkAction: Sendable {
    /// Write this cell (already encoded with the right circuit-ID width).
    case send(Cell)
    /// From now on cells use 4-byte circuit IDs (link protocol 4 and later).
    case useWideCircuitIDs
    /// The handshake finished: the link is open.
    case open(LinkEstablished)
    /// Close the link; `reason` is safe to log (no addresses, no secrets).
    case close(reason: String)
}

/// The outcome of a finished handshake.
public struct LinkEstablished: Sendable {
    public let linkVersion: UInt16
    /// The authenticated peer, or nil for a client (which never authenticates).
    public let peer: PeerIdentity?
    /// The peer's clock as it stated in NETINFO (0 from clients).
    public let peerTime: UInt32
    /// The addresses the peer says it has (for canonical-link checks).
    public let peerAddresses: [NetinfoAddress]
    /// The address the peer says it sees us at.
    public let ourAddressAsSeenByPeer: NetinfoAddress?
}

/// Link protocol versions this relay speaks (4: wide circuit IDs; 5: channel padding rules).
public let supportedLinkVersions: [UInt16] = [4, 5]

let authChallengeMethodEd25519: UInt16 = 3
let authExporterLabel = "EXPORTER FOR TOR TLS CLIENT BINDING AUTH0003"

/// The highest version both sides list, among ours.
func negotiateVersion(_ theirs: [UInt16]) -> UInt16? {
    supportedLinkVersions.filter(theirs.contains).max()
}

/// The responder's side of the link handshake (we accepted the connection): reference
/// tor-relay-checklist §3.3. A pure state machine: feed it each cell as decoded and perform the
/// returned actions.
public struct ResponderHandshake {
    enum State {
        case awaitingVersions
        /// We sent VERSIONS, CERTS, AUTH_CHALLENGE, NETINFO; the initiator answers with
        /// NETINFO (a client) or CERTS, AUTHENTICATE, NETINFO (a relay).
        case awaitingInitiator(version: UInt16, certs: CertsVerification.Initiator?, authenticated: Bool)
        case open
        case failed
    }

    private var state = State.awaitingVersions
    private let credentials: LinkCredentials
    private let ourAddresses: [NetinfoAddress]
    private let peerAddress: NetinfoAddress
    /// SHA-256 over every byte we sent through AUTH_CHALLENGE (SLOG).
    private let sentLog = DigestContext(.sha256)
    /// SHA-256 over every byte the initiator sent before AUTHENTICATE (CLOG).
    private let receivedLog = DigestContext(.sha256)
    private var challenge: [UInt8] = []

    public init(credentials: LinkCredentials, ourAddresses: [NetinfoAddress], peerAddress: NetinfoAddress) {
        self.credentials = credentials
        self.ourAddresses = ourAddresses
        self.peerAddress = peerAddress
    }

    public var isOpen: Bool { if case .open = state { true } else { false } }

    /// `exporter(context)` returns the 32-byte TLS exporter value for the AUTH0003 label.
    public mutating func receive(_ cell: Cell, now: Date, using rng: inout some RandomSource,
                                 exporter: ([UInt8]) throws -> [UInt8]) -> [LinkAction] {
        do {
            return try step(cell, now: now, rng: &rng, exporter: exporter)
        } catch let e as TorProtocolError {
            state = .failed
            return [.close(reason: e.context)]
        } catch {
            state = .failed
            return [.close(reason: "\(error)")]
        }
    }

    private mutating func step(_ cell: Cell, now: Date, rng: inout some RandomSource,
                               exporter: ([UInt8]) throws -> [UInt8]) throws -> [LinkAction] {
        switch state {
        case .awaitingVersions:
            if cell.command == .vpadding {
                try LinkWire.log(cell, narrow: true, into: receivedLog)
                return []
            }
            guard cell.command == .versions else {
                throw TorProtocolError(.handshake, "expected VERSIONS, got command \(cell.command.rawValue)")
            }
            try LinkWire.log(cell, narrow: true, into: receivedLog)
            let theirs = try LinkWire.parseVersions(cell)
            guard let version = negotiateVersion(theirs) else {
                throw TorProtocolError(.handshake, "no common link protocol version (peer offers \(theirs), we speak \(supportedLinkVersions))")
            }
            challenge = rng.bytes(32)
            let versions = LinkWire.versionsCell(supportedLinkVersions)
            let certs = try LinkWire.certsCell(credentials.responderCerts)
            let authChallenge = LinkWire.authChallengeCell(challenge: challenge, methods: [authChallengeMethodEd25519])
            let netinfo = LinkWire.netinfoCell(time: UInt32(clamping: Int(now.timeIntervalSince1970)),
                                               otherAddress: peerAddress, myAddresses: ourAddresses)
            try LinkWire.log(versions, narrow: true, into: sentLog)
            try LinkWire.log(certs, narrow: false, into: sentLog)
            try LinkWire.log(authChallenge, narrow: false, into: sentLog)
            state = .awaitingInitiator(version: version, certs: nil, authenticated: false)
            return [.send(versions), .useWideCircuitIDs, .send(certs), .send(authChallenge), .send(netinfo)]

        case let .awaitingInitiator(version, certs, authenticated):
            switch cell.command {
            case .padding, .vpadding:
                if !authenticated { try LinkWire.log(cell, narrow: false, into: receivedLog) }
                return []
            case .certs:
                guard certs == nil else { throw TorProtocolError(.handshake, "second CERTS cell") }
                try LinkWire.log(cell, narrow: false, into: receivedLog)
                let verified = try CertsVerification.verifyInitiator(LinkWire.parseCerts(cell), now: now)
                state = .awaitingInitiator(version: version, certs: verified, authenticated: false)
                return []
            case .authenticate:
                guard let certs, !authenticated else {
                    throw TorProtocolError(.handshake, "AUTHENTICATE without a preceding CERTS cell, or twice")
                }
                try verifyAuthenticate(cell, initiator: certs, exporter: exporter)
                state = .awaitingInitiator(version: version, certs: certs, authenticated: true)
                return []
            case .netinfo:
                if certs != nil && !authenticated {
                    throw TorProtocolError(.handshake, "NETINFO after CERTS but before AUTHENTICATE")
                }
                let info = try LinkWire.parseNetinfo(cell)
                state = .open
                return [.open(LinkEstablished(linkVersion: version, peer: authenticated ? certs?.identity : nil,
                                              peerTime: info.timestamp, peerAddresses: info.myAddresses,
                                              ourAddressAsSeenByPeer: info.otherAddress))]
            default:
                throw TorProtocolError(.handshake, "command \(cell.command.rawValue) is not allowed during the link handshake")
            }

        case .open, .failed:
            throw TorProtocolError(.handshake, "handshake already finished")
        }
    }

    private func verifyAuthenticate(_ cell: Cell, initiator: CertsVerification.Initiator,
                                    exporter: ([UInt8]) throws -> [UInt8]) throws {
        let (type, authenticator) = try LinkWire.parseAuthenticate(cell)
        guard type == authChallengeMethodEd25519 else {
            throw TorProtocolError(.handshake, "AUTHENTICATE uses method \(type); only Ed25519-SHA256-RFC5705 (3) is offered")
        }
        let auth = try Auth0003(parsing: authenticator)
        let cid = Digest.sha256(initiator.identity.rsa.pkcs1DER)
        let expected = Auth0003Fields(
            cid: cid,
            sid: Digest.sha256(credentials.identity.publicKey.pkcs1DER),
            cidEd: initiator.identity.ed25519.bytes,
            sidEd: credentials.ed25519Identity.bytes,
            slog: sentLog.peek(),
            clog: receivedLog.peek(),
            scert: credentials.tlsCert.sha256Digest,
            tlsSecrets: try exporter(cid))
        guard auth.matches(expected) else {
            throw TorProtocolError(.handshake, "AUTHENTICATE does not match this connection (identities, transcript, TLS certificate or exporter)")
        }
        guard initiator.authKey.isValidSignature(auth.signature, for: auth.signedPart) else {
            throw TorProtocolError(.badSignature, "AUTHENTICATE signature does not verify under the type-6 link key")
        }
    }
}

/// The initiator's side (we opened the connection, e.g. to extend a circuit): checks the
/// responder's certificates against the TLS certificate and the identity we expected, then
/// authenticates as a relay with CERTS + AUTHENTICATE + NETINFO.
public struct InitiatorHandshake {
    enum State {
        case start
        case awaitingVersions
        case awaitingCerts(version: UInt16)
        case awaitingAuthChallenge(version: UInt16, peer: PeerIdentity)
        case awaitingNetinfo(version: UInt16, peer: PeerIdentity)
        case open
        case failed
    }

    private var state = State.start
    private let credentials: LinkCredentials?
    private let expected: ExpectedPeer?
    private let ourAddresses: [NetinfoAddress]
    private var peerAddress: NetinfoAddress
    private let sentLog = DigestContext(.sha256)
    private let receivedLog = DigestContext(.sha256)

    /// What the peer must prove to be (from EXTEND2 link specifiers or the consensus).
    public struct ExpectedPeer: Sendable {
        public var rsaFingerprint: RSAFingerprint
        public var ed25519: Ed25519PublicKey?
        public init(rsaFingerprint: RSAFingerprint, ed25519: Ed25519PublicKey?) {
            self.rsaFingerprint = rsaFingerprint
            self.ed25519 = ed25519
        }
    }

    /// `credentials` nil means connect as a client (no authentication).
    public init(credentials: LinkCredentials?, expected: ExpectedPeer?, ourAddresses: [NetinfoAddress], peerAddress: NetinfoAddress) {
        self.credentials = credentials
        self.expected = expected
        self.ourAddresses = ourAddresses
        self.peerAddress = peerAddress
    }

    /// The first cells to send once TLS is up. `peerAddress`, when known only now (an outbound
    /// connection's remote address), replaces the one given at init for our NETINFO.
    public mutating func start(peerAddress known: NetinfoAddress? = nil) -> [LinkAction] {
        if let known { peerAddress = known }
        let versions = LinkWire.versionsCell(supportedLinkVersions)
        try? LinkWire.log(versions, narrow: true, into: sentLog)
        state = .awaitingVersions
        return [.send(versions)]
    }

    public mutating func receive(_ cell: Cell, now: Date, peerTLSCertificateDER: [UInt8]?,
                                 using rng: inout some RandomSource,
                                 exporter: ([UInt8]) throws -> [UInt8]) -> [LinkAction] {
        do {
            return try step(cell, now: now, peerCert: peerTLSCertificateDER, rng: &rng, exporter: exporter)
        } catch let e as TorProtocolError {
            state = .failed
            return [.close(reason: e.context)]
        } catch {
            state = .failed
            return [.close(reason: "\(error)")]
        }
    }

    private mutating func step(_ cell: Cell, now: Date, peerCert: [UInt8]?, rng: inout some RandomSource,
                               exporter: ([UInt8]) throws -> [UInt8]) throws -> [LinkAction] {
        switch state {
        case .start:
            throw TorProtocolError(.handshake, "cell received before the handshake started")
        case .awaitingVersions:
            if cell.command == .vpadding {
                try LinkWire.log(cell, narrow: true, into: receivedLog)
                return []
            }
            guard cell.command == .versions else {
                throw TorProtocolError(.handshake, "expected VERSIONS, got command \(cell.command.rawValue)")
            }
            try LinkWire.log(cell, narrow: true, into: receivedLog)
            let theirs = try LinkWire.parseVersions(cell)
            guard let version = negotiateVersion(theirs) else {
                throw TorProtocolError(.handshake, "no common link protocol version (peer offers \(theirs))")
            }
            state = .awaitingCerts(version: version)
            return [.useWideCircuitIDs]
        case let .awaitingCerts(version):
            if cell.command == .vpadding || cell.command == .padding {
                try LinkWire.log(cell, narrow: false, into: receivedLog)
                return []
            }
            guard cell.command == .certs else {
                throw TorProtocolError(.handshake, "expected CERTS, got command \(cell.command.rawValue)")
            }
            guard let peerCert else { throw TorProtocolError(.handshake, "the responder presented no TLS certificate") }
            try LinkWire.log(cell, narrow: false, into: receivedLog)
            let peer = try CertsVerification.verifyResponder(LinkWire.parseCerts(cell), peerTLSCertificateDER: peerCert, now: now)
            if let expected {
                guard peer.rsaFingerprint == expected.rsaFingerprint else {
                    throw TorProtocolError(.keyMismatch, "peer is \(peer.rsaFingerprint.dollarHex), expected \(expected.rsaFingerprint.dollarHex)")
                }
                if let ed = expected.ed25519, ed != peer.ed25519 {
                    throw TorProtocolError(.keyMismatch, "peer's Ed25519 identity is \(peer.ed25519), expected \(ed)")
                }
            }
            state = .awaitingAuthChallenge(version: version, peer: peer)
            return []
        case let .awaitingAuthChallenge(version, peer):
            switch cell.command {
            case .padding, .vpadding:
                try LinkWire.log(cell, narrow: false, into: receivedLog)
                return []
            case .authChallenge:
                try LinkWire.log(cell, narrow: false, into: receivedLog)
                let methods = try LinkWire.parseAuthChallengeMethods(cell)
                state = .awaitingNetinfo(version: version, peer: peer)
                guard let credentials, methods.contains(authChallengeMethodEd25519) else { return [] }
                let certs = try LinkWire.certsCell(credentials.initiatorCerts)
                try LinkWire.log(certs, narrow: false, into: sentLog)
                let cid = Digest.sha256(credentials.identity.publicKey.pkcs1DER)
                let fields = Auth0003Fields(
                    cid: cid, sid: Digest.sha256(peer.rsa.pkcs1DER),
                    cidEd: credentials.ed25519Identity.bytes, sidEd: peer.ed25519.bytes,
                    slog: receivedLog.peek(), clog: sentLog.peek(),
                    scert: Digest.sha256(peerCert ?? []), tlsSecrets: try exporter(cid))
                let auth = Auth0003.sign(fields, random: rng.bytes(24), key: credentials.authKey)
                return [.send(certs), .send(LinkWire.authenticateCell(type: authChallengeMethodEd25519, authenticator: auth))]
            case .netinfo:
                // A responder that sent no AUTH_CHALLENGE: finish unauthenticated.
                state = .awaitingNetinfo(version: version, peer: peer)
                return try step(cell, now: now, peerCert: peerCert, rng: &rng, exporter: exporter)
            default:
                throw TorProtocolError(.handshake, "command \(cell.command.rawValue) is not allowed during the link handshake")
            }
        case let .awaitingNetinfo(version, peer):
            switch cell.command {
            case .padding, .vpadding:
                return []
            case .netinfo:
                let info = try LinkWire.parseNetinfo(cell)
                let time: UInt32 = credentials == nil ? 0 : UInt32(clamping: Int(now.timeIntervalSince1970))
                let ours = LinkWire.netinfoCell(time: time, otherAddress: peerAddress,
                                                myAddresses: credentials == nil ? [] : ourAddresses)
                state = .open
                return [.send(ours), .open(LinkEstablished(linkVersion: version, peer: peer, peerTime: info.timestamp,
                                                           peerAddresses: info.myAddresses,
                                                           ourAddressAsSeenByPeer: info.otherAddress))]
            default:
                throw TorProtocolError(.handshake, "command \(cell.command.rawValue) is not allowed during the link handshake")
            }
        case .open, .failed:
            throw TorProtocolError(.handshake, "handshake already finished")
        }
    }
}
