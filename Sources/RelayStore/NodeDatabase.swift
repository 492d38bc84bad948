import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The node's SQLite database, `<DataDirectory>/relay.sqlite3` (WAL), schema from
/// `migrations/node/*.sql`. Opening checks permissions, integrity and schema version before
/// anything is written.
public final class NodeDatabase: Sendable {
    public static let fileName = "relay.sqlite3"

    public let path: String
    public let dataDirectory: String
    let pool: DatabasePool

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        for (id, sql) in EmbeddedMigrations.node {
            m.registerMigration(id) { db in try db.execute(sql: sql) }
        }
        return m
    }

    /// Schema identifiers this binary knows, in order.
    public static var knownMigrations: [String] { EmbeddedMigrations.node.map(\.0) }

    /// Opens (and with `create`, creates) the database in `dataDirectory`.
    public init(dataDirectory: String, create: Bool) throws {
        self.dataDirectory = dataDirectory
        path = (dataDirectory as NSString).appendingPathComponent(Self.fileName)
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists {
            guard create else {
                throw RelayStoreError(.notFound, "no relay database at \(path): create an identity with 'relaynode keys generate' or 'relaynode keys import-ctor'")
            }
            try SecureFiles.ensurePrivateDirectory(dataDirectory)
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw RelayStoreError(.io, "cannot create \(path): \(String(cString: strerror(errno)))") }
            close(fd)
        } else {
            try SecureFiles.ensurePrivateDirectory(dataDirectory)
            try SecureFiles.checkPrivateFile(path)
        }

        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        do {
            // Integrity and schema version are checked on a read-only connection first, so a
            // database this binary refuses is never written to (opening a DatabasePool writes).
            if exists {
                var readOnly = config
                readOnly.readonly = true
                let queue = try DatabaseQueue(path: path, configuration: readOnly)
                try Self.preflight(queue, path: path)
                try queue.close()
            }
            pool = try DatabasePool(path: path, configuration: config)
            try Self.preflight(pool, path: path)
            try Self.migrator.migrate(pool)
        } catch let e as RelayStoreError {
            throw e
        } catch let e as DatabaseError where e.resultCode == .SQLITE_NOTADB || e.resultCode == .SQLITE_CORRUPT {
            throw RelayStoreError(.corrupt, "\(path) is not a readable relaynode database (SQLite: \(e.message ?? "\(e.resultCode)")); restore it from a backup or re-import the keys")
        } catch {
            throw RelayStoreError(.io, "cannot open \(path): \(error)")
        }
    }

    /// Opens an existing database read-only — safe while the daemon writes to it (WAL). Nothing
    /// is migrated: tables a newer schema adds may be missing (`reading` says so clearly).
    public init(readingDataDirectory dataDirectory: String) throws {
        self.dataDirectory = dataDirectory
        path = (dataDirectory as NSString).appendingPathComponent(Self.fileName)
        guard FileManager.default.fileExists(atPath: path) else {
            throw RelayStoreError(.notFound, "no relay database at \(path): check --data-directory (or DataDirectory in --config)")
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Self.preflight(pool, path: path)
        } catch let e as RelayStoreError {
            throw e
        } catch let e as DatabaseError where e.resultCode == .SQLITE_NOTADB || e.resultCode == .SQLITE_CORRUPT {
            throw RelayStoreError(.corrupt, "\(path) is not a readable relaynode database (SQLite: \(e.message ?? "\(e.resultCode)")); restore it from a backup")
        } catch {
            throw RelayStoreError(.io, "cannot open \(path) for reading: \(error)")
        }
    }

    /// Runs a read, turning SQLite's errors into one sentence about `what`.
    func reading<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch { throw Self.describe(error, what, path) }
    }

    /// Runs a write transaction, turning SQLite's errors into one sentence about `what`.
    func writing<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch { throw Self.describe(error, what, path) }
    }

    static func describe(_ error: any Error, _ what: String, _ path: String) -> any Error {
        if error is RelayStoreError { return error }
        guard let e = error as? DatabaseError else { return RelayStoreError(.io, "cannot \(what) in \(path): \(error)") }
        if e.resultCode == .SQLITE_ERROR, e.message?.contains("no such table") == true {
            return RelayStoreError(.notFound, "\(path) has an older schema without this data (\(e.message ?? "")); start the relay once with this relaynode to upgrade it")
        }
        if e.resultCode == .SQLITE_CORRUPT || e.resultCode == .SQLITE_NOTADB {
            return RelayStoreError(.corrupt, "\(path) is damaged (SQLite: \(e.message ?? "\(e.resultCode)")); restore it from a backup")
        }
        return RelayStoreError(.io, "cannot \(what) in \(path): SQLite: \(e.message ?? "\(e.resultCode)")")
    }

    private static func preflight(_ db: some DatabaseReader, path: String) throws {
        try db.read { db in
            let result = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "no result"
            guard result == "ok" else {
                throw RelayStoreError(.corrupt, "\(path) failed SQLite's integrity check (\(result)); restore it from a backup or re-import the keys")
            }
        }
        let migrator = Self.migrator
        if try db.read({ try migrator.hasBeenSuperseded($0) }) {
            let applied = try db.read { try migrator.appliedIdentifiers($0) }.sorted()
            throw RelayStoreError(.newerSchema, "\(path) has schema \(applied.last ?? "?"), newer than this relaynode knows (\(Self.knownMigrations.last ?? "none")); use a newer relaynode — the database was left untouched")
        }
    }

    /// Applied schema identifiers, oldest first.
    public func appliedMigrations() throws -> [String] {
        try pool.read { try Self.migrator.appliedIdentifiers($0) }.sorted()
    }
}
