import Foundation
import NIOCore
import Testing
import TorCrypto
@testable import TorProtocol

/// Both handshake roles talking to each other in memory, no sockets (STYLE.md: handshakes
/// are tested with two state machines). Cells pass through the real framing (encode, decode).
@Suite struct LinkHandshakeTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)
    static let relayA = makeCredentials(seed: 1)
    static let relayB = makeCredentials(seed: 2)

    static func makeCredentials(seed: UInt64) -> LinkCredentials {
        var rng = TestRandom(seed: seed)
        let keys = try! RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &rng)
        return try! LinkCredentials.generate(keys: keys, now: now, using: &rng)
    }

    struct Outcome {
        var initiator: [LinkAction] = []
        var responder: [LinkAction] = []
        var initiatorOpen: LinkEstablished? { initiator.compactMap { if case let .open(e) = $0 { e } else { nil } }.first }
        var responderOpen: LinkEstablished? { responder.compactMap { if case let .open(e) = $0 { e } else { nil } }.first }
        var closeReasons: [String] {
            (initiator + responder).compactMap { if case let .close(r) = $0 { r } else { nil } }
        }
    }

    /// Runs a whole handshake. `tamper` may rewrite any cell in flight (direction, cell).
    static func handshake(initiatorCredentials: LinkCredentials?, responder: LinkCredentials,
                          expected: InitiatorHandshake.ExpectedPeer? = nil,
                          initiatorNow: Date = now, responderNow: Date = now,
                          initiatorExporter: @escaping ([UInt8]) -> [UInt8] = { Digest.sha256([1] + $0) },
                          responderExporter: @escaping ([UInt8]) -> [UInt8] = { Digest.sha256([1] + $0) },
                          presentedTLSCert: [UInt8]? = nil,
                          tamper: (Bool, Cell) -> Cell? = { $1 }) -> Outcome {
        var rng = TestRandom(seed: 99)
        let addrA = NetinfoAddress.ipv4([127, 0, 0, 1]), addrB = NetinfoAddress.ipv4([127, 0, 0, 2])
        var i = InitiatorHandshake(credentials: initiatorCredentials, expected: expected, ourAddresses: [addrA], peerAddress: addrB)
        var r = ResponderHandshake(credentials: responder, ourAddresses: [addrB], peerAddress: addrA)
        var out = Outcome()
        var toResponder: [Cell] = [], toInitiator: [Cell] = []
        var iWide = false, rWide = false
        func wire(_ cell: Cell, wide: Bool) -> Cell {
            // Through the real framing, as the codec would.
            let f = CellFraming(circuitIDWidth: wide ? .wide : .narrow)
            var b = ByteBuffer()
            try! f.encode(cell, into: &b)
            return try! f.decode(&b)!
        }
        func handle(_ actions: [LinkAction], fromInitiator: Bool) {
            for a in actions {
                if fromInitiator { out.initiator.append(a) } else { out.responder.append(a) }
                switch a {
                case let .send(c):
                    guard let c = tamper(fromInitiator, wire(c, wide: fromInitiator ? iWide : rWide)) else { continue }
                    if fromInitiator { toResponder.append(c) } else { toInitiator.append(c) }
                case .useWideCircuitIDs:
                    if fromInitiator { iWide = true } else { rWide = true }
                default: break
                }
            }
        }
        handle(i.start(), fromInitiator: true)
        var rounds = 0
        while (!toResponder.isEmpty || !toInitiator.isEmpty) && rounds < 100 && out.closeReasons.isEmpty {
            rounds += 1
            if !toResponder.isEmpty {
                let c = toResponder.removeFirst()
                handle(r.receive(c, now: responderNow, using: &rng, exporter: responderExporter), fromInitiator: false)
            } else {
                let c = toInitiator.removeFirst()
                handle(i.receive(c, now: initiatorNow, peerTLSCertificateDER: presentedTLSCert ?? responder.tlsCert.der,
                                 using: &rng, exporter: initiatorExporter), fromInitiator: true)
            }
        }
        return out
    }

    @Test func relayToRelayAuthenticatesBothWays() throws {
        let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB,
                               expected: .init(rsaFingerprint: Self.relayB.peerIdentity.rsaFingerprint, ed25519: Self.relayB.ed25519Identity))
        #expect(o.closeReasons.isEmpty, "\(o.closeReasons)")
        let ri = try #require(o.responderOpen)
        let ii = try #require(o.initiatorOpen)
        #expect(ri.peer == Self.relayA.peerIdentity)
        #expect(ii.peer == Self.relayB.peerIdentity)
        #expect(ri.linkVersion == 5 && ii.linkVersion == 5)
        #expect(ri.peerAddresses == [.ipv4([127, 0, 0, 1])])
        #expect(ii.ourAddressAsSeenByPeer == .ipv4([127, 0, 0, 1]))
        // The responder sends exactly VERSIONS, CERTS, AUTH_CHALLENGE, NETINFO.
        let sent = o.responder.compactMap { if case let .send(c) = $0 { c.command } else { nil } }
        #expect(sent == [.versions, .certs, .authChallenge, .netinfo])
        let isent = o.initiator.compactMap { if case let .send(c) = $0 { c.command } else { nil } }
        #expect(isent == [.versions, .certs, .authenticate, .netinfo])
    }

    @Test func clientIsUnauthenticated() throws {
        let o = Self.handshake(initiatorCredentials: nil, responder: Self.relayB)
        #expect(o.closeReasons.isEmpty, "\(o.closeReasons)")
        let r = try #require(o.responderOpen)
        #expect(r.peer == nil)
        #expect(r.peerTime == 0)
        #expect(o.initiatorOpen?.peer == Self.relayB.peerIdentity)
        let isent = o.initiator.compactMap { if case let .send(c) = $0 { c.command } else { nil } }
        #expect(isent == [.versions, .netinfo])
    }

    @Test func wrongExpectedIdentityCloses() {
        let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB,
                               expected: .init(rsaFingerprint: Self.relayA.peerIdentity.rsaFingerprint, ed25519: nil))
        #expect(o.initiatorOpen == nil)
        #expect(o.closeReasons.contains { $0.contains("expected") })
    }

    @Test func tlsCertificateNotCoveredByType5Closes() {
        let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB, presentedTLSCert: Self.relayA.tlsCert.der)
        #expect(o.initiatorOpen == nil)
        #expect(o.closeReasons.contains { $0.contains("type-5") })
    }

    @Test func exporterMismatchFailsAuthentication() {
        // TLSSECRETS differ: e.g. a man in the middle terminating TLS.
        let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB,
                               responderExporter: { Digest.sha256([2] + $0) })
        #expect(o.responderOpen == nil)
        #expect(o.closeReasons.contains { $0.contains("AUTHENTICATE does not match") })
    }

    @Test func expiredCertificatesClose() {
        // Both sides' clocks 40 days on: the type-4 signing certificates (30 days) have expired.
        let later = Self.now + 40 * 86_400
        let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB, initiatorNow: later, responderNow: later)
        #expect(o.initiatorOpen == nil)
        #expect(o.closeReasons.contains { $0.contains("expired") })
    }

    @Test func duplicateCertTypeCloses() {
        let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB, tamper: { fromInitiator, cell in
            guard !fromInitiator, cell.command == .certs else { return cell }
            var certs = try! CertsCell(cell: cell)
            certs.certificates.append(certs.certificates[0])
            return try! certs.cell()
        })
        #expect(o.initiatorOpen == nil)
        #expect(o.closeReasons.contains { $0.contains("two certificates of type") })
    }

    @Test func missingCertTypesClose() {
        for drop in [CertsCell.CertType.rsaIdentityX509, .ed25519IdentityToSigning, .ed25519SigningToTLSLink, .rsaEd25519CrossCert] {
            let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB, tamper: { fromInitiator, cell in
                guard !fromInitiator, cell.command == .certs else { return cell }
                var certs = try! CertsCell(cell: cell)
                certs.certificates.removeAll { $0.type == drop }
                return try! certs.cell()
            })
            #expect(o.initiatorOpen == nil, "accepted CERTS without \(drop)")
        }
        // And the initiator's type 6 (the responder needs it to check AUTHENTICATE).
        let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB, tamper: { fromInitiator, cell in
            guard fromInitiator, cell.command == .certs else { return cell }
            var certs = try! CertsCell(cell: cell)
            certs.certificates.removeAll { $0.type == .ed25519SigningToLinkAuth }
            return try! certs.cell()
        })
        #expect(o.responderOpen == nil)
    }

    @Test func badSignaturesClose() {
        // Flip one bit in each certificate the responder sends, one at a time.
        for type in [CertsCell.CertType.rsaIdentityX509, .ed25519IdentityToSigning, .ed25519SigningToTLSLink, .rsaEd25519CrossCert] {
            let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB, tamper: { fromInitiator, cell in
                guard !fromInitiator, cell.command == .certs else { return cell }
                var certs = try! CertsCell(cell: cell)
                let i = certs.certificates.firstIndex { $0.type == type }!
                let n = certs.certificates[i].body.count
                certs.certificates[i].body[n - 3] ^= 0x10
                return try! certs.cell()
            })
            #expect(o.initiatorOpen == nil, "accepted a tampered \(type)")
        }
        // A tampered AUTHENTICATE signature.
        let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB, tamper: { fromInitiator, cell in
            guard fromInitiator, cell.command == .authenticate else { return cell }
            var a = try! AuthenticateCell(cell: cell)
            a.authenticator[a.authenticator.count - 1] ^= 1
            return try! a.cell()
        })
        #expect(o.responderOpen == nil)
        #expect(o.closeReasons.contains { $0.contains("signature") })
    }

    @Test func transcriptTamperingIsDetected() {
        // Padding the initiator sent but the responder never saw changes CLOG.
        var dropped = false
        let o = Self.handshake(initiatorCredentials: Self.relayA, responder: Self.relayB, tamper: { fromInitiator, cell in
            guard fromInitiator, cell.command == .certs, !dropped else { return cell }
            dropped = true
            var certs = try! CertsCell(cell: cell)
            certs.certificates.reverse()  // same certificates, different bytes
            return try! certs.cell()
        })
        #expect(o.responderOpen == nil)
    }

    @Test func onlyHandshakeCellsAreAllowed() {
        var rng = TestRandom(seed: 5)
        var r = ResponderHandshake(credentials: Self.relayB, ourAddresses: [], peerAddress: .ipv4([127, 0, 0, 1]))
        let relay = Cell(circuitID: 0, command: .relay, body: ByteBuffer(repeating: 0, count: 509))
        let actions = r.receive(relay, now: Self.now, using: &rng, exporter: { $0 })
        guard case .close = actions.last else { Issue.record("RELAY before VERSIONS was not refused"); return }
        var r2 = ResponderHandshake(credentials: Self.relayB, ourAddresses: [], peerAddress: .ipv4([127, 0, 0, 1]))
        _ = r2.receive(try! VersionsCell(versions: [4, 5]).cell(), now: Self.now, using: &rng, exporter: { $0 })
        let create = Cell(circuitID: 0x8000_0001, command: .create2, body: ByteBuffer(repeating: 0, count: 509))
        guard case .close = r2.receive(create, now: Self.now, using: &rng, exporter: { $0 }).last else {
            Issue.record("CREATE2 during the handshake was not refused"); return
        }
    }

    @Test func versionNegotiation() {
        var rng = TestRandom(seed: 6)
        for (offer, result) in [([3, 4, 5], UInt16(5)), ([4], 4), ([3], nil), ([1, 2, 3], nil), ([5, 6, 7], 5)] as [([UInt16], UInt16?)] {
            var r = ResponderHandshake(credentials: Self.relayB, ourAddresses: [], peerAddress: .ipv4([127, 0, 0, 1]))
            let actions = r.receive(try! VersionsCell(versions: offer).cell(), now: Self.now, using: &rng, exporter: { $0 })
            if let result {
                guard case let .send(v) = actions.first else { Issue.record("no VERSIONS reply to \(offer)"); continue }
                #expect(try! VersionsCell(cell: v).versions == [4, 5])
                #expect(actions.contains { if case .useWideCircuitIDs = $0 { true } else { false } })
                _ = result
            } else {
                guard case .close = actions.last else { Issue.record("accepted \(offer)"); continue }
            }
        }
    }
}
