import Foundation
import TorCrypto
import TorProtocol

/// What a control connection may see and do: answers for GETINFO and GETCONF, and the signals.
/// The relay's wiring implements it; the session never touches the relay's state itself (and
/// never the database: nothing a controller sends is stored).
public protocol ControlBackend: Sendable {
    /// The value of a GETINFO key (it may span lines), or nil when the key is not recognized.
    func info(_ key: String) -> String?
    /// The values of a configuration option (an empty array: set to its default); nil when
    /// the option is not one relaynode has.
    func conf(_ key: String) -> [String]?
    /// Carries out a signal; false when it is recognized but not available here.
    func signal(_ signal: ControlSignal) -> Bool
}

/// The signals of control-spec §3.7 that relaynode acts on.
public enum ControlSignal: String, Sendable, CaseIterable {
    /// RELOAD / HUP: what SIGHUP does.
    case reload
    /// SHUTDOWN / INT: the graceful stop (close listeners, drain, flush).
    case shutdown
    /// HALT / TERM: stop now.
    case halt
    /// HEARTBEAT, DUMP / USR1: a heartbeat line in the log.
    case heartbeat
    /// NEWNYM, CLEARDNSCACHE, ACTIVE: client-side actions; a relay has nothing to do.
    case noop

    static func parse(_ name: String) -> ControlSignal? {
        switch name.uppercased() {
        case "RELOAD", "HUP": .reload
        case "SHUTDOWN", "INT": .shutdown
        case "HALT", "TERM": .halt
        case "HEARTBEAT", "DUMP", "USR1": .heartbeat
        case "NEWNYM", "CLEARDNSCACHE", "ACTIVE": .noop
        default: nil
        }
    }
}

/// Authentication material for control connections.
public struct ControlAuthConfig: Sendable {
    /// The 32-byte cookie when cookie authentication is on.
    public var cookie: [UInt8]?
    public var cookieFile: String?
    public var passwords: [HashedControlPassword]
    /// GETINFO version and PROTOCOLINFO's VERSION: C tor's version format, which stem and nyx
    /// parse, naming the control-protocol level followed by relaynode's own version.
    public var version: String

    public init(cookie: [UInt8]?, cookieFile: String?, passwords: [HashedControlPassword], version: String) {
        self.cookie = cookie
        self.cookieFile = cookieFile
        self.passwords = passwords
        self.version = version
    }
}

/// One control connection's protocol state (control-spec §2–3), independent of I/O: it takes
/// command lines and returns the reply text (CRLF lines) and whether to close. Before
/// authentication only PROTOCOLINFO and AUTHCHALLENGE (once each), AUTHENTICATE and QUIT are
/// accepted; anything else, a failed AUTHENTICATE, or a repeat is answered and the connection
/// closed, as C tor does.
public final class ControlSession {
    public struct Reply: Equatable {
        public var text: String
        public var close: Bool
    }

    /// Event names of control-spec §4.1; SETEVENTS accepts these (only BW is emitted today).
    public static let knownEvents: Set<String> = [
        "CIRC", "STREAM", "ORCONN", "BW", "DEBUG", "INFO", "NOTICE", "WARN", "ERR", "NEWDESC", "ADDRMAP",
        "DESCCHANGED", "NS", "STATUS_GENERAL", "STATUS_CLIENT", "STATUS_SERVER", "GUARD", "STREAM_BW",
        "CLIENTS_SEEN", "NEWCONSENSUS", "BUILDTIMEOUT_SET", "SIGNAL", "CONF_CHANGED", "CIRC_MINOR",
        "TRANSPORT_LAUNCHED", "CONN_BW", "CIRC_BW", "CELL_STATS", "TB_EMPTY", "HS_DESC", "HS_DESC_CONTENT",
        "NETWORK_LIVENESS", "PT_LOG", "PT_STATUS",
    ]

    let auth: ControlAuthConfig
    let backend: any ControlBackend
    public private(set) var authenticated = false
    public private(set) var events: Set<String> = []
    private var sawProtocolInfo = false
    private var challenge: (client: [UInt8], server: [UInt8])?
    private var sawChallenge = false
    private let nonce: () -> [UInt8]

    public init(auth: ControlAuthConfig, backend: any ControlBackend,
                nonce: @escaping () -> [UInt8] = { var r = SystemRandom(); return r.bytes(ControlAuth.nonceLength) }) {
        self.auth = auth
        self.backend = backend
        self.nonce = nonce
    }

    /// Handles one command: `line` without its line ending; `data` the lines of a multi-line
    /// ("+KEYWORD") command's data section.
    public func handle(_ line: String, data: [String]? = nil) -> Reply {
        let (rawKeyword, args) = Self.split(line)
        let multiLine = rawKeyword.hasPrefix("+")
        let keyword = (multiLine ? String(rawKeyword.dropFirst()) : rawKeyword).uppercased()
        guard !keyword.isEmpty, keyword.allSatisfy({ $0.isASCII && $0.isLetter }) else {
            return authenticated ? Reply(text: "510 Unrecognized command \"\(Self.printable(rawKeyword))\"\r\n", close: false)
                : Reply(text: "514 Authentication required.\r\n", close: true)
        }
        if !authenticated {
            switch keyword {
            case "PROTOCOLINFO" where !sawProtocolInfo, "AUTHCHALLENGE" where !sawChallenge, "AUTHENTICATE", "QUIT":
                break
            case "PROTOCOLINFO", "AUTHCHALLENGE":
                return Reply(text: "514 Authentication required.\r\n", close: true)
            default:
                return Reply(text: "514 Authentication required.\r\n", close: true)
            }
        }
        if multiLine { return Reply(text: "510 Unrecognized command \"\(Self.printable(keyword))\"\r\n", close: false) }
        switch keyword {
        case "PROTOCOLINFO": return protocolInfo(args)
        case "AUTHCHALLENGE": return authChallenge(args)
        case "AUTHENTICATE": return authenticate(args)
        case "QUIT": return Reply(text: "250 closing connection\r\n", close: true)
        case "GETINFO": return getInfo(args)
        case "GETCONF": return getConf(args)
        case "SETEVENTS": return setEvents(args)
        case "SIGNAL": return signal(args)
        default: return Reply(text: "510 Unrecognized command \"\(Self.printable(keyword))\"\r\n", close: false)
        }
    }

    // MARK: authentication

    func protocolInfo(_ args: String) -> Reply {
        sawProtocolInfo = true
        for v in args.split(separator: " ") where !v.allSatisfy(\.isNumber) {
            return Reply(text: "513 No such version \"\(Self.printable(String(v)))\"\r\n", close: !authenticated)
        }
        var methods: [String] = []
        if auth.cookie != nil { methods += ["COOKIE", "SAFECOOKIE"] }
        if !auth.passwords.isEmpty { methods.append("HASHEDPASSWORD") }
        var authLine = "250-AUTH METHODS=" + methods.joined(separator: ",")
        if auth.cookie != nil, let file = auth.cookieFile { authLine += " COOKIEFILE=" + Self.quoted(file) }
        return Reply(text: "250-PROTOCOLINFO 1\r\n\(authLine)\r\n250-VERSION Tor=\(Self.quoted(auth.version))\r\n250 OK\r\n", close: false)
    }

    func authChallenge(_ args: String) -> Reply {
        sawChallenge = true
        let words = args.split(separator: " ", maxSplits: 1).map(String.init)
        guard words.count == 2, words[0].uppercased() == "SAFECOOKIE" else {
            return Reply(text: "513 AUTHCHALLENGE only supports SAFECOOKIE authentication\r\n", close: !authenticated)
        }
        guard let cookie = auth.cookie else {
            return Reply(text: "515 Cookie authentication is disabled\r\n", close: !authenticated)
        }
        guard let client = Self.token(words[1]), !client.isEmpty else {
            return Reply(text: "513 Invalid base16 client nonce\r\n", close: !authenticated)
        }
        let server = nonce()
        challenge = (client, server)
        let hash = ControlAuth.serverHash(cookie: cookie, clientNonce: client, serverNonce: server)
        return Reply(text: "250 AUTHCHALLENGE SERVERHASH=\(hash.upperHexString) SERVERNONCE=\(server.upperHexString)\r\n", close: false)
    }

    func authenticate(_ args: String) -> Reply {
        let trimmed = args.trimmingCharacters(in: .whitespaces)
        guard let given = trimmed.isEmpty ? [] : Self.token(trimmed) else {
            return Reply(text: "513 Invalid argument to AUTHENTICATE: expected hexadecimal or a quoted string\r\n", close: true)
        }
        var ok = false
        if let (client, server) = challenge {
            // After AUTHCHALLENGE only the controller's HMAC is accepted.
            challenge = nil
            if let cookie = auth.cookie {
                ok = ControlAuth.constantTimeEqual(given, ControlAuth.controllerHash(cookie: cookie, clientNonce: client, serverNonce: server))
            }
        } else {
            if let cookie = auth.cookie, ControlAuth.constantTimeEqual(given, cookie) { ok = true }
            if !ok, auth.passwords.contains(where: { $0.matches(given) }) { ok = true }
        }
        guard ok else {
            authenticated = false
            return Reply(text: "515 Authentication failed: password or cookie did not match\r\n", close: true)
        }
        authenticated = true
        return Reply(text: "250 OK\r\n", close: false)
    }

    // MARK: queries

    func getInfo(_ args: String) -> Reply {
        let keys = args.split(separator: " ").map(String.init)
        var lines: [(String, String)] = []
        for key in keys {
            guard let value = backend.info(key) else {
                return Reply(text: "552 Unrecognized key \"\(Self.printable(key))\"\r\n", close: false)
            }
            lines.append((key, value))
        }
        var out = ""
        for (key, value) in lines {
            if value.contains("\n") {
                out += "250+\(key)=\r\n"
                for l in value.split(separator: "\n", omittingEmptySubsequences: false) {
                    let s = l.hasSuffix("\r") ? String(l.dropLast()) : String(l)
                    out += (s.hasPrefix(".") ? "." + s : s) + "\r\n"
                }
                out += ".\r\n"
            } else {
                out += "250-\(key)=\(value)\r\n"
            }
        }
        return Reply(text: out + "250 OK\r\n", close: false)
    }

    func getConf(_ args: String) -> Reply {
        let keys = args.split(separator: " ").map(String.init)
        guard !keys.isEmpty else { return Reply(text: "250 OK\r\n", close: false) }
        var lines: [String] = []
        for key in keys {
            guard let values = backend.conf(key) else {
                return Reply(text: "552 Unrecognized configuration key \"\(Self.printable(key))\"\r\n", close: false)
            }
            if values.isEmpty { lines.append(key) } else { lines += values.map { "\(key)=\($0)" } }
        }
        var out = ""
        for (i, l) in lines.enumerated() { out += (i == lines.count - 1 ? "250 " : "250-") + l + "\r\n" }
        return Reply(text: out, close: false)
    }

    func setEvents(_ args: String) -> Reply {
        var wanted: Set<String> = []
        for word in args.split(separator: " ").map({ $0.uppercased() }) where word != "EXTENDED" {
            guard Self.knownEvents.contains(word) else {
                return Reply(text: "552 Unrecognized event \"\(Self.printable(word))\"\r\n", close: false)
            }
            wanted.insert(word)
        }
        events = wanted
        return Reply(text: "250 OK\r\n", close: false)
    }

    func signal(_ args: String) -> Reply {
        let name = args.trimmingCharacters(in: .whitespaces)
        guard let s = ControlSignal.parse(name) else {
            return Reply(text: "552 Unrecognized signal code \"\(Self.printable(name))\"\r\n", close: false)
        }
        guard backend.signal(s) else { return Reply(text: "552 Signal \(name.uppercased()) is not available\r\n", close: false) }
        // HALT: C tor closes without a reply; SHUTDOWN answers, then the relay stops.
        return Reply(text: s == .halt ? "" : "250 OK\r\n", close: s == .halt)
    }

    // MARK: tokens

    static func split(_ line: String) -> (String, String) {
        guard let sp = line.firstIndex(of: " ") else { return (line, "") }
        return (String(line[..<sp]), String(line[line.index(after: sp)...]))
    }

    /// Hex or a QuotedString (backslash escapes the next character), as AUTHENTICATE and
    /// AUTHCHALLENGE take them.
    static func token(_ text: String) -> [UInt8]? {
        if text.hasPrefix("\"") {
            var out: [UInt8] = []
            var escaped = false
            let body = Array(text.utf8.dropFirst())
            for (i, b) in body.enumerated() {
                if escaped { out.append(b); escaped = false; continue }
                if b == UInt8(ascii: "\\") { escaped = true; continue }
                if b == UInt8(ascii: "\"") { return i == body.count - 1 ? out : nil }
                out.append(b)
            }
            return nil
        }
        return [UInt8](hex: text)
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// What of a controller's input may be echoed in a reply: printable ASCII, at most 64 characters.
    static func printable(_ s: String) -> String {
        String(String(s.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7f && $0 != "\"" }).prefix(64))
    }
}
