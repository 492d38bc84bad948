import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// fleetctl's inventory: SQLite (WAL) with the schema from `migrations/fleet/*.sql`. The file is
/// 0600; a database written by a newer fleetctl is refused before anything is written.
public final class FleetDatabase: Sendable {
    public let path: String
    let queue: DatabaseQueue

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        for (id, sql) in EmbeddedMigrations.fleet {
            m.registerMigration(id) { db in try db.execute(sql: sql) }
        }
        return m
    }

    public static var knownMigrations: [String] { EmbeddedMigrations.fleet.map(\.0) }

    /// `$XDG_DATA_HOME/relayfleet/fleet.sqlite3`, or `~/.local/share/relayfleet/fleet.sqlite3`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base: String
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            base = xdg
        } else {
            base = ((environment["HOME"] ?? NSHomeDirectory()) as NSString).appendingPathComponent(".local/share")
        }
        return (base as NSString).appendingPathComponent("relayfleet/fleet.sqlite3")
    }

    /// Opens the database at `path`, creating it (0600, in a 0700 directory) when missing.
    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists {
            if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) { try PrivateFiles.ensureDirectory(dir) }
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw FleetError(.io, "cannot create the fleet database \(path): \(String(cString: strerror(errno)))") }
            close(fd)
        } else {
            try PrivateFiles.checkPrivate(path)
        }
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        do {
            if exists {
                var ro = config
                ro.readonly = true
                let check = try DatabaseQueue(path: path, configuration: ro)
                try Self.preflight(check, path: path)
                try check.close()
            }
            queue = try DatabaseQueue(path: path, configuration: config)
            try queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
            try Self.migrator.migrate(queue)
        } catch let e as FleetError {
            throw e
        } catch let e as DatabaseError where e.resultCode == .SQLITE_NOTADB || e.resultCode == .SQLITE_CORRUPT {
            throw FleetError(.database, "\(path) is not a readable fleet database (SQLite: \(e.message ?? "\(e.resultCode)")); check --fleet-db or restore it from a backup")
        } catch {
            throw FleetError(.database, "cannot open the fleet database \(path): \(error)")
        }
        // WAL side files inherit the umask; keep them private like the database.
        for suffix in ["-wal", "-shm"] { chmod(path + suffix, 0o600) }
    }

    private static func preflight(_ db: DatabaseQueue, path: String) throws {
        let migrator = Self.migrator
        try db.read { db in
            let r = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "no result"
            guard r == "ok" else { throw FleetError(.database, "\(path) failed SQLite's integrity check (\(r)); restore it from a backup") }
            if try migrator.hasBeenSuperseded(db) {
                throw FleetError(.newerSchema, "\(path) was written by a newer fleetctl (schema \(try migrator.appliedIdentifiers(db).sorted().last ?? "?")); use a newer fleetctl — the database was left untouched")
            }
        }
    }

    public func appliedMigrations() throws -> [String] {
        try queue.read { try Self.migrator.appliedIdentifiers($0) }.sorted()
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try queue.read(body) } catch { throw describe(error, what) }
    }

    func write<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try queue.write(body) } catch { throw describe(error, what) }
    }

    private func describe(_ error: any Error, _ what: String) -> any Error {
        if error is FleetError { return error }
        if let e = error as? DatabaseError {
            if e.resultCode == .SQLITE_CONSTRAINT {
                return FleetError(.invalid, "cannot \(what): the fleet database refused it (\(e.message ?? "constraint failed")); nothing was changed")
            }
            return FleetError(.database, "cannot \(what) in \(path): SQLite: \(e.message ?? "\(e.resultCode)")")
        }
        return FleetError(.database, "cannot \(what) in \(path): \(error)")
    }

    // MARK: hosts

    /// Adds a host; a name already in use is a conflict.
    @discardableResult
    public func addHost(_ host: HostRecord) throws -> HostRecord {
        try write("add host \(host.name)") { db in
            if try HostRecord.filter(Column("name") == host.name).fetchOne(db) != nil {
                throw FleetError(.conflict, "a host named \(host.name) already exists; pick another name or remove it first")
            }
            var h = host
            try h.insert(db)
            var e = FleetEvent(kind: .hostAdded, hostId: h.id, detail: "\(h.transport.rawValue) \(h.sshTarget ?? h.address)")
            try e.insert(db)
            return h
        }
    }

    public func hosts() throws -> [HostRecord] {
        try read("list hosts") { try HostRecord.order(Column("name")).fetchAll($0) }
    }

    public func host(named name: String) throws -> HostRecord {
        guard let h = try read("look up host \(name)", { try HostRecord.filter(Column("name") == name).fetchOne($0) }) else {
            throw FleetError(.notFound, "no host named \(name) in the fleet; see 'fleetctl host list'")
        }
        return h
    }

    /// Removes a host that has no relays.
    public func removeHost(named name: String) throws {
        try write("remove host \(name)") { db in
            guard let h = try HostRecord.filter(Column("name") == name).fetchOne(db) else {
                throw FleetError(.notFound, "no host named \(name) in the fleet; see 'fleetctl host list'")
            }
            let relays = try RelayRecord.filter(Column("host_id") == h.id).fetchAll(db)
            guard relays.isEmpty else {
                throw FleetError(.conflict, "host \(name) still has relays (\(relays.map(\.nickname).joined(separator: ", "))); retire or move them first — nothing was removed")
            }
            try h.delete(db)
            var e = FleetEvent(kind: .hostRemoved, detail: name)
            try e.insert(db)
        }
    }

    // MARK: relays

    public func relays() throws -> [RelayView] {
        try read("list relays") { db in
            let hosts = Dictionary(uniqueKeysWithValues: try HostRecord.fetchAll(db).map { ($0.id!, $0) })
            let ids = Dictionary(uniqueKeysWithValues: try IdentityRecord.fetchAll(db).map { ($0.relayId, $0) })
            return try RelayRecord.order(Column("nickname")).fetchAll(db).map { r in
                let i = ids[r.id!]
                return RelayView(relay: r, host: hosts[r.hostId]!, identity: i, liveHostName: i?.liveHostId.flatMap { hosts[$0]?.name })
            }
        }
    }

    public func relay(named nickname: String) throws -> RelayView {
        guard let v = try relays().first(where: { $0.relay.nickname == nickname }) else {
            throw FleetError(.notFound, "no relay named \(nickname) in the fleet; see 'fleetctl relay list'")
        }
        return v
    }

    /// Checks that `relay` can be added: the nickname is free and no relay on the same host
    /// uses its ORPort. Throws the conflict in one sentence.
    public func checkNewRelay(_ relay: RelayRecord) throws {
        try read("check relay \(relay.nickname)") { db in
            if try RelayRecord.filter(Column("nickname") == relay.nickname).fetchOne(db) != nil {
                throw FleetError(.conflict, "a relay named \(relay.nickname) already exists; nicknames are unique in the fleet")
            }
            let sameHost = try RelayRecord.filter(Column("host_id") == relay.hostId && Column("or_port") == relay.orPort).fetchAll(db)
            if let other = sameHost.first(where: { $0.orAddress == relay.orAddress || $0.orAddress == "0.0.0.0" || relay.orAddress == "0.0.0.0" }) {
                throw FleetError(.conflict, "ORPort \(relay.orAddress):\(relay.orPort) is already used by relay \(other.nickname) on the same host; choose another port")
            }
            let onAddress = try RelayRecord.filter(Column("host_id") == relay.hostId && Column("or_address") == relay.orAddress).fetchCount(db)
            if onAddress >= 8 {
                throw FleetError(.conflict, "\(relay.orAddress) already has 8 relays, the most the Tor network accepts per IPv4 address")
            }
        }
    }

    /// Records a provisioned relay and its identity in one transaction.
    @discardableResult
    public func insertRelay(_ relay: RelayRecord, identity: (rsaFingerprint: String, ed25519Id: String, signingExpires: Int64?),
                            events: [FleetEvent]) throws -> RelayView {
        try write("record relay \(relay.nickname)") { db in
            var r = relay
            try r.insert(db)
            var i = IdentityRecord(relayId: r.id!, rsaFingerprint: identity.rsaFingerprint, ed25519Id: identity.ed25519Id,
                                   liveHostId: r.hostId, masterInVault: true, signingExpires: identity.signingExpires)
            try i.insert(db)
            for var e in events {
                e.relayId = r.id
                e.hostId = e.hostId ?? r.hostId
                try e.insert(db)
            }
        }
        return try self.relay(named: relay.nickname)
    }

    public func updateSigningExpiry(relayId: Int64, expires: Int64, event: FleetEvent?) throws {
        try write("record the signing certificate's expiry") { db in
            try db.execute(sql: "UPDATE identity SET signing_expires = ? WHERE relay_id = ?", arguments: [expires, relayId])
            if var e = event { try e.insert(db) }
        }
    }

    public func record(_ event: FleetEvent) throws {
        try write("record an event") { db in var e = event; try e.insert(db) }
    }

    public func events(limit: Int = 100) throws -> [FleetEvent] {
        try read("list events") { try FleetEvent.order(Column("id").desc).limit(limit).fetchAll($0) }
    }
}
