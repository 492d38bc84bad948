import Foundation
import GRDB
import TorCrypto
import TorProtocol

/// A row of `family_key`: one family key (proposal 321) of a family group. The public id is
/// what relays list as `FamilyId`; the secret key is in the vault (`VaultContents.familyKeys`).
public struct FamilyKeyRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "family_key"
    public var id: Int64?
    public var family: String
    /// Unpadded base64 Ed25519 public key.
    public var familyId: String
    public var createdAt: Int64
    /// Set when the key was rotated out; relays drop it at their next sync.
    public var retiredAt: Int64?

    enum CodingKeys: String, CodingKey {
        case id, family
        case familyId = "family_id", createdAt = "created_at", retiredAt = "retired_at"
    }

    public init(family: String, familyId: String, createdAt: Date = Date()) {
        self.family = family
        self.familyId = familyId
        self.createdAt = Int64(createdAt.timeIntervalSince1970)
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The key's name in a relay's node database: the family and the start of the id.
    public var nodeKeyName: String {
        family + "-" + String(familyId.prefix(8).map { $0 == "/" ? "_" : $0 == "+" ? "-" : $0 })
    }
}

/// What a relay's torrc says about its family.
public struct FamilySettings: Sendable, Equatable {
    /// `FamilyId` lines: the family's keys in use, oldest first.
    public var familyIds: [String] = []
    /// `MyFamily`: every other member's RSA fingerprint as `$HEX`, sorted.
    public var myFamily: [String] = []
    public static let none = FamilySettings()
    public init(familyIds: [String] = [], myFamily: [String] = []) {
        self.familyIds = familyIds
        self.myFamily = myFamily
    }
}

extension FleetDatabase {
    /// The family keys, oldest first; retired ones only when asked.
    public func familyKeys(family: String? = nil, includeRetired: Bool = false) throws -> [FamilyKeyRecord] {
        try read("list family keys") { db in
            var q = FamilyKeyRecord.order(Column("created_at"), Column("id"))
            if let family { q = q.filter(Column("family") == family) }
            if !includeRetired { q = q.filter(Column("retired_at") == nil) }
            return try q.fetchAll(db)
        }
    }

    /// The family groups that have relays or keys.
    public func familyNames() throws -> [String] {
        try read("list families") { db in
            try String.fetchAll(db, sql: "SELECT family FROM relay WHERE family IS NOT NULL AND desired_state <> 'retired' UNION SELECT family FROM family_key ORDER BY 1")
        }
    }

    func addFamilyKey(_ record: FamilyKeyRecord, event: FleetEvent) throws -> FamilyKeyRecord {
        try write("record family key \(record.familyId)") { db in
            var r = record
            try r.insert(db)
            var e = event
            try e.insert(db)
            return r
        }
    }

    func retireFamilyKeys(_ ids: [String], at: Date, event: FleetEvent) throws {
        try write("retire family keys") { db in
            for id in ids {
                try db.execute(sql: "UPDATE family_key SET retired_at = ? WHERE family_id = ? AND retired_at IS NULL",
                               arguments: [Int64(at.timeIntervalSince1970), id])
            }
            var e = event
            try e.insert(db)
        }
    }

    /// What `relay`'s torrc must say: its family's keys in use, and the RSA fingerprints of the
    /// family's other relays that have an identity and are not retired.
    public func familySettings(for relay: RelayRecord) throws -> FamilySettings {
        guard let family = relay.family else { return .none }
        let ids = try familyKeys(family: family).map(\.familyId)
        let others = try relays().filter {
            $0.relay.family == family && $0.relay.nickname != relay.nickname && $0.relay.desiredState != .retired
        }.compactMap { $0.identity.map { "$" + $0.rsaFingerprint.uppercased() } }
        return FamilySettings(familyIds: ids, myFamily: others.sorted())
    }
}

/// Carries a non-Sendable reference into per-host work. The vault is only read there (its
/// secrets sent to hosts); it is saved before and after, never while hosts are being synced.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A family key's secret, as C tor writes it (`NAME.secret_family_key`, tag `fmly-id`).
public struct VaultFamilyKey: Codable, Sendable {
    public var family: String
    public var secretFile: [UInt8]
    public var createdAt: Int64
    public init(family: String, secretFile: [UInt8], createdAt: Int64) {
        self.family = family
        self.secretFile = secretFile
        self.createdAt = createdAt
    }
}

/// The outcome of bringing one relay's family keys and torrc in line with the inventory.
public struct FamilySyncResult: Sendable, Equatable {
    public var nickname: String
    public var installed: [String] = []
    public var removed: [String] = []
    public var torrcRewritten = false
    /// A running relay was sent SIGHUP (it then republishes its descriptor).
    public var reloaded = false
    public var changed: Bool { !installed.isEmpty || !removed.isEmpty || torrcRewritten }

    public var summary: String {
        guard changed else { return "already in line" }
        var parts = [String]()
        if !installed.isEmpty { parts.append("installed \(installed.joined(separator: ", "))") }
        if !removed.isEmpty { parts.append("removed \(removed.joined(separator: ", "))") }
        if torrcRewritten { parts.append("torrc rewritten") }
        parts.append(reloaded ? "reloaded (SIGHUP)" : "not running; takes effect at start")
        return parts.joined(separator: "; ")
    }
}

extension Provisioner {
    /// The family's keys in use, making its first key (secret into the vault, id into the
    /// database) when it has none.
    @discardableResult
    public func ensureFamilyKey(family: String, vault: Vault) throws -> [FamilyKeyRecord] {
        let keys = try database.familyKeys(family: family)
        if !keys.isEmpty { return keys }
        return [try addFamilyKey(family: family, vault: vault, why: "first key of family \(family)")]
    }

    /// A C tor relay being adopted into a family that has no key yet brings its own family keys
    /// (`DIR/keys/*.secret_family_key`): they become the family's, so the FamilyId its operator
    /// already published stays. Read through the transport, kept only in the vault.
    @discardableResult
    func adoptCTorFamilyKeys(directory dir: String, family: String, vault: Vault, transport t: any HostTransport) throws -> [FamilyKeyRecord] {
        let list = try t.check(["sh", "-c", #"for f in "$1"/keys/*.secret_family_key; do [ -f "$f" ] && printf '%s\n' "$f"; done; true"#, "sh", dir],
                               timeout: 30, "listing C tor's family keys in \(dir)")
        var adopted = [FamilyKeyRecord]()
        for path in list.stdoutText.split(separator: "\n").map(String.init) {
            var bytes = try t.readFile(path)
            defer { wipe(&bytes) }
            let key: Ed25519SecretKey
            do {
                key = try CTorKeyFile.decodeEd25519Secret(bytes, tag: "fmly-id", source: path)
            } catch let e as TorProtocolError {
                throw FleetError(.invalid, "\(e.context); nothing was adopted")
            }
            let id = key.publicKey.base64
            if try database.familyKeys(includeRetired: true).contains(where: { $0.familyId == id }) { continue }
            vault.contents.familyKeys[id] = VaultFamilyKey(family: family, secretFile: bytes, createdAt: Int64(Date().timeIntervalSince1970))
            try vault.save()
            adopted.append(try database.addFamilyKey(FamilyKeyRecord(family: family, familyId: id),
                                                     event: FleetEvent(kind: .familyKeyCreated, detail: "\(family): FamilyId \(id) adopted from C tor's \(path)")))
        }
        return adopted
    }

    /// Makes a new family key: the vault holds the secret before the database names the key,
    /// so a crash in between leaves an unused vault entry, never an id without its secret.
    func addFamilyKey(family: String, vault: Vault, why: String) throws -> FamilyKeyRecord {
        var rng = SystemRandom()
        let key = Ed25519SecretKey.generate(using: &rng)
        let now = Date()
        let id = key.publicKey.base64
        vault.contents.familyKeys[id] = VaultFamilyKey(family: family, secretFile: CTorKeyFile.encodeEd25519Secret(key, tag: "fmly-id"),
                                                       createdAt: Int64(now.timeIntervalSince1970))
        try vault.save()
        return try database.addFamilyKey(FamilyKeyRecord(family: family, familyId: id, createdAt: now),
                                         event: FleetEvent(kind: .familyKeyCreated, detail: "\(family): FamilyId \(id) (\(why))"))
    }

    /// Starts a rotation: a new key joins the family's keys, and every member is synced so it
    /// proves both. Finish it with `finishFamilyRotation` once the new descriptors are out.
    public func rotateFamilyKey(family: String, vault: Vault) throws -> (FamilyKeyRecord, [(String, Result<FamilySyncResult, FleetError>)]) {
        guard try !database.relays().filter({ $0.relay.family == family }).isEmpty || !database.familyKeys(family: family).isEmpty else {
            throw FleetError(.notFound, "no family named \(family) in the fleet; see 'fleetctl family list'")
        }
        let key = try addFamilyKey(family: family, vault: vault, why: "rotation")
        return (key, syncFamily(family: family, vault: vault))
    }

    /// Ends a rotation: every key of the family but the newest is retired, its secret leaves the
    /// vault, and every member is synced (FamilyId lines first, then the keys are removed).
    public func finishFamilyRotation(family: String, vault: Vault) throws -> ([String], [(String, Result<FamilySyncResult, FleetError>)]) {
        let keys = try database.familyKeys(family: family)
        guard keys.count > 1 else {
            throw FleetError(.invalid, "family \(family) has \(keys.count) key(s) in use; there is no rotation to finish (start one with 'fleetctl family rotate \(family)')")
        }
        let old = keys.dropLast().map(\.familyId)
        try database.retireFamilyKeys(old, at: Date(), event: FleetEvent(kind: .familyKeyRetired, detail: "\(family): \(old.joined(separator: ", "))"))
        let results = syncFamily(family: family, vault: vault)
        for id in old { vault.contents.familyKeys[id] = nil }
        try vault.save()
        return (old, results)
    }

    /// Syncs every relay of `family` (every family when nil) that is not retired, making a
    /// family's first key when it has none; one relay's failure does not stop the others, and
    /// each outcome is returned.
    public func syncFamily(family: String?, vault: Vault?) -> [(String, Result<FamilySyncResult, FleetError>)] {
        let members: [RelayView]
        do {
            members = try database.relays().filter { $0.relay.desiredState != .retired && (family == nil || $0.relay.family == family) }
            // A family whose relays joined by reconfiguration has no key yet: make it first.
            if let vault {
                for name in Set(members.compactMap(\.relay.family)).sorted() { try ensureFamilyKey(family: name, vault: vault) }
            }
        } catch let e as FleetError {
            return [("-", .failure(e))]
        } catch {
            return [("-", .failure(FleetError(.database, "\(error)")))]
        }
        // Relays whose family was removed still hold keys: sync covers every relay when no family is named.
        let vaultBox = UncheckedBox(vault)
        return perHost(members, "family sync") { v in
            let vault = vaultBox.value
            do {
                return (v.relay.nickname, .success(try syncFamily(nickname: v.relay.nickname, vault: vault)))
            } catch let e as FleetError {
                try? database.record(FleetEvent(kind: .familySyncFailed, hostId: v.host.id, relayId: v.relay.id, detail: e.context))
                return (v.relay.nickname, .failure(e))
            } catch {
                return (v.relay.nickname, .failure(FleetError(.remoteCommand, "\(error)")))
            }
        }
    }

    /// Brings one relay in line with the inventory: installs the family keys it lacks (secrets
    /// from the vault, sent on standard input, never written to disk on this machine), rewrites
    /// its torrc (`FamilyId`, `MyFamily`) when it differs, sends a running relay SIGHUP, then
    /// removes family keys it should no longer hold, and reads the keys back to check.
    public func syncFamily(nickname: String, vault: Vault?) throws -> FamilySyncResult {
        let v = try database.relay(named: nickname)
        guard v.relay.desiredState != .retired else { throw FleetError(.invalid, "relay \(nickname) is retired") }
        guard v.identity?.liveHostId != nil else {
            throw FleetError(.conflict, "relay \(nickname) is not live on any host (a move is under way?); finish that first")
        }
        let t = v.host.makeTransport()
        let layout = RelayLayout(host: v.host, nickname: nickname)
        let rn = v.host.relaynode()
        let settings = try database.familySettings(for: v.relay)
        let known = Dictionary(try database.familyKeys(includeRetired: true).map { ($0.familyId, $0) }, uniquingKeysWith: { a, _ in a })
        var result = FamilySyncResult(nickname: nickname)

        let held = try familyKeysHeld(layout: layout, host: v.host, transport: t)
        for id in settings.familyIds where !held.values.contains(id) {
            guard let vault else {
                throw FleetError(.vaultLocked, "\(nickname) needs family key \(id) from the vault: give fleetctl the passphrase")
            }
            guard let record = known[id] else { throw FleetError(.database, "family key \(id) is not in the fleet database") }
            try installFamilyKey(record, vault: vault, nickname: nickname, layout: layout, host: v.host, transport: t)
            result.installed.append(id)
        }

        let want = Array(relayTorrc(v.relay, layout: layout, hostAddress: v.relay.orAddress, family: settings).utf8)
        let have = try? t.readFile(layout.torrc)
        if have != want {
            let fresh = layout.torrc + ".new"
            try t.writeFile(want, to: fresh)
            try t.check(rn + ["verify-config", "--config", fresh], timeout: 60, "checking the new torrc of \(nickname)")
            try t.check(["mv", "-f", "--", fresh, layout.torrc], timeout: 30, "installing the new torrc of \(nickname)")
            result.torrcRewritten = true
        }
        if !result.installed.isEmpty || result.torrcRewritten {
            let hup = try t.run(["sh", "-c", #"p=$(cat "$1" 2>/dev/null) && [ -d /proc/$p ] && kill -HUP "$p""#, "sh", layout.pidFile], timeout: 30)
            result.reloaded = hup.status == 0
        }
        // The torrc no longer names them, so the relay can lose them (relaynode refuses otherwise).
        for (_, id) in held.sorted(by: { $0.key < $1.key }) where !settings.familyIds.contains(id) {
            try t.check(rn + ["keys", "family-remove", id, "--config", layout.torrc, "--data-directory", layout.dataDirectory], timeout: 60,
                        "removing family key \(id) from \(nickname)")
            result.removed.append(id)
        }
        let now = try familyKeysHeld(layout: layout, host: v.host, transport: t)
        guard Set(now.values) == Set(settings.familyIds) else {
            throw FleetError(.verification, "\(nickname) holds family keys \(now.values.sorted()) after the sync, not \(settings.familyIds)")
        }
        if result.changed {
            try database.record(FleetEvent(kind: .familySynced, hostId: v.host.id, relayId: v.relay.id,
                                           detail: "\(v.relay.family ?? "no family"): \(result.summary)"))
        }
        return result
    }

    /// Sends a family key's secret from the vault to the relay's node database (standard input
    /// of `relaynode keys family-install -`: no file on either side).
    func installFamilyKey(_ record: FamilyKeyRecord, vault: Vault, nickname: String, layout: RelayLayout, host: HostRecord,
                          transport t: any HostTransport) throws {
        guard let secret = vault.contents.familyKeys[record.familyId] else {
            throw FleetError(.notFound, "the vault \(vault.path) holds no secret for family key \(record.familyId) of family \(record.family); is it the right vault? (or rotate the family to a new key)")
        }
        try t.check(host.relaynode() + ["keys", "family-install", "-", "--name", record.nodeKeyName, "--data-directory", layout.dataDirectory],
                    stdin: secret.secretFile, timeout: 60, "installing family key \(record.familyId) on \(nickname)")
    }

    /// The family keys a relay's node database holds, name → FamilyId (`keys show --json`).
    func familyKeysHeld(layout: RelayLayout, host: HostRecord, transport t: any HostTransport) throws -> [String: String] {
        let shown = try t.check(host.relaynode() + ["keys", "show", "--json", "--data-directory", layout.dataDirectory], timeout: 60,
                                "reading the keys of the relay in \(layout.directory) on \(host.name)")
        guard let o = try? JSONSerialization.jsonObject(with: Data(shown.stdout)) as? [String: Any] else {
            throw FleetError(.remoteCommand, "relaynode keys show on \(host.name) printed no JSON object")
        }
        return o["family_keys"] as? [String: String] ?? [:]
    }
}
