import ArgumentParser
import FleetKit
import Foundation

struct FamilyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "family",
        abstract: "Family keys (FamilyId, proposal 321) and MyFamily across the fleet: list, sync, rotate.",
        discussion: """
        A relay created with --family NAME (or family: in the fleet file) gets the family's keys — \
        the first one is made then, its secret kept in the vault — and a torrc with FamilyId and a \
        MyFamily line naming the other members. 'sync' brings every member in line after relays \
        join, leave, move or retire; 'rotate' adds a new key beside the old one, 'rotate --finish' \
        drops the old one once the new descriptors are out (C tor's advice: wait a few days).
        """,
        subcommands: [List.self, Sync.self, Rotate.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Families, their keys in use and their members (no passphrase needed).")
        @OptionGroup var fleet: FleetOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let db = try fleet.openDatabase()
                let relays = try db.relays().filter { $0.relay.desiredState != .retired }
                var out: [[String: Any]] = []
                var rows: [[String]] = []
                for name in try db.familyNames() {
                    let keys = try db.familyKeys(family: name)
                    let retiring = try db.familyKeys(family: name, includeRetired: true).filter { $0.retiredAt != nil }
                    let members = relays.filter { $0.relay.family == name }
                    out.append(["family": name, "family_ids": keys.map(\.familyId), "retired_ids": retiring.map(\.familyId),
                                "members": members.map { ["nickname": $0.relay.nickname, "host": $0.host.name,
                                                          "rsa_fingerprint": $0.identity?.rsaFingerprint ?? NSNull()] as [String: Any] }])
                    rows.append([name, keys.map(\.familyId).joined(separator: " "), members.map(\.relay.nickname).joined(separator: ",")])
                }
                if json {
                    let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else if rows.isEmpty {
                    print("no families (give relays a family with 'relay create --family NAME' or family: in the fleet file)")
                } else {
                    printTable(["FAMILY", "FAMILY IDS IN USE", "MEMBERS"], rows)
                }
            }
        }
    }

    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install missing family keys, write FamilyId and MyFamily into each member's torrc, reload running relays, remove keys no longer used.")
        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The family (default: every relay of the fleet).") var family: String?

        func run() throws {
            try reportingErrors {
                let p = try fleet.provisioner()
                if let family, try !p.database.familyNames().contains(family) {
                    throw FleetError(.notFound, "no family named \(family) in the fleet; see 'fleetctl family list'")
                }
                let results = p.syncFamily(family: family, vault: try fleet.openVault())
                if !printFamilySync(results) { throw ExitCode(1) }
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new family key beside the old one (every member proves both); with --finish, retire every key but the newest.")
        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The family.") var family: String
        @Flag(help: "Finish a rotation: drop the old key(s) from every member and from the vault.") var finish = false

        func run() throws {
            try reportingErrors {
                let p = try fleet.provisioner()
                let vault = try fleet.openVault()
                let ok: Bool
                if finish {
                    let (old, results) = try p.finishFamilyRotation(family: family, vault: vault)
                    print("retired FamilyId \(old.joined(separator: ", ")) of \(family)")
                    ok = printFamilySync(results)
                } else {
                    let (key, results) = try p.rotateFamilyKey(family: family, vault: vault)
                    print("new FamilyId \(key.familyId) for \(family); finish with 'fleetctl family rotate \(family) --finish' once the members' new descriptors are published")
                    ok = printFamilySync(results)
                }
                if !ok { throw ExitCode(1) }
            }
        }
    }
}

/// Prints one line per relay; false when any failed (each failure is also an event).
@discardableResult
func printFamilySync(_ results: [(String, Result<FamilySyncResult, FleetError>)]) -> Bool {
    var ok = true
    for (nick, r) in results {
        switch r {
        case .success(let s): print("  \(nick): \(s.summary)")
        case .failure(let e):
            ok = false
            print("  \(nick): FAILED: \(e.context)")
        }
    }
    if !ok { FileHandle.standardError.write(Data("fleetctl: some relays were not synced; run 'fleetctl family sync' again once they are reachable\n".utf8)) }
    return ok
}
