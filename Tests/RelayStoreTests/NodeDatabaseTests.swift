import Foundation
import GRDB
import Testing
import TorCrypto
import TorProtocol
@testable import RelayStore

@Suite struct NodeDatabaseTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func keys(seed: UInt64 = 1) throws -> RelayKeys {
        var rng = SystemRandom()
        return try RelayKeys.generate(now: now, lifetimes: KeyLifetimes(), using: &rng)
    }

    @Test func createsPrivateDirectoryAndFile() throws {
        let tmp = TempDirectory()
        let dir = tmp.sub("data")
        let db = try NodeDatabase(dataDirectory: dir, create: true)
        try db.saveKeys(keys(), events: [])
        #expect(mode(dir) == 0o700)
        #expect(mode(db.path) == 0o600)
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: db.path + suffix) {
            #expect(mode(db.path + suffix) == 0o600)
        }
        #expect(try db.appliedMigrations() == NodeDatabase.knownMigrations)
        let journal = try db.pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
    }

    @Test func keysRoundTrip() throws {
        let tmp = TempDirectory()
        let db = try NodeDatabase(dataDirectory: tmp.sub("d"), create: true)
        var k = try keys()
        var rng = SystemRandom()
        try k.rotateOnionKeys(now: now + 100, lifetimes: KeyLifetimes(), using: &rng)
        k.setFamilyKey(FamilyKey(name: "fam", key: .generate(using: &rng), createdAt: now))
        try db.saveKeys(k, events: [KeyEvent(at: now, kind: .generated, role: "all")])
        let back = try NodeDatabase(dataDirectory: tmp.sub("d"), create: false).loadKeys()
        #expect(back.rsaFingerprint == k.rsaFingerprint)
        #expect(back.rsaIdentity.dangerouslyExportPKCS1DER() == k.rsaIdentity.dangerouslyExportPKCS1DER())
        #expect(back.masterPublic == k.masterPublic)
        #expect(back.masterSecret?.dangerouslyExportExpanded() == k.masterSecret?.dangerouslyExportExpanded())
        #expect(back.signingKey.dangerouslyExportExpanded() == k.signingKey.dangerouslyExportExpanded())
        #expect(back.signingCert == k.signingCert)
        #expect(back.onionCurrent.ntor.dangerouslyExportSecret() == k.onionCurrent.ntor.dangerouslyExportSecret())
        #expect(back.onionCurrent.tap.publicKey == k.onionCurrent.tap.publicKey)
        #expect(back.onionPrevious?.ntor.publicKey == k.onionPrevious?.ntor.publicKey)
        #expect(back.onionPreviousExpires == k.onionPreviousExpires)
        #expect(back.family.map(\.name) == ["fam"])
        #expect(back.family.first?.key.publicKey == k.family.first?.key.publicKey)
        #expect(try db.keyEvents().map(\.kind) == [.generated])
    }

    @Test func refusesToReplaceAnIdentity() throws {
        let tmp = TempDirectory()
        let db = try NodeDatabase(dataDirectory: tmp.sub("d"), create: true)
        let first = try keys()
        try db.saveKeys(first, events: [], requireEmpty: true)
        #expect(throws: RelayStoreError.self) { try db.saveKeys(try keys(), events: [], requireEmpty: true) }
        #expect(try db.loadKeys().rsaFingerprint == first.rsaFingerprint)
    }

    @Test func missingDatabaseIsAClearError() throws {
        let tmp = TempDirectory()
        do {
            _ = try NodeDatabase(dataDirectory: tmp.sub("nothing"), create: false)
            Issue.record("opened a database that does not exist")
        } catch let e as RelayStoreError {
            #expect(e.code == .notFound)
            #expect(e.context.contains("relaynode keys generate"))
        }
        #expect(!FileManager.default.fileExists(atPath: tmp.sub("nothing")))
    }

    @Test func newerSchemaIsRefusedAndLeftUntouched() throws {
        let tmp = TempDirectory()
        let dir = tmp.sub("d")
        do {
            let db = try NodeDatabase(dataDirectory: dir, create: true)
            try db.saveKeys(try keys(), events: [])
            try db.pool.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_from_the_future')") }
            try db.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
            try db.pool.close()
        }
        let path = (dir as NSString).appendingPathComponent(NodeDatabase.fileName)
        let before = fileBytes(path)
        do {
            _ = try NodeDatabase(dataDirectory: dir, create: false)
            Issue.record("opened a database from a newer relaynode")
        } catch let e as RelayStoreError {
            #expect(e.code == .newerSchema)
            #expect(e.context.contains(path))
            #expect(e.context.contains("9999_from_the_future"))
        }
        #expect(fileBytes(path) == before)
    }

    @Test func garbageFileIsRefusedAndLeftUntouched() throws {
        let tmp = TempDirectory()
        let dir = tmp.sub("d")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let path = (dir as NSString).appendingPathComponent(NodeDatabase.fileName)
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        FileManager.default.createFile(atPath: path, contents: garbage, attributes: [.posixPermissions: 0o600])
        do {
            _ = try NodeDatabase(dataDirectory: dir, create: false)
            Issue.record("opened garbage as a database")
        } catch let e as RelayStoreError {
            #expect(e.code == .corrupt)
            #expect(e.context.contains(path))
        }
        #expect(fileBytes(path) == garbage)
    }

    @Test func damagedDatabaseIsRefused() throws {
        let tmp = TempDirectory()
        let dir = tmp.sub("d")
        do {
            let db = try NodeDatabase(dataDirectory: dir, create: true)
            try db.saveKeys(try keys(), events: [])
            try db.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
            try db.pool.close()
        }
        let path = (dir as NSString).appendingPathComponent(NodeDatabase.fileName)
        var bytes = try #require(fileBytes(path))
        // Overwrite the second page (a table's b-tree page) with noise.
        for i in 4096..<min(8192, bytes.count) { bytes[i] = UInt8(truncatingIfNeeded: i &* 7) }
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(throws: RelayStoreError.self) { _ = try NodeDatabase(dataDirectory: dir, create: false).loadKeys() }
        // Truncated to half a page.
        try Data(bytes.prefix(2048)).write(to: URL(fileURLWithPath: path))
        #expect(throws: RelayStoreError.self) { _ = try NodeDatabase(dataDirectory: dir, create: false).loadKeys() }
    }

    @Test func looseDirectoryPermissionsAreRefused() throws {
        let tmp = TempDirectory()
        let dir = tmp.sub("d")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        do {
            _ = try NodeDatabase(dataDirectory: dir, create: true)
            Issue.record("used a world-readable data directory")
        } catch let e as RelayStoreError {
            #expect(e.code == .permissions)
            #expect(e.context.contains("chmod 700"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func readableDatabaseFileIsRefused() throws {
        let tmp = TempDirectory()
        let dir = tmp.sub("d")
        let db = try NodeDatabase(dataDirectory: dir, create: true)
        try db.saveKeys(try keys(), events: [])
        chmod(db.path, 0o644)
        do {
            _ = try NodeDatabase(dataDirectory: dir, create: false)
            Issue.record("used a world-readable database")
        } catch let e as RelayStoreError {
            #expect(e.code == .permissions)
            #expect(e.context.contains(db.path))
        }
    }

    /// The binary embeds migrations/node/*.sql; the embedded copy must match the files.
    @Test func embeddedMigrationsMatchFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("migrations/node")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == NodeDatabase.knownMigrations)
        for (file, (_, sql)) in zip(files, EmbeddedMigrations.node) {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            #expect(text == sql + "\n" || text == sql, "\(file) differs from its embedded copy: run make migrations")
        }
    }
}
