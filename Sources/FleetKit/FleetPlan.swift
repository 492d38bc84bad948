import Foundation
import GRDB

/// `fleetctl plan` and `apply`: the steps that turn the inventory (and what runs on the hosts)
/// into what the fleet file asks for. Making a plan changes nothing; it reads the inventory
/// and asks each host whether its relays run. Applying runs the steps, hosts in parallel and
/// each host's steps in order; one host's failure doesn't stop the others and is reported.
public struct FleetPlan: Sendable {
    public enum Action: Sendable, Equatable {
        case addHost(FleetSpec.Host)
        case updateHost(FleetSpec.Host, changes: [String])
        case removeHost(String)
        case createRelay(FleetSpec.Relay)
        case reconfigureRelay(FleetSpec.Relay, changes: [String])
        case startRelay(FleetSpec.Relay, reason: String)
        case stopRelay(FleetSpec.Relay)
        /// After relays joined or left a family: every member gets the family's keys and a
        /// `MyFamily` naming the others (runs after every host's steps).
        case syncFamily(String)

        /// The host the step runs on (nil: the inventory only).
        public var hostName: String? {
            switch self {
            case .addHost, .updateHost, .removeHost, .syncFamily: nil
            case .createRelay(let r), .reconfigureRelay(let r, _), .startRelay(let r, _), .stopRelay(let r): r.host
            }
        }

        public var summary: String {
            switch self {
            case .addHost(let h): "+ host \(h.name): \(h.transport == .ssh ? "ssh \(h.sshTarget ?? h.address)" : "local"), address \(h.address), data root \(h.dataRoot)"
            case .updateHost(let h, let c): "~ host \(h.name): " + c.joined(separator: ", ")
            case .removeHost(let n): "- host \(n)"
            case .createRelay(let r): "+ relay \(r.nickname) on \(r.host) at \(r.orAddress):\(r.orPort), \(r.role.rawValue)"
                + (r.family.map { ", family \($0)" } ?? "") + (r.bandwidthRate.map { ", rate \($0)" } ?? "")
                + (r.state == .stopped ? ", then stopped" : "")
            case .reconfigureRelay(let r, let c): "~ relay \(r.nickname) on \(r.host): " + c.joined(separator: ", ")
            case .startRelay(let r, let why): "> start relay \(r.nickname) on \(r.host) (\(why))"
            case .stopRelay(let r): "= stop relay \(r.nickname) on \(r.host)"
            case .syncFamily(let f): "* family \(f): family keys and MyFamily on every member"
            }
        }

        var needsVault: Bool {
            switch self {
            case .createRelay, .syncFamily: true
            default: false
            }
        }
    }

    public var actions: [Action]
    /// What the plan leaves alone and why (relays or hosts not in the file, hosts it couldn't ask).
    public var notes: [String]

    public var isEmpty: Bool { actions.isEmpty }
    public var needsVault: Bool { actions.contains { $0.needsVault } }

    /// Compares the fleet file with the inventory and, unless `probe` is false, with what runs
    /// on the hosts (`relaynode health` through each transport). Throws, before anything is
    /// touched, when the file asks for something apply cannot do.
    public static func make(spec: FleetSpec, database: FleetDatabase, prune: Bool = false, probe: Bool = true) throws -> FleetPlan {
        var actions: [Action] = []
        var notes: [String] = []
        let hosts = try database.hosts()
        let relays = try database.relays()
        let byName = Dictionary(uniqueKeysWithValues: hosts.map { ($0.name, $0) })

        for h in spec.hosts {
            guard let old = byName[h.name] else { actions.append(.addHost(h)); continue }
            var changes: [String] = []
            var structural: [String] = []
            func diff<T: Equatable>(_ label: String, _ a: T, _ b: T, structuralChange: Bool, _ show: (T) -> String) {
                guard a != b else { return }
                changes.append("\(label) \(show(a)) → \(show(b))")
                if structuralChange { structural.append(label) }
            }
            diff("transport", old.transport, h.transport, structuralChange: true) { $0.rawValue }
            diff("address", old.address, h.address, structuralChange: true) { $0 }
            diff("data_root", old.dataRoot, h.dataRoot, structuralChange: true) { $0 }
            diff("container_engine", old.containerEngine, h.containerEngine, structuralChange: true) { $0.rawValue }
            diff("ssh", old.sshTarget, h.sshTarget, structuralChange: false) { $0 ?? "-" }
            diff("ssh_config", old.sshConfig, h.sshConfig, structuralChange: false) { $0 ?? "-" }
            diff("relaynode", old.relaynodePath, h.relaynodePath, structuralChange: false) { $0 }
            diff("image", old.containerImage, h.containerImage, structuralChange: false) { $0 ?? "-" }
            if !structural.isEmpty, relays.contains(where: { $0.host.name == h.name && $0.relay.desiredState != .retired }) {
                throw FleetError(.conflict, "fleet file line \(h.line): host \(h.name) has relays, so its \(structural.joined(separator: " and ")) cannot change; move or retire its relays first — nothing was changed")
            }
            if !changes.isEmpty { actions.append(.updateHost(h, changes: changes)) }
        }
        let specHosts = Set(spec.hosts.map(\.name))
        let specRelays = Dictionary(uniqueKeysWithValues: spec.relays.map { ($0.nickname, $0) })

        // What runs where: asked of every host that has relays in both the file and the inventory.
        var running: [String: Bool] = [:]
        if probe {
            let known = relays.filter { specRelays[$0.relay.nickname] != nil && $0.relay.desiredState != .retired }
            let answers = perHost(known) { v -> (String, Bool?, String?) in
                let layout = RelayLayout(host: v.host, nickname: v.relay.nickname)
                do {
                    let r = try v.host.makeTransport().run(v.host.relaynode() + ["health", "--json", "--events", "0",
                                                            "--data-directory", layout.dataDirectory], timeout: 60)
                    guard let o = try? JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any], let up = o["running"] as? Bool else {
                        return (v.relay.nickname, nil, "relaynode health failed (exit \(r.status)): \(r.lastErrorLine)")
                    }
                    return (v.relay.nickname, up, nil)
                } catch {
                    return (v.relay.nickname, nil, "\(error)")
                }
            }
            for (nick, up, problem) in answers {
                if let up { running[nick] = up } else { notes.append("\(nick): could not ask its host whether it runs (\(problem ?? "?")); apply will not start or stop it") }
            }
        }

        var touchedFamilies = Set<String>()
        for r in spec.relays {
            guard let v = relays.first(where: { $0.relay.nickname == r.nickname }) else {
                actions.append(.createRelay(r))
                if let f = r.family { touchedFamilies.insert(f) }
                continue
            }
            if v.relay.desiredState == .retired {
                throw FleetError(.conflict, "fleet file line \(r.line): relay \(r.nickname) was retired; a retired nickname is not reused — pick another; nothing was changed")
            }
            if v.host.name != r.host {
                throw FleetError(.invalid, "fleet file line \(r.line): relay \(r.nickname) lives on \(v.host.name), the file puts it on \(r.host); moving an identity is 'fleetctl migrate \(r.nickname) --to \(r.host)' (with fencing), then edit the file — nothing was changed")
            }
            let old = v.relay.settings, new = r.settings
            var changes: [String] = []
            if old.orAddress != new.orAddress || old.orPort != new.orPort { changes.append("orport \(old.orAddress):\(old.orPort) → \(new.orAddress):\(new.orPort)") }
            if old.role != new.role { changes.append("role \(old.role.rawValue) → \(new.role.rawValue)") }
            if old.family != new.family { changes.append("family \(old.family ?? "-") → \(new.family ?? "-")") }
            if old.bandwidthRate != new.bandwidthRate { changes.append("bandwidth_rate \(old.bandwidthRate ?? "-") → \(new.bandwidthRate ?? "-")") }
            if old.bandwidthBurst != new.bandwidthBurst { changes.append("bandwidth_burst \(old.bandwidthBurst ?? "-") → \(new.bandwidthBurst ?? "-")") }
            if !changes.isEmpty { actions.append(.reconfigureRelay(r, changes: changes)) }
            if old.family != new.family { touchedFamilies.formUnion([old.family, new.family].compactMap { $0 }) }
            let up = running[r.nickname]
            switch r.state {
            case .running where v.relay.desiredState == .stopped:
                actions.append(.startRelay(r, reason: "the file wants it running"))
            case .running where up == false && changes.isEmpty:
                // Reconfiguring restarts it anyway.
                actions.append(.startRelay(r, reason: "not running on its host"))
            case .stopped where v.relay.desiredState != .stopped || up == true:
                actions.append(.stopRelay(r))
            default:
                break
            }
        }
        for v in relays where v.relay.desiredState != .retired && specRelays[v.relay.nickname] == nil {
            notes.append("relay \(v.relay.nickname) on \(v.host.name) is not in the file: left alone (retire it with 'fleetctl relay retire')")
        }
        for h in hosts where !specHosts.contains(h.name) {
            let left = relays.filter { $0.host.name == h.name && $0.relay.desiredState != .retired }
            if prune && left.isEmpty {
                actions.append(.removeHost(h.name))
            } else {
                notes.append("host \(h.name) is not in the file: left alone" + (left.isEmpty ? " (--prune removes it)" : " (it has relays)"))
            }
        }
        actions += touchedFamilies.sorted().map { .syncFamily($0) }
        return FleetPlan(actions: actions, notes: notes)
    }

    /// One step's outcome.
    public struct Outcome: Sendable {
        public var action: Action
        public var ok: Bool
        public var detail: String
    }

    /// Runs the plan. Inventory-only steps (hosts) first, in order; then each host's relay steps
    /// in order, hosts in parallel (relay creations one at a time: they share the vault).
    /// `progress` is called as steps start and end, from any thread.
    public func apply(provisioner: Provisioner, vault: Vault?, progress: @escaping @Sendable (String) -> Void = { _ in }) throws -> [Outcome] {
        if needsVault && vault == nil { throw FleetError(.vaultLocked, "the plan creates relays, which needs the vault: give the passphrase") }
        let db = provisioner.database
        var outcomes: [Outcome] = []
        for a in actions where a.hostName == nil {
            if case .syncFamily = a { continue }
            do {
                switch a {
                case .addHost(let h): try db.addHost(h.record)
                case .updateHost(let h, let changes): try db.updateHost(h.record, detail: changes.joined(separator: ", "))
                case .removeHost(let name): try db.removeHost(named: name)
                default: break
                }
                progress("ok    \(a.summary)")
                outcomes.append(Outcome(action: a, ok: true, detail: ""))
            } catch {
                progress("FAIL  \(a.summary): \(error)")
                outcomes.append(Outcome(action: a, ok: false, detail: "\(error)"))
            }
        }
        let hostSteps = Dictionary(grouping: actions.filter { $0.hostName != nil }, by: { $0.hostName! })
        let groups = hostSteps.keys.sorted().map { hostSteps[$0]! }
        let results = Slots<[Outcome]>(count: groups.count)
        // The vault is one object saved to one file: only creations touch it, one at a time.
        let shared = LockedVault(vault)
        forEachConcurrently(groups.count) { g in
            var mine: [Outcome] = []
            var hostFailed: String?
            for a in groups[g] {
                if let why = hostFailed {
                    mine.append(Outcome(action: a, ok: false, detail: "skipped: an earlier step on this host failed (\(why))"))
                    progress("SKIP  \(a.summary)")
                    continue
                }
                progress("...   \(a.summary)")
                do {
                    let detail = try Self.run(a, provisioner: provisioner, vault: shared)
                    mine.append(Outcome(action: a, ok: true, detail: detail))
                    progress("ok    \(a.summary)" + (detail.isEmpty ? "" : ": \(detail)"))
                } catch {
                    mine.append(Outcome(action: a, ok: false, detail: "\(error)"))
                    progress("FAIL  \(a.summary): \(error)")
                    hostFailed = "\(error)"
                }
            }
            results.set(g, mine)
        }
        outcomes += results.values().flatMap { $0 }
        for a in actions {
            guard case .syncFamily(let family) = a else { continue }
            progress("...   \(a.summary)")
            let synced = provisioner.syncFamily(family: family, vault: vault)
            let failures = synced.compactMap { n, r -> String? in
                if case .failure(let e) = r { return "\(n): \(e.context)" } else { return nil }
            }
            let detail: String = synced.map { n, r -> String in
                switch r {
                case .success(let s): return "\(n) \(s.summary)"
                case .failure(let e): return "\(n) FAILED: \(e.context)"
                }
            }.joined(separator: "; ")
            progress((failures.isEmpty ? "ok    " : "FAIL  ") + "\(a.summary): \(detail)")
            outcomes.append(Outcome(action: a, ok: failures.isEmpty, detail: detail))
        }
        let failed = outcomes.filter { !$0.ok }.count
        try? db.record(FleetEvent(kind: .applied, detail: "\(outcomes.count - failed) steps done, \(failed) failed"))
        return outcomes
    }

    static func run(_ a: Action, provisioner p: Provisioner, vault: LockedVault) throws -> String {
        let db = p.database
        switch a {
        case .createRelay(let r):
            let v = try vault.with { vault in
                try p.create(.init(nickname: r.nickname, hostName: r.host, orAddress: r.orAddress, orPort: r.orPort, role: r.role,
                                   family: r.family, bandwidthRate: r.bandwidthRate, bandwidthBurst: r.bandwidthBurst), vault: vault)
            }
            if r.state == .stopped {
                try p.stop(layout: RelayLayout(host: v.host, nickname: r.nickname), transport: v.host.makeTransport())
                try db.setDesiredState(nickname: r.nickname, .stopped, event: .relayStopped)
            }
            return "identity \(v.identity?.rsaFingerprint ?? "?")"
        case .reconfigureRelay(let r, let changes):
            return try p.reconfigure(nickname: r.nickname, to: r.settings, start: r.state == .running, detail: changes.joined(separator: ", "))
        case .startRelay(let r, _):
            let v = try db.relay(named: r.nickname)
            let layout = RelayLayout(host: v.host, nickname: r.nickname)
            let t = v.host.makeTransport()
            _ = try p.stop(layout: layout, transport: t)   // a stale pid file or a half-dead process
            try p.start(layout: layout, host: v.host, transport: t)
            try p.verify(address: v.relay.orAddress, port: v.relay.orPort, rsaFingerprint: v.identity!.rsaFingerprint,
                         ed25519: v.identity!.ed25519Id, within: p.startTimeout,
                         log: { try? t.run(["tail", "-n", "5", layout.logFile], timeout: 10).stdoutText })
            try db.setDesiredState(nickname: r.nickname, .running, event: .relayStarted)
            return "link handshake proved \(v.identity!.rsaFingerprint)"
        case .stopRelay(let r):
            let v = try db.relay(named: r.nickname)
            let was = try p.stop(layout: RelayLayout(host: v.host, nickname: r.nickname), transport: v.host.makeTransport())
            try db.setDesiredState(nickname: r.nickname, .stopped, event: .relayStopped)
            return was ? "stopped" : "was not running"
        case .addHost, .updateHost, .removeHost, .syncFamily:
            return ""
        }
    }
}

extension FleetSpec.Host {
    var record: HostRecord {
        HostRecord(name: name, transport: transport, sshTarget: sshTarget, sshConfig: sshConfig, address: address,
                   containerEngine: containerEngine, dataRoot: dataRoot, relaynodePath: relaynodePath, containerImage: containerImage)
    }
}

/// The vault behind a lock, for steps that run on several threads.
final class LockedVault: @unchecked Sendable {
    private let vault: Vault?
    private let lock = NSLock()
    init(_ vault: Vault?) { self.vault = vault }
    func with<T>(_ body: (Vault) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard let vault else { throw FleetError(.vaultLocked, "creating a relay needs the vault: give the passphrase") }
        return try body(vault)
    }
}

private final class Slots<T: Sendable>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T) { lock.lock(); slots[i] = value; lock.unlock() }
    func values() -> [T] { lock.lock(); defer { lock.unlock() }; return slots.compactMap { $0 } }
}

extension Provisioner {
    /// Gives a relay new settings: the torrc is rewritten and checked by relaynode on the host
    /// first, then the relay restarts on it and must prove its identity on the (new) ORPort.
    /// When that fails, the old torrc goes back, the relay is restarted as it was, and the
    /// inventory is left unchanged.
    func reconfigure(nickname: String, to s: RelaySettings, start: Bool, detail: String) throws -> String {
        let v = try database.relay(named: nickname)
        var updated = v.relay
        updated.orAddress = s.orAddress; updated.orPort = s.orPort; updated.role = s.role; updated.family = s.family
        updated.bandwidthRate = s.bandwidthRate; updated.bandwidthBurst = s.bandwidthBurst
        if s.orAddress != v.relay.orAddress || s.orPort != v.relay.orPort { try database.checkPort(updated) }
        let layout = RelayLayout(host: v.host, nickname: nickname)
        let t = v.host.makeTransport()
        let fresh = layout.torrc + ".new"
        // Only the family keys the relay already holds: it could not start with a FamilyId
        // whose key it lacks. The plan's family step installs the others and rewrites the torrc.
        var family = try database.familySettings(for: updated)
        let held = Set(try familyKeysHeld(layout: layout, host: v.host, transport: t).values)
        family.familyIds = family.familyIds.filter(held.contains)
        try t.writeFile(Array(relayTorrc(updated, layout: layout, hostAddress: s.orAddress, family: family).utf8), to: fresh)
        try t.check(v.host.relaynode() + ["verify-config", "--config", fresh], timeout: 60, "checking the new torrc of \(nickname)")
        _ = try stop(layout: layout, transport: t)
        try t.check(["sh", "-c", #"cp -p -- "$1" "$1.old" && mv -f -- "$1.new" "$1""#, "sh", layout.torrc], timeout: 30, "installing the new torrc")
        guard start else {
            try database.updateRelay(updated, event: FleetEvent(kind: .relayReconfigured, detail: detail))
            return "torrc rewritten; the relay stays stopped"
        }
        do {
            try self.start(layout: layout, host: v.host, transport: t)
            try verify(address: s.orAddress, port: s.orPort, rsaFingerprint: v.identity!.rsaFingerprint, ed25519: v.identity!.ed25519Id,
                       within: startTimeout, log: { try? t.run(["tail", "-n", "5", layout.logFile], timeout: 10).stdoutText })
        } catch {
            _ = try? stop(layout: layout, transport: t)
            _ = try? t.run(["mv", "-f", "--", layout.torrc + ".old", layout.torrc], timeout: 30)
            _ = try? self.start(layout: layout, host: v.host, transport: t)
            throw FleetError(.verification, "\(nickname) did not come up with the new settings (\(error)); the old torrc is back and the relay restarted with it")
        }
        try database.updateRelay(updated, event: FleetEvent(kind: .relayReconfigured, detail: detail))
        try database.setDesiredState(nickname: nickname, .running, event: nil)
        return "restarted, link handshake proved \(v.identity!.rsaFingerprint) on \(s.orAddress):\(s.orPort)"
    }
}

extension FleetDatabase {
    /// Updates a host's row (transport settings, relaynode path).
    public func updateHost(_ host: HostRecord, detail: String) throws {
        try write("update host \(host.name)") { db in
            guard var h = try HostRecord.filter(Column("name") == host.name).fetchOne(db) else {
                throw FleetError(.notFound, "no host named \(host.name) in the fleet")
            }
            h.transport = host.transport; h.sshTarget = host.sshTarget; h.sshConfig = host.sshConfig; h.address = host.address
            h.containerEngine = host.containerEngine; h.dataRoot = host.dataRoot; h.relaynodePath = host.relaynodePath
            h.containerImage = host.containerImage
            try h.update(db)
            var e = FleetEvent(kind: .hostUpdated, hostId: h.id, detail: detail)
            try e.insert(db)
        }
    }

    /// Saves a relay's settings.
    public func updateRelay(_ relay: RelayRecord, event: FleetEvent?) throws {
        try write("update relay \(relay.nickname)") { db in
            var r = relay
            try r.update(db)
            if var e = event { e.relayId = r.id; e.hostId = r.hostId; try e.insert(db) }
        }
    }

    public func setDesiredState(nickname: String, _ state: DesiredState, event: FleetEventKind?) throws {
        try write("record the state of \(nickname)") { db in
            guard var r = try RelayRecord.filter(Column("nickname") == nickname).fetchOne(db) else {
                throw FleetError(.notFound, "no relay named \(nickname) in the fleet")
            }
            r.desiredState = state
            try r.update(db)
            if let kind = event { var e = FleetEvent(kind: kind, hostId: r.hostId, relayId: r.id, detail: state.rawValue); try e.insert(db) }
        }
    }

    /// Checks that a relay's new ORPort is free on its host (other relays only).
    func checkPort(_ relay: RelayRecord) throws {
        try read("check the ORPort of \(relay.nickname)") { db in
            let sameHost = try RelayRecord.filter(Column("host_id") == relay.hostId && Column("or_port") == relay.orPort && Column("id") != relay.id).fetchAll(db)
            if let other = sameHost.first(where: { $0.orAddress == relay.orAddress || $0.orAddress == "0.0.0.0" || relay.orAddress == "0.0.0.0" }) {
                throw FleetError(.conflict, "ORPort \(relay.orAddress):\(relay.orPort) is already used by relay \(other.nickname) on the same host; choose another port")
            }
        }
    }
}
