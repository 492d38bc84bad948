import Foundation
import TorProtocol
import Yams

/// The declarative fleet file (`fleet.yaml`) that `fleetctl plan` and `apply` read: hosts and
/// the relays on each, with settings given once for the fleet (`defaults`), overridden per host
/// (`hosts.NAME.defaults`) and per relay. Everything is checked before anything is compared
/// with the inventory, and every error names the file, line and key.
///
/// ```yaml
/// defaults: {role: non-exit, state: running, family: main, bandwidth_rate: 10 MB}
/// hosts:
///   alpha:
///     transport: local            # local | ssh (then ssh: [user@]host, ssh_config: FILE)
///     address: 203.0.113.5        # the address relays on this host bind to and advertise
///     data_root: /var/lib/relayfleet
///     relaynode: /usr/local/bin/relaynode
///     defaults: {role: exit}
///     relays:
///       - {nickname: alpha1, orport: 9001}
///       - {count: 2, nickname_prefix: alphanx, orport: 9101, role: non-exit}   # alphanx1, alphanx2 on 9101, 9102
/// ```
public struct FleetSpec: Sendable, Equatable {
    public struct Host: Sendable, Equatable {
        public var name: String
        public var transport: TransportKind
        public var sshTarget: String?
        public var sshConfig: String?
        public var address: String
        public var dataRoot: String
        public var relaynodePath: String
        public var containerEngine: ContainerEngine
        /// `image:` the relaynode image, with a container engine.
        public var containerImage: String? = nil
        public var line: Int
    }

    public struct Relay: Sendable, Equatable {
        public var nickname: String
        public var host: String
        public var orAddress: String
        public var orPort: Int
        public var role: RelayRole
        public var state: DesiredState
        public var family: String?
        public var bandwidthRate: String?
        public var bandwidthBurst: String?
        public var line: Int

        /// The settings `apply` compares with the inventory (not the host or the state).
        public var settings: RelaySettings {
            RelaySettings(orAddress: orAddress, orPort: orPort, role: role, family: family,
                          bandwidthRate: bandwidthRate, bandwidthBurst: bandwidthBurst)
        }
    }

    public var hosts: [Host]
    public var relays: [Relay]

    /// Tor allows at most this many relays per IPv4 address in the consensus.
    public static let relaysPerAddress = 8

    public static func load(path: String) throws -> FleetSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FleetError(.io, "cannot read the fleet file \(path)")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    public static func parse(_ text: String, file: String = "fleet.yaml") throws -> FleetSpec {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw FleetError(.invalid, "\(file): not valid YAML: \(e)")
        } catch {
            throw FleetError(.invalid, "\(file): not valid YAML: \(error)")
        }
        var p = Parser(file: file)
        return try p.fleet(root)
    }

    /// Walks the YAML tree; every error carries file:line and the key path.
    struct Parser {
        let file: String

        func fail(_ node: Node?, _ path: String, _ message: String) -> FleetError {
            let at = node?.mark.map { ":\($0.line)" } ?? ""
            return FleetError(.invalid, "\(file)\(at): \(path): \(message); nothing was changed")
        }

        func mapping(_ node: Node?, _ path: String, allowed: Set<String>) throws -> [String: Node] {
            guard let node else { return [:] }
            guard case .mapping(let m) = node else { throw fail(node, path, "expected a mapping of keys to values") }
            var out: [String: Node] = [:]
            for (k, v) in m {
                guard let key = k.string else { throw fail(k, path, "keys must be strings") }
                guard allowed.contains(key) else {
                    throw fail(k, path.isEmpty ? key : "\(path).\(key)", "unknown key (known here: \(allowed.sorted().joined(separator: ", ")))")
                }
                guard out[key] == nil else { throw fail(k, "\(path).\(key)", "given twice") }
                out[key] = v
            }
            return out
        }

        func string(_ node: Node?, _ path: String) throws -> String? {
            guard let node else { return nil }
            guard case .scalar(let s) = node, !s.string.isEmpty else { throw fail(node, path, "expected a non-empty value") }
            return s.string
        }

        func enumValue<T: RawRepresentable>(_ node: Node?, _ path: String, _: T.Type, choices: String) throws -> T? where T.RawValue == String {
            guard let s = try string(node, path) else { return nil }
            guard let v = T(rawValue: s) else { throw fail(node, path, "'\(s)' is not one of \(choices)") }
            return v
        }

        /// Relay settings that cascade: defaults → host defaults → relay.
        struct Settings {
            var role: RelayRole?
            var state: DesiredState?
            var family: String?
            var bandwidthRate: String?
            var bandwidthBurst: String?
            static let keys: Set<String> = ["role", "state", "family", "bandwidth_rate", "bandwidth_burst"]

            func over(_ base: Settings) -> Settings {
                Settings(role: role ?? base.role, state: state ?? base.state, family: family ?? base.family,
                         bandwidthRate: bandwidthRate ?? base.bandwidthRate, bandwidthBurst: bandwidthBurst ?? base.bandwidthBurst)
            }
        }

        func settings(_ m: [String: Node], _ path: String) throws -> Settings {
            var s = Settings()
            s.role = try enumValue(m["role"], "\(path).role", RelayRole.self, choices: "exit, non-exit")
            s.state = try enumValue(m["state"], "\(path).state", DesiredState.self, choices: "running, stopped")
            if s.state == .retired { throw fail(m["state"], "\(path).state", "'retired' is not a state to ask for: remove the relay (and use --prune)") }
            if let f = try string(m["family"], "\(path).family") {
                guard f.count <= 64, f.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                    throw fail(m["family"], "\(path).family", "a family name is up to 64 letters, digits, '-', '_' or '.'")
                }
                s.family = f
            }
            for (key, keyPath) in [("bandwidth_rate", \Settings.bandwidthRate), ("bandwidth_burst", \Settings.bandwidthBurst)] {
                if let v = try string(m[key], "\(path).\(key)") {
                    // The same parser the relay uses, so apply never writes a torrc relaynode refuses.
                    do {
                        _ = try RelayConfig(torrc: Torrc(parsing: "BandwidthRate \(v)\nBandwidthBurst \(v)\n", file: file))
                    } catch {
                        throw fail(m[key], "\(path).\(key)", "'\(v)' is not a bandwidth relaynode accepts (like 10 MB or 800 KBytes)")
                    }
                    s[keyPath: keyPath] = v
                }
            }
            return s
        }

        mutating func fleet(_ root: Node?) throws -> FleetSpec {
            let top = try mapping(root, "", allowed: ["defaults", "hosts"])
            let defaults = try settings(mapping(top["defaults"], "defaults", allowed: Settings.keys), "defaults")
            guard let hostsNode = top["hosts"] else { throw fail(root, "hosts", "the file lists no hosts") }
            guard case .mapping(let hostMap) = hostsNode else { throw fail(hostsNode, "hosts", "expected a mapping of host names") }
            var spec = FleetSpec(hosts: [], relays: [])
            for (k, v) in hostMap {
                guard let name = k.string else { throw fail(k, "hosts", "host names must be strings") }
                let path = "hosts.\(name)"
                guard name.count <= 64, let first = name.first, first.isASCII, first.isLetter || first.isNumber,
                      name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                    throw fail(k, path, "a host name is up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
                }
                guard !spec.hosts.contains(where: { $0.name == name }) else { throw fail(k, path, "host listed twice") }
                let m = try mapping(v, path, allowed: ["transport", "ssh", "ssh_config", "address", "data_root", "relaynode", "image",
                                                       "container_engine", "defaults", "relays"])
                let transport = try enumValue(m["transport"], "\(path).transport", TransportKind.self, choices: "local, ssh") ?? .local
                let ssh = try string(m["ssh"], "\(path).ssh")
                if transport == .ssh && ssh == nil { throw fail(v, "\(path).ssh", "an ssh host needs ssh: [user@]host (or an ssh_config alias)") }
                if transport == .local && (ssh != nil || m["ssh_config"] != nil) {
                    throw fail(m["ssh"] ?? m["ssh_config"], "\(path).ssh", "only for transport: ssh")
                }
                guard let address = try string(m["address"], "\(path).address") else {
                    throw fail(v, "\(path).address", "every host needs the address its relays bind to and advertise")
                }
                guard address.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) else {
                    throw fail(m["address"], "\(path).address", "'\(address)' is not an IP address")
                }
                let dataRoot = try string(m["data_root"], "\(path).data_root") ?? "/var/lib/relayfleet"
                guard dataRoot.hasPrefix("/") else { throw fail(m["data_root"], "\(path).data_root", "must be an absolute path") }
                var host = Host(name: name, transport: transport, sshTarget: ssh, sshConfig: try string(m["ssh_config"], "\(path).ssh_config"),
                                address: address, dataRoot: dataRoot,
                                relaynodePath: try string(m["relaynode"], "\(path).relaynode") ?? "relaynode",
                                containerEngine: try enumValue(m["container_engine"], "\(path).container_engine", ContainerEngine.self,
                                                               choices: "none, podman, docker") ?? .none,
                                line: k.mark?.line ?? 0)
                host.containerImage = try string(m["image"], "\(path).image")
                if host.containerEngine != .none && (host.containerImage ?? "").isEmpty {
                    throw fail(v, "\(path).image", "a host with container_engine \(host.containerEngine.rawValue) needs image: (the relaynode image)")
                }
                if host.containerEngine == .none && host.containerImage != nil {
                    throw fail(m["image"], "\(path).image", "image: needs container_engine: podman or docker")
                }
                spec.hosts.append(host)
                let hostDefaults = try settings(mapping(m["defaults"], "\(path).defaults", allowed: Settings.keys), "\(path).defaults").over(defaults)
                guard let relaysNode = m["relays"] else { continue }
                guard case .sequence(let relays) = relaysNode else { throw fail(relaysNode, "\(path).relays", "expected a list of relays") }
                for (i, r) in relays.enumerated() {
                    try relayEntries(r, "\(path).relays[\(i)]", host: host, defaults: hostDefaults, into: &spec)
                }
            }
            try check(spec)
            return spec
        }

        func relayEntries(_ node: Node, _ path: String, host: Host, defaults: Settings, into spec: inout FleetSpec) throws {
            let m = try mapping(node, path, allowed: Settings.keys.union(["nickname", "orport", "count", "nickname_prefix"]))
            let s = try settings(m, path).over(defaults)
            guard let portText = try string(m["orport"], "\(path).orport") else { throw fail(node, "\(path).orport", "every relay needs an orport") }
            let (addr, port): (String, Int)
            if let p = Int(portText) {
                (addr, port) = (host.address, p)
            } else {
                do { (addr, port) = try Provisioner.parseORPort(portText) } catch { throw fail(m["orport"], "\(path).orport", "'\(portText)' is not PORT or ADDR:PORT") }
            }
            if let rate = s.bandwidthRate, let burst = s.bandwidthBurst {
                do {
                    _ = try RelayConfig(torrc: Torrc(parsing: "BandwidthRate \(rate)\nBandwidthBurst \(burst)\n", file: file))
                } catch {
                    throw fail(node, path, "bandwidth_burst (\(burst)) must be at least bandwidth_rate (\(rate))")
                }
            }
            var names: [(String, Int)] = []
            if let countNode = m["count"] {
                guard m["nickname"] == nil else { throw fail(countNode, path, "give either nickname or count with nickname_prefix") }
                guard let n = countNode.int, (1...FleetSpec.relaysPerAddress).contains(n) else {
                    throw fail(countNode, "\(path).count", "count must be 1 to \(FleetSpec.relaysPerAddress)")
                }
                guard let prefix = try string(m["nickname_prefix"], "\(path).nickname_prefix") else {
                    throw fail(node, "\(path).nickname_prefix", "count needs nickname_prefix (the relays are PREFIX1, PREFIX2, …)")
                }
                names = (1...n).map { ("\(prefix)\($0)", port + $0 - 1) }
            } else {
                guard let nick = try string(m["nickname"], "\(path).nickname") else { throw fail(node, "\(path).nickname", "every relay needs a nickname (or count)") }
                names = [(nick, port)]
            }
            for (nick, p) in names {
                guard (1...19).contains(nick.count), nick.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                    throw fail(m["nickname"] ?? m["nickname_prefix"], path, "nickname '\(nick)' is not 1 to 19 letters and digits, as Tor requires")
                }
                guard (1...65535).contains(p) else { throw fail(m["orport"], "\(path).orport", "port \(p) is outside 1–65535") }
                spec.relays.append(Relay(nickname: nick, host: host.name, orAddress: addr, orPort: p, role: s.role ?? .nonExit,
                                         state: s.state ?? .running, family: s.family, bandwidthRate: s.bandwidthRate,
                                         bandwidthBurst: s.bandwidthBurst, line: node.mark?.line ?? 0))
            }
        }

        /// Whole-fleet rules: unique nicknames, one relay per host address and port, at most 8
        /// relays per IPv4 address.
        func check(_ spec: FleetSpec) throws {
            func at(_ r: Relay) -> String { "\(file):\(r.line)" }
            var seen: [String: Relay] = [:]
            var ports: [String: Relay] = [:]
            var perAddress: [String: Int] = [:]
            for r in spec.relays {
                if let other = seen[r.nickname.lowercased()] {
                    throw FleetError(.invalid, "\(at(r)): nickname \(r.nickname) is also used at line \(other.line); nothing was changed")
                }
                seen[r.nickname.lowercased()] = r
                let key = "\(r.host) \(r.orAddress):\(r.orPort)"
                if let other = ports[key] {
                    throw FleetError(.invalid, "\(at(r)): \(r.nickname) and \(other.nickname) (line \(other.line)) both want \(r.orAddress):\(r.orPort) on host \(r.host); nothing was changed")
                }
                ports[key] = r
                if !r.orAddress.contains(":") {
                    perAddress[r.orAddress, default: 0] += 1
                    if perAddress[r.orAddress]! > FleetSpec.relaysPerAddress {
                        throw FleetError(.invalid, "\(at(r)): more than \(FleetSpec.relaysPerAddress) relays on \(r.orAddress); Tor lists at most \(FleetSpec.relaysPerAddress) per IPv4 address; nothing was changed")
                    }
                }
            }
        }
    }
}

/// What `apply` keeps of a relay besides its host and state.
public struct RelaySettings: Sendable, Equatable {
    public var orAddress: String
    public var orPort: Int
    public var role: RelayRole
    public var family: String?
    public var bandwidthRate: String?
    public var bandwidthBurst: String?
}
