import FleetKit
import Foundation
import GRDB
import Testing
import TestSupport

@Suite("Fleet database", .testThreads)
struct FleetDatabaseTests {
    @Test func migratesFromZeroWithPrivateModes() throws {
        let tmp = TempDir()
        let path = tmp.sub("state/fleet.sqlite3")
        let db = try FleetDatabase(path: path)
        #expect(try db.appliedMigrations() == FleetDatabase.knownMigrations)
        #expect(FleetDatabase.knownMigrations.first == "0001_inventory")
        #expect(fileMode(path) == 0o600)
        #expect(fileMode(tmp.sub("state")) == 0o700)
    }

    @Test func defaultPathFollowsXDG() {
        #expect(FleetDatabase.defaultPath(environment: ["XDG_DATA_HOME": "/x/data", "HOME": "/home/o"]) == "/x/data/relayfleet/fleet.sqlite3")
        #expect(FleetDatabase.defaultPath(environment: ["HOME": "/home/o"]) == "/home/o/.local/share/relayfleet/fleet.sqlite3")
        #expect(FleetDatabase.defaultPath(environment: ["XDG_DATA_HOME": "relative", "HOME": "/home/o"]) == "/home/o/.local/share/relayfleet/fleet.sqlite3")
    }

    @Test func hostsAddListRemove() throws {
        let tmp = TempDir()
        let db = try FleetDatabase(path: tmp.sub("fleet.sqlite3"))
        try db.addHost(HostRecord(name: "alpha", transport: .local, address: "127.0.0.1", dataRoot: "/srv/relays"))
        try db.addHost(HostRecord(name: "beta", transport: .ssh, sshTarget: "root@beta", address: "192.0.2.7",
                                  containerEngine: .podman, dataRoot: "/var/lib/relayfleet"))
        #expect(try db.hosts().map(\.name) == ["alpha", "beta"])
        #expect(try db.host(named: "beta").containerEngine == .podman)

        let dup = #expect(throws: FleetError.self) {
            try db.addHost(HostRecord(name: "alpha", transport: .local, address: "127.0.0.2", dataRoot: "/srv"))
        }
        #expect(dup?.code == .conflict)
        #expect(try db.hosts().count == 2)

        try db.removeHost(named: "alpha")
        #expect(try db.hosts().map(\.name) == ["beta"])
        #expect(try #require(#expect(throws: FleetError.self) { try db.removeHost(named: "alpha") }).code == .notFound)
        #expect(try db.events().map(\.kind) == [.hostRemoved, .hostAdded, .hostAdded])
    }

    @Test func schemaRefusesInconsistentRows() throws {
        let tmp = TempDir()
        let db = try FleetDatabase(path: tmp.sub("fleet.sqlite3"))
        // An ssh host without a target, a local host with one, a relative data root, a bad name.
        let bad = [
            HostRecord(name: "s", transport: .ssh, address: "192.0.2.1", dataRoot: "/srv"),
            HostRecord(name: "l", transport: .local, sshTarget: "x", address: "192.0.2.1", dataRoot: "/srv"),
            HostRecord(name: "r", transport: .local, address: "192.0.2.1", dataRoot: "srv"),
            HostRecord(name: "-bad name", transport: .local, address: "192.0.2.1", dataRoot: "/srv"),
        ]
        for h in bad {
            let e = #expect(throws: FleetError.self) { try db.addHost(h) }
            #expect(e?.code == .invalid, "\(h.name)")
        }
        #expect(try db.hosts().isEmpty)
        // Unknown enum values written behind the records' back are refused by CHECK constraints.
        let q = try DatabaseQueue(path: tmp.sub("fleet.sqlite3"))
        #expect(throws: DatabaseError.self) {
            try q.write { try $0.execute(sql: "INSERT INTO host (name, transport, address, data_root, created_at) VALUES ('x', 'telnet', 'a', '/s', 0)") }
        }
    }

    @Test func relayConflictsAndHostRemovalWithRelays() throws {
        let tmp = TempDir()
        let db = try FleetDatabase(path: tmp.sub("fleet.sqlite3"))
        let h = try db.addHost(HostRecord(name: "alpha", transport: .local, address: "192.0.2.1", dataRoot: "/srv"))
        let r = RelayRecord(nickname: "one", hostId: h.id!, orAddress: "192.0.2.1", orPort: 9001, role: .nonExit)
        try db.checkNewRelay(r)
        try db.insertRelay(r, identity: (String(repeating: "A", count: 40), String(repeating: "B", count: 43), nil), events: [])
        #expect(try db.relay(named: "one").identity?.liveHostId == h.id)

        let sameName = #expect(throws: FleetError.self) {
            try db.checkNewRelay(RelayRecord(nickname: "one", hostId: h.id!, orAddress: "192.0.2.1", orPort: 9002, role: .exit))
        }
        #expect(sameName?.code == .conflict)
        let samePort = #expect(throws: FleetError.self) {
            try db.checkNewRelay(RelayRecord(nickname: "two", hostId: h.id!, orAddress: "192.0.2.1", orPort: 9001, role: .exit))
        }
        #expect(samePort?.code == .conflict)
        #expect(samePort?.context.contains("already used by relay one") == true)
        let inUse = #expect(throws: FleetError.self) { try db.removeHost(named: "alpha") }
        #expect(inUse?.code == .conflict)
        #expect(try db.hosts().count == 1)
        #expect(throws: FleetError.self) { try db.relay(named: "nope") }
    }

    @Test func refusesNewerSchemaUntouched() throws {
        let tmp = TempDir()
        let path = tmp.sub("fleet.sqlite3")
        _ = try FleetDatabase(path: path)
        let q = try DatabaseQueue(path: path)
        try q.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_future')") }
        try q.close()
        let before = sha(path)
        let e = #expect(throws: FleetError.self) { _ = try FleetDatabase(path: path) }
        #expect(e?.code == .newerSchema)
        #expect(sha(path) == before)
    }

    @Test func refusesGarbageAndLooseModes() throws {
        let tmp = TempDir()
        let path = tmp.sub("fleet.sqlite3")
        FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x41, count: 4096), attributes: [.posixPermissions: 0o600])
        #expect(try #require(#expect(throws: FleetError.self) { _ = try FleetDatabase(path: path) }).code == .database)
        chmod(path, 0o644)
        #expect(try #require(#expect(throws: FleetError.self) { _ = try FleetDatabase(path: path) }).code == .permissions)
    }
}
