/// The control port options, as in C tor's manual: `ControlPort [ADDR:]PORT | unix:PATH`
/// (repeatable; a bare port listens on 127.0.0.1; `0`/`auto` are not supported),
/// `ControlSocket PATH`, `CookieAuthentication 0|1`, `CookieAuthFile PATH` (default
/// `DataDirectory/control_auth_cookie`) and `HashedControlPassword 16:…` (repeatable).
/// relaynode listens only on loopback addresses or Unix sockets: a control port is a remote
/// shell on the relay's state, so another address is a configuration error, not a warning.
public struct ControlPortConfig: Sendable, Equatable {
    public enum Listener: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var listeners: [Listener] = []
    public var cookieAuthentication = false
    public var cookieAuthFile: String?
    public var hashedPasswords: [HashedControlPassword] = []

    public init() {}

    public var enabled: Bool { !listeners.isEmpty }

    mutating func parse(_ option: String, _ value: String, _ here: String) throws {
        switch option {
        case "ControlPort":
            if value.hasPrefix("unix:") {
                let path = String(value.dropFirst(5)).trimmingQuotes
                guard path.hasPrefix("/") else { throw TorProtocolError(.malformed, "\(here): ControlPort unix:PATH needs an absolute path, got '\(value)'") }
                listeners.append(.unix(path: path))
                return
            }
            guard !value.contains(" ") else {
                throw TorProtocolError(.unsupported, "\(here): ControlPort flags are not supported, got '\(value)'")
            }
            var l = try ORPortConfig(parsing: value, here)
            if !value.contains(":") { l.host = "127.0.0.1" }
            guard l.port != 0 else { throw TorProtocolError(.malformed, "\(here): ControlPort needs a port from 1 to 65535 (auto is not supported)") }
            let loopback = l.host == "::1" || IPv4Address.bytes(l.host)?.first == 127
            guard loopback else {
                throw TorProtocolError(.malformed, "\(here): ControlPort must listen on a loopback address (127.0.0.0/8 or [::1]) or unix:PATH, not \(l.host): it controls the relay")
            }
            listeners.append(.tcp(host: l.host, port: l.port))
        case "ControlSocket":
            let path = value.trimmingQuotes
            guard path.hasPrefix("/") else { throw TorProtocolError(.malformed, "\(here): ControlSocket needs an absolute path, got '\(value)'") }
            listeners.append(.unix(path: path))
        case "CookieAuthentication":
            cookieAuthentication = try RelayConfig.parseBool(value, here, option)
        case "CookieAuthFile":
            let path = value.trimmingQuotes
            guard path.hasPrefix("/") else { throw TorProtocolError(.malformed, "\(here): CookieAuthFile needs an absolute path, got '\(value)'") }
            cookieAuthFile = path
        case "HashedControlPassword":
            do { hashedPasswords.append(try HashedControlPassword(parsing: value)) } catch let e as TorProtocolError {
                throw TorProtocolError(.malformed, "\(here): \(e.context)")
            }
        default:
            preconditionFailure("not a control port option: \(option)")
        }
    }
}

extension RelayConfig {
    static let controlOptions = ["ControlPort", "ControlSocket", "CookieAuthentication", "CookieAuthFile", "HashedControlPassword"]

    /// Checks that belong to the whole file: a control port needs an authentication method.
    func checkControl() throws {
        if control.enabled && !control.cookieAuthentication && control.hashedPasswords.isEmpty {
            throw TorProtocolError(.malformed, "ControlPort is set but neither CookieAuthentication 1 nor HashedControlPassword is: relaynode never runs an unauthenticated control port")
        }
    }
}

private extension String {
    var trimmingQuotes: String {
        count >= 2 && hasPrefix("\"") && hasSuffix("\"") ? String(dropFirst().dropLast()) : self
    }
}
