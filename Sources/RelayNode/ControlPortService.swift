import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RelayCore
import RelayStore
import ServiceLifecycle
import TorCrypto
import TorProtocol
#if canImport(Glibc)
import Glibc
#endif

/// `ControlPort`/`ControlSocket`: the subset of C tor's control protocol that monitors use
/// (stem, nyx, exporters). Writes the authentication cookie at start, publishes `650 BW` every
/// second, and answers GETINFO/GETCONF from the relay's live state, refreshed once a second
/// (so no control command waits on the database or an event loop of the relay).
struct ControlPortService: Service {
    /// The configuration at start (the listeners and authentication come from it).
    let config: RelayConfig
    /// What GETCONF reports: the configuration in force, SIGHUP included.
    let live: LiveConfig
    let configFile: String?
    let dataDirectory: String
    let keys: LiveKeys
    let env: LinkEnvironment
    let directory: DirectoryCache
    let database: NodeDatabase
    let orListeners: [String]
    let group: any EventLoopGroup
    let heartbeat: Heartbeat
    let accounting: AccountingStatus
    let logger: Logger

    /// GETINFO version: the C tor control-protocol level followed by relaynode's own version
    /// (stem and nyx parse C tor's version format).
    static let controlVersion = "0.4.9 (relaynode-\(RelayNodeCommand.version))"

    func run() async throws {
        let control = config.control
        var cookie: [UInt8]?
        var cookieFile: String?
        if control.cookieAuthentication {
            var rng = SystemRandom()
            let c = rng.bytes(ControlAuth.cookieLength)
            let path = control.cookieAuthFile ?? (dataDirectory as NSString).appendingPathComponent("control_auth_cookie")
            try SecureFiles.write(c, to: path, replace: true)
            cookie = c
            cookieFile = path
        }
        let state = ControlState(started: Date())
        let backend = RelayControlBackend(service: self, state: state)
        let auth = ControlAuthConfig(cookie: cookie, cookieFile: cookieFile, passwords: control.hashedPasswords, version: Self.controlVersion)
        let server: ControlServer
        do {
            server = try await ControlServer.bind(control.listeners, group: group, auth: auth, backend: backend, logger: logger)
        } catch {
            logger.error("cannot open the ControlPort", metadata: ["error": "\(error)"])
            throw error
        }
        state.controlListeners.withLockedValue { $0 = server.addresses }
        for a in server.addresses { logger.notice("ControlPort listening", metadata: ["address": "\(a)"]) }

        var last = await env.traffic.snapshot()
        await state.refresh(self, traffic: last)
        while await sleepUntilNextBoundary(of: 1, clock: { Date().timeIntervalSince1970 }) {
            let now = await env.traffic.snapshot()
            let read = now.read &- last.read, written = now.written &- last.written
            last = now
            state.noteSecond(read: read, written: written)
            server.publish("BW", "BW \(read) \(written)")
            await state.refresh(self, traffic: now)
        }
        await server.close()
        if let cookieFile { try? FileManager.default.removeItem(atPath: cookieFile) }
    }
}

/// What the control connections read: refreshed every second by the service.
final class ControlState: Sendable {
    struct Snapshot: Sendable {
        var read: UInt64 = 0
        var written: UInt64 = 0
        var reachable: Bool?
        var ownDescriptor: String?
        var ownStatus: String?
    }

    let started: Date
    private let box = NIOLockedValueBox(Snapshot())
    /// The last 300 seconds of (read, written), oldest first.
    private let seconds = NIOLockedValueBox<[(UInt64, UInt64)]>([])
    let controlListeners = NIOLockedValueBox<[String]>([])

    init(started: Date) { self.started = started }

    var snapshot: Snapshot { box.withLockedValue { $0 } }

    func noteSecond(read: UInt64, written: UInt64) {
        seconds.withLockedValue { s in
            s.append((read, written))
            if s.count > 300 { s.removeFirst(s.count - 300) }
        }
    }

    var bandwidthCache: String { seconds.withLockedValue { $0.map { "\($0.0),\($0.1)" }.joined(separator: " ") } }

    func refresh(_ service: ControlPortService, traffic: TrafficTotals) async {
        var s = Snapshot(read: traffic.read, written: traffic.written)
        if let e = try? service.database.healthEvents(kinds: [.reachability], limit: 1).first { s.reachable = e.ok }
        if let d = try? service.database.latestPublishedDescriptor() { s.ownDescriptor = d.descriptor }
        s.ownStatus = ownStatusEntry(service.directory, service.keys.current.rsaFingerprint.bytes)
        box.withLockedValue { $0 = s }
    }

    /// Our entry in the ns consensus (from "r " to the next entry).
    func ownStatusEntry(_ directory: DirectoryCache, _ identity: [UInt8]) -> String? {
        guard let c = directory.snapshot.consensus[.ns] else { return nil }
        let b64 = Data(identity).base64EncodedString().replacingOccurrences(of: "=", with: "")
        var out: [Substring] = []
        for line in String(decoding: c.text, as: UTF8.self).split(separator: "\n") {
            if !out.isEmpty {
                if line.hasPrefix("r ") || line.hasPrefix("directory-footer") { break }
                out.append(line)
            } else if line.hasPrefix("r "), line.split(separator: " ").dropFirst(2).first == Substring(b64) {
                out.append(line)
            }
        }
        return out.isEmpty ? nil : out.joined(separator: "\n")
    }
}

/// GETINFO, GETCONF and SIGNAL for the control connections.
struct RelayControlBackend: ControlBackend {
    let service: ControlPortService
    let state: ControlState

    var config: RelayConfig { service.live.current }

    func info(_ key: String) -> String? {
        let s = state.snapshot
        let fp = service.keys.current.rsaFingerprint
        switch key {
        case "version": return ControlPortService.controlVersion
        case "fingerprint": return fp.hex
        case "address": return config.address ?? config.orPorts.first.map(\.host)
        case "config-file": return service.configFile.map { ($0 as NSString).standardizingPath }.map(absolute) ?? ""
        case "traffic/read": return "\(s.read)"
        case "traffic/written": return "\(s.written)"
        case "uptime": return "\(Int(Date().timeIntervalSince(state.started)))"
        case "process/pid": return "\(getpid())"
        case "process/uid": return "\(getuid())"
        case "process/user": return getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? ""
        case "process/descriptor-limit":
            var rl = rlimit()
            return getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 ? "\(rl.rlim_cur)" : "-1"
        case "bw-event-cache": return state.bandwidthCache
        case "dormant": return "0"
        case "circuit-status": return ""  // a relay builds no origin circuits of its own (self-tests aside)
        case "orconn-status": return orconnStatus()
        case "net/listeners/or": return service.orListeners.map { "\"\($0)\"" }.joined(separator: " ")
        case "net/listeners/control": return state.controlListeners.withLockedValue { $0 }.map { "\"\($0)\"" }.joined(separator: " ")
        case "net/listeners/dir", "net/listeners/socks", "net/listeners/trans", "net/listeners/natd", "net/listeners/dns",
             "net/listeners/extor", "net/listeners/httptunnel":
            return ""
        case "net/listeners/metrics": return config.metrics.listeners.map { "\"\($0.host):\($0.port)\"" }.joined(separator: " ")
        case "accounting/enabled": return service.accounting.snapshot.enabled ? "1" : "0"
        case "accounting/hibernating": return service.accounting.snapshot.state.rawValue
        case "accounting/bytes":
            let a = service.accounting.snapshot
            return "\(a.read) \(a.written)"
        case "accounting/bytes-left":
            let a = service.accounting.snapshot
            guard a.enabled else { return "0 0" }
            func left(_ used: UInt64) -> UInt64 { a.max > used ? a.max - used : 0 }
            switch a.rule {
            case .sum: let l = left(a.read &+ a.written); return "\(l) \(l)"
            case .max, .in, .out: return "\(left(a.read)) \(left(a.written))"
            }
        case "accounting/interval-start": return service.accounting.snapshot.start.map(NetDoc.formatTime) ?? ""
        case "accounting/interval-wake": return service.accounting.snapshot.wake.map(NetDoc.formatTime) ?? ""
        case "accounting/interval-end": return service.accounting.snapshot.end.map(NetDoc.formatTime) ?? ""
        case "status/reachability-succeeded":
            let ok = s.reachable == true ? 1 : 0
            return "OR=\(ok) DIR=\(ok)"
        case "status/reachability-succeeded/or", "status/reachability-succeeded/dir": return s.reachable == true ? "1" : "0"
        case "status/bootstrap-phase": return "NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\""
        case "status/version/current": return "unknown"
        case "status/fresh-relay-descs": return s.ownDescriptor
        case "exit-policy/full": return exitPolicyText()
        case "exit-policy/default": return ""
        case "events/names": return ControlSession.knownEvents.sorted().joined(separator: " ")
        case "signal/names": return "RELOAD SHUTDOWN HALT HUP INT TERM HEARTBEAT DUMP USR1 NEWNYM CLEARDNSCACHE ACTIVE"
        case "config/names": return RelayConfig.supportedOptions.map { "\($0) String" }.joined(separator: "\n")
        case "info/names": return Self.infoNames.joined(separator: "\n")
        default:
            if key == "desc/id/\(fp.hex)" || key == "desc/id/$\(fp.hex)" || key == "desc/name/\(config.nickname)" { return s.ownDescriptor }
            if key == "ns/id/\(fp.hex)" || key == "ns/id/$\(fp.hex)" || key == "ns/name/\(config.nickname)" { return s.ownStatus }
            return nil
        }
    }

    static let infoNames = [
        "version", "fingerprint", "address", "config-file", "traffic/read", "traffic/written", "uptime", "process/pid",
        "process/uid", "process/user", "process/descriptor-limit", "bw-event-cache", "dormant", "circuit-status",
        "orconn-status", "net/listeners/*", "accounting/*", "status/reachability-succeeded[/or|/dir]",
        "status/bootstrap-phase", "status/version/current", "status/fresh-relay-descs", "exit-policy/full", "events/names",
        "signal/names", "config/names", "info/names", "desc/id/<our fingerprint>", "ns/id/<our fingerprint>",
    ]

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
    }

    func orconnStatus() -> String {
        service.env.relay.registry.authenticatedPeers().map { "$\($0.hex) CONNECTED" }.joined(separator: "\n")
    }

    func exitPolicyText() -> String {
        ((try? config.effectiveExitPolicy()) ?? .rejectAll).rules.map { "\($0)" }.joined(separator: "\n")
    }

    func conf(_ key: String) -> [String]? {
        guard let name = RelayConfig.supportedOptions.first(where: { $0.caseInsensitiveCompare(key) == .orderedSame })
                ?? Self.readOnly.keys.first(where: { $0.caseInsensitiveCompare(key) == .orderedSame }) else { return nil }
        if let fixed = Self.readOnly[name] { return fixed }
        let c = config
        switch name {
        case "DataDirectory": return [service.dataDirectory]
        case "Nickname": return [c.nickname]
        case "ContactInfo": return c.contactInfo.map { [$0] } ?? []
        case "ORPort": return c.orPorts.map { "\($0.host):\($0.port)" }
        case "Address": return c.address.map { [$0] } ?? []
        case "NumCPUs": return ["\(c.numCPUs)"]
        case "ExitRelay": return c.exitRelay.map { [$0 ? "1" : "0"] } ?? ["auto"]
        case "ExitPolicy": return c.exitPolicyLines
        case "ExitPolicyRejectPrivate": return [c.exitPolicyRejectPrivate ? "1" : "0"]
        case "DirAuthority": return c.dirAuthorities.map { "\($0.label) \($0.address):\($0.dirPort) \($0.fingerprint.hex)" }
        case "TestingTorNetwork": return [c.testingTorNetwork ? "1" : "0"]
        case "AssumeReachable": return [c.assumeReachable ? "1" : "0"]
        case "PublishServerDescriptor": return [c.publishServerDescriptor ? "1" : "0"]
        case "BandwidthRate": return ["\(c.bandwidthRate)"]
        case "BandwidthBurst": return ["\(c.bandwidthBurst)"]
        case "MyFamily": return c.myFamily.isEmpty ? [] : [c.myFamily.joined(separator: ",")]
        case "MetricsPort": return c.metrics.listeners.map { "\($0.host):\($0.port)" }
        case "MetricsPortPolicy": return c.metrics.policyLines
        case "ControlPort": return c.control.listeners.compactMap { if case let .tcp(h, p) = $0 { "\(h):\(p)" } else { nil } }
        case "ControlSocket": return c.control.listeners.compactMap { if case let .unix(p) = $0 { p } else { nil } }
        case "CookieAuthentication": return [c.control.cookieAuthentication ? "1" : "0"]
        case "CookieAuthFile": return c.control.cookieAuthFile.map { [$0] } ?? []
        case "HashedControlPassword": return c.control.hashedPasswords.map(\.text)
        case "OfflineMasterKey": return [c.offlineMasterKey ? "1" : "0"]
        case "SigningKeyLifetime": return ["\(Int(c.signingKeyLifetime / 86_400)) days"]
        case "AccountingMax": return ["\(c.operations.accounting.max)"]
        case "AccountingRule": return [c.operations.accounting.rule.rawValue]
        case "AccountingStart":
            let a = c.operations.accounting
            let hm = String(format: "%02d:%02d", a.startMinute / 60, a.startMinute % 60)
            return [a.period == .day ? "day \(hm)" : "\(a.period.rawValue) \(a.startDay) \(hm)"]
        default: return []
        }
    }

    /// Options monitors ask about that relaynode does not have, with the value that describes
    /// it (no SOCKS, no DirPort, no relay-only rate, logs on stderr).
    static let readOnly: [String: [String]] = [
        "SocksPort": ["0"], "DirPort": ["0"], "RelayBandwidthRate": ["0"], "RelayBandwidthBurst": ["0"],
        "MaxAdvertisedBandwidth": ["1073741824"], "Log": ["notice stderr"], "DisableDebuggerAttachment": ["1"],
        "HiddenServiceOptions": [], "BridgeRelay": ["0"], "ClientOnly": ["0"], "DisableNetwork": ["0"],
        "User": [], "RunAsDaemon": ["0"],
    ]

    func signal(_ signal: ControlSignal) -> Bool {
        switch signal {
        case .reload:
            // Exactly what an operator's SIGHUP does.
            kill(getpid(), SIGHUP)
        case .shutdown, .halt:
            // Both stop gracefully: relaynode's drain takes well under a second.
            kill(getpid(), SIGTERM)
        case .heartbeat:
            let h = service.heartbeat
            Task { await h.beat() }
        case .noop:
            break
        }
        return true
    }
}
