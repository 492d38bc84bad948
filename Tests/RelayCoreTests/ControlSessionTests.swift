import Foundation
import NIOCore
import NIOEmbedded
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// The control protocol's state machine and framing, without sockets (the backend is a table;
/// the end-to-end tests with stem and nyx run a real relaynode).
@Suite("Control protocol session", .testThreads)
struct ControlSessionTests {
    final class Table: ControlBackend, @unchecked Sendable {
        var infos: [String: String] = ["version": "0.4.9 (relaynode-test)", "traffic/read": "12", "multi": "line one\n.dot line\nend"]
        var confs: [String: [String]] = ["Nickname": ["alpha"], "ContactInfo": [], "ExitPolicy": ["accept *:80", "reject *:*"]]
        var signals: [ControlSignal] = []
        func info(_ key: String) -> String? { infos[key] }
        func conf(_ key: String) -> [String]? { confs[key] }
        func signal(_ signal: ControlSignal) -> Bool { signals.append(signal); return true }
    }

    static let cookie = Array(0..<32).map(UInt8.init)
    static let password = "relayfleet-control"
    static let hashed = try! HashedControlPassword(parsing: "16:B76D033DA62D2B6660349E35FE433C9775386E072B5D767657EEC6DEE8")  // tor --hash-password relayfleet-control

    func session(cookie: Bool = true, password: Bool = true, backend: Table = Table()) -> ControlSession {
        ControlSession(auth: ControlAuthConfig(cookie: cookie ? Self.cookie : nil, cookieFile: "/var/lib/rn/control_auth_cookie",
                                               passwords: password ? [Self.hashed] : [], version: "0.4.9 (relaynode-test)"),
                       backend: backend, nonce: { [UInt8](repeating: 0x55, count: 32) })
    }

    @Test func onlyAuthenticationBeforeAuthenticating() {
        for command in ["GETINFO version", "SIGNAL SHUTDOWN", "SETEVENTS BW", "GETCONF Nickname", "FOO", "", "+LOADCONF"] {
            let r = session().handle(command)
            #expect(r == .init(text: "514 Authentication required.\r\n", close: true), "\(command)")
        }
        let s = session()
        #expect(s.handle("QUIT") == .init(text: "250 closing connection\r\n", close: true))
    }

    @Test func protocolInfoOnceThenAuthenticate() {
        let s = session()
        let info = s.handle("PROTOCOLINFO 1")
        #expect(info.text == "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE,HASHEDPASSWORD COOKIEFILE=\"/var/lib/rn/control_auth_cookie\"\r\n"
                + "250-VERSION Tor=\"0.4.9 (relaynode-test)\"\r\n250 OK\r\n" && !info.close)
        #expect(s.handle("PROTOCOLINFO").close, "a second PROTOCOLINFO before AUTHENTICATE closes")
        let p = session(cookie: false).handle("PROTOCOLINFO")
        #expect(p.text.contains("METHODS=HASHEDPASSWORD\r\n") && !p.text.contains("COOKIEFILE"))
    }

    @Test func cookieAndPasswordAuthentication() {
        let s = session()
        #expect(s.handle("AUTHENTICATE " + Self.cookie.hexString) == .init(text: "250 OK\r\n", close: false))
        #expect(s.authenticated)
        #expect(session().handle("AUTHENTICATE \"\(Self.password)\"").text == "250 OK\r\n")
        #expect(session().handle("AUTHENTICATE " + Array(Self.password.utf8).hexString).text == "250 OK\r\n")
        for bad in ["AUTHENTICATE", "AUTHENTICATE 00", "AUTHENTICATE \"wrong\"", "AUTHENTICATE zz", "AUTHENTICATE \"unterminated"] {
            let r = session().handle(bad)
            #expect(r.close && (r.text.hasPrefix("515") || r.text.hasPrefix("513")), "\(bad): \(r.text)")
        }
        // Without cookie authentication the cookie is just a wrong password.
        #expect(session(cookie: false).handle("AUTHENTICATE " + Self.cookie.hexString).close)
    }

    @Test func safeCookie() {
        let s = session()
        let client = [UInt8](repeating: 0xAA, count: 32)
        let r = s.handle("AUTHCHALLENGE SAFECOOKIE " + client.hexString)
        let serverHash = ControlAuth.serverHash(cookie: Self.cookie, clientNonce: client, serverNonce: [UInt8](repeating: 0x55, count: 32))
        #expect(r.text == "250 AUTHCHALLENGE SERVERHASH=\(serverHash.upperHexString) SERVERNONCE=\(String(repeating: "55", count: 32))\r\n")
        // After the challenge the raw cookie is no longer enough.
        let t = session()
        _ = t.handle("AUTHCHALLENGE SAFECOOKIE " + client.hexString)
        #expect(t.handle("AUTHENTICATE " + Self.cookie.hexString).close)
        let proof = ControlAuth.controllerHash(cookie: Self.cookie, clientNonce: client, serverNonce: [UInt8](repeating: 0x55, count: 32))
        #expect(s.handle("AUTHENTICATE " + proof.hexString).text == "250 OK\r\n")
        #expect(session(cookie: false).handle("AUTHCHALLENGE SAFECOOKIE " + client.hexString).close)
        #expect(session().handle("AUTHCHALLENGE HMAC 00").text.hasPrefix("513"))
    }

    func authenticated(_ b: Table = Table()) -> ControlSession {
        let s = session(backend: b)
        _ = s.handle("AUTHENTICATE " + Self.cookie.hexString)
        return s
    }

    @Test func getInfoAndGetConf() {
        let s = authenticated()
        #expect(s.handle("GETINFO version traffic/read").text == "250-version=0.4.9 (relaynode-test)\r\n250-traffic/read=12\r\n250 OK\r\n")
        // A value with several lines is a data reply; a line starting with "." is stuffed.
        #expect(s.handle("GETINFO multi").text == "250+multi=\r\nline one\r\n..dot line\r\nend\r\n.\r\n250 OK\r\n")
        #expect(s.handle("GETINFO version nonsense").text == "552 Unrecognized key \"nonsense\"\r\n")
        #expect(s.handle("GETCONF Nickname ContactInfo ExitPolicy").text
                == "250-Nickname=alpha\r\n250-ContactInfo\r\n250-ExitPolicy=accept *:80\r\n250 ExitPolicy=reject *:*\r\n")
        #expect(s.handle("GETCONF SocksPortX").text == "552 Unrecognized configuration key \"SocksPortX\"\r\n")
        #expect(s.handle("GETCONF").text == "250 OK\r\n")
    }

    @Test func eventsSignalsAndUnknownCommands() {
        let b = Table()
        let s = authenticated(b)
        #expect(s.handle("SETEVENTS EXTENDED BW CIRC").text == "250 OK\r\n" && s.events == ["BW", "CIRC"])
        #expect(s.handle("SETEVENTS BW NOPE").text == "552 Unrecognized event \"NOPE\"\r\n" && s.events == ["BW", "CIRC"])
        #expect(s.handle("SETEVENTS").text == "250 OK\r\n" && s.events.isEmpty)
        #expect(s.handle("SIGNAL RELOAD").text == "250 OK\r\n")
        #expect(s.handle("SIGNAL HUP").text == "250 OK\r\n")
        #expect(s.handle("SIGNAL HEARTBEAT").text == "250 OK\r\n")
        #expect(s.handle("SIGNAL EXPLODE").text == "552 Unrecognized signal code \"EXPLODE\"\r\n")
        #expect(s.handle("SIGNAL HALT") == .init(text: "", close: true))
        #expect(b.signals == [.reload, .reload, .heartbeat, .halt])
        #expect(authenticated().handle("EXTENDCIRCUIT 0").text == "510 Unrecognized command \"EXTENDCIRCUIT\"\r\n")
        #expect(authenticated().handle("+POSTDESCRIPTOR", data: ["x"]).text == "510 Unrecognized command \"POSTDESCRIPTOR\"\r\n")
        #expect(authenticated().handle("GET\u{1}INFO").text.hasPrefix("510"))
    }

    /// The framing over a real channel pipeline (embedded): CRLF and LF lines, a multi-line
    /// command, and a line over the limit answered and closed.
    @Test func framing() throws {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        let b = Table()
        let hub = ControlHub()
        _ = hub.admit()
        try channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(ControlLineDecoder(maxLine: 100)),
            ControlHandler(session: session(backend: b), hub: hub, logger: .init(label: "t")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9051)).wait()
        func send(_ s: String) throws -> String {
            try channel.writeInbound(ByteBuffer(string: s))
            channel.embeddedEventLoop.run()
            var out = ""
            while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
            return out
        }
        #expect(try send("AUTHENTICATE \(Self.cookie.hexString)\r\n") == "250 OK\r\n")
        #expect(try send("GETINFO traffic/read\nGETINFO ver") == "250-traffic/read=12\r\n250 OK\r\n")
        #expect(try send("sion\r\n") == "250-version=0.4.9 (relaynode-test)\r\n250 OK\r\n")
        #expect(try send("+LOADCONF\r\nSocksPort 0\r\n..\r\n.\r\n") == "510 Unrecognized command \"LOADCONF\"\r\n")
        #expect(try send(String(repeating: "A", count: 200)) == "500 Line too long\r\n")
        #expect(!channel.isActive)
    }
}
