import Foundation
import GRDB
import TorCrypto
#if canImport(Glibc)
import Glibc
#endif

/// A row of `migration`: one move of a relay's identity to another host.
public struct MigrationRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "migration"

    /// The steps in order; the row holds the last one completed.
    public enum Step: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
        case planned, fenced, exported, imported, started, verified, done
        case rolledBack = "rolled_back"
    }

    public var id: Int64?
    public var relayId: Int64
    public var fromHostId: Int64
    public var toHostId: Int64
    public var toOrAddress: String
    public var epoch: Int64
    public var step: Step
    public var opPublic: Data
    public var bundlePath: String?
    public var bundleKept: Bool
    public var startedAt: Int64
    public var updatedAt: Int64
    public var finishedAt: Int64?

    enum CodingKeys: String, CodingKey {
        case id, epoch, step
        case relayId = "relay_id", fromHostId = "from_host_id", toHostId = "to_host_id", toOrAddress = "to_or_address"
        case opPublic = "op_public", bundlePath = "bundle_path", bundleKept = "bundle_kept"
        case startedAt = "started_at", updatedAt = "updated_at", finishedAt = "finished_at"
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The vault entry holding this move's sealing secret.
    var vaultKey: String { "migration-\(id ?? 0)" }
}

/// Moves a relay's identity — keys, bandwidth history, health — from its host to another,
/// through `relaynode identity` on both hosts:
///
///     planned   checks passed, a sealing key pair made (secret in the vault)
///     fenced    the relay stopped on the source, its data directory fenced (never runs there again)
///     exported  the node database sealed on the source; the bundle kept beside the fleet database
///     imported  the bundle opened and installed on the target, torrc written
///     started   relaynode started on the target
///     verified  a Tor link handshake proved the identity on the target; the inventory moved
///     done      the source's copy erased (the sealed bundle kept until --confirm or retention)
///
/// The identity is never live on two hosts: the source is stopped and fenced before anything
/// starts on the target. A complete copy always exists: the source's data directory stays (fenced)
/// until the target has proven the identity, and the sealed bundle outlives both. Every step is
/// safe to repeat, and the last one completed is recorded after it, so running the same
/// command again after any interruption finishes the move; `rollBack` undoes one that has
/// not reached `verified`.
public final class Migrator {
    public let database: FleetDatabase
    public let provisioner: Provisioner
    /// Where sealed bundles are kept (0700), beside the fleet database.
    public let bundleDirectory: String
    /// How long a finished move's bundle is kept before `pruneBundles` removes it.
    public var retention: TimeInterval = 7 * 86400
    /// Test hook for fault injection: `STEP` makes the process exit at once (status 70) right
    /// after recording STEP; `STEP-unrecorded` right after doing STEP's work but before
    /// recording it — as if fleetctl were killed there. From `RELAYFLEET_FAULT`.
    public var fault: String? = ProcessInfo.processInfo.environment["RELAYFLEET_FAULT"]
    public var progress: (String) -> Void = { _ in }

    public init(database: FleetDatabase, provisioner: Provisioner, bundleDirectory: String) {
        self.database = database
        self.provisioner = provisioner
        self.bundleDirectory = bundleDirectory
    }

    // MARK: the move

    /// Moves `nickname` to `hostName`, or finishes the unfinished move of it (which must be to
    /// the same host). Returns the finished record.
    @discardableResult
    public func migrate(nickname: String, to hostName: String, vault: Vault) throws -> MigrationRecord {
        let view = try database.relay(named: nickname)
        let lock = try exclusive(nickname)
        defer { close(lock) }
        let target = try database.host(named: hostName)
        var m: MigrationRecord
        if let open = try unfinished(relayId: view.relay.id!) {
            guard open.toHostId == target.id else {
                let other = try database.hosts().first { $0.id == open.toHostId }?.name ?? "?"
                throw FleetError(.conflict, "\(nickname) has an unfinished move to \(other); finish it with 'fleetctl migrate \(nickname) --to \(other)' or undo it with --rollback")
            }
            m = open
            progress("resuming the move of \(nickname) to \(hostName) after step \(m.step.rawValue)")
        } else {
            m = try plan(view: view, target: target, vault: vault)
        }
        guard let identity = view.identity else { throw FleetError(.notFound, "relay \(nickname) has no recorded identity") }
        let source = try host(id: m.fromHostId)
        let src = RelayLayout(host: source, nickname: nickname), dst = RelayLayout(host: target, nickname: nickname)
        let fp = identity.rsaFingerprint

        while m.step != .done {
            switch m.step {
            case .planned:
                progress("stopping \(nickname) on \(source.name) and fencing its data directory")
                let t = source.makeTransport()
                try provisioner.stop(layout: src, transport: t)
                try t.check(source.relaynode() + ["identity", "fence", "--data-directory", src.dataDirectory,
                             "--epoch", String(m.epoch), "--reason", "moved to host \(target.name)"], timeout: 60,
                            "fencing \(nickname) on \(source.name)")
                try advance(&m, to: .fenced) { db, r in
                    try db.execute(sql: "UPDATE identity SET live_host_id = NULL WHERE relay_id = ?", arguments: [r.relayId])
                    var e = FleetEvent(kind: .relayStopped, hostId: source.id, relayId: r.relayId, detail: "stopped and fenced for the move to \(target.name) (epoch \(r.epoch))")
                    try e.insert(db)
                }
            case .fenced:
                progress("exporting the sealed identity of \(nickname) from \(source.name)")
                let r = try source.makeTransport().check(source.relaynode() + ["identity", "export", "--data-directory", src.dataDirectory],
                                                         stdin: Array((Array(m.opPublic).hexString + "\n").utf8), timeout: 300,
                                                         "exporting the identity of \(nickname) on \(source.name)")
                let path = bundlePath(m, nickname: nickname)
                try PrivateFiles.ensureDirectory(bundleDirectory)
                try PrivateFiles.write(r.stdout, to: path, replace: true)
                try inspect(bundle: r.stdout, m: m, vault: vault, fingerprint: fp)
                m.bundlePath = path
                m.bundleKept = true
                try advance(&m, to: .exported)
            case .exported:
                progress("importing \(nickname) on \(target.name)")
                let bundle = try readBundle(m)
                try inspect(bundle: bundle, m: m, vault: vault, fingerprint: fp)
                let t = target.makeTransport()
                try t.check(["sh", "-c", #"umask 077 && mkdir -p "$1" && chmod 700 "$1""#, "sh", dst.directory], timeout: 30,
                            "creating \(dst.directory) on \(target.name)")
                var moved = view.relay
                moved.hostId = target.id!
                moved.orAddress = m.toOrAddress
                try t.writeFile(Array(relayTorrc(moved, layout: dst, hostAddress: m.toOrAddress,
                                                       family: database.familySettings(for: moved)).utf8), to: dst.torrc)
                var secret = try opSecret(m, vault: vault)
                defer { wipe(&secret) }
                try t.check(target.relaynode() + ["identity", "import", "--data-directory", dst.dataDirectory, "--expect-fingerprint", fp],
                            stdin: Array((secret.hexString + "\n").utf8) + bundle, timeout: 300,
                            "importing the identity of \(nickname) on \(target.name)")
                try t.check(target.relaynode() + ["verify-config", "--config", dst.torrc], timeout: 60,
                            "checking the torrc of \(nickname) on \(target.name)")
                try advance(&m, to: .imported)
            case .imported:
                progress("starting \(nickname) on \(target.name)")
                let t = target.makeTransport()
                try provisioner.stop(layout: dst, transport: t)
                try provisioner.start(layout: dst, host: target, transport: t)
                try advance(&m, to: .started)
            case .started:
                progress("verifying \(nickname) on \(target.name) with a link handshake")
                let t = target.makeTransport()
                // After an interruption the relay may have stopped (a host reboot): start it again.
                let alive = try t.run(["sh", "-c", #"p=$(cat "$1" 2>/dev/null) && [ -d /proc/$p ] && ! grep -q '^[^ ]* ([^)]*) Z' /proc/$p/stat"#,
                                       "sh", dst.pidFile], timeout: 30)
                if alive.status != 0 { try provisioner.start(layout: dst, host: target, transport: t) }
                try provisioner.verify(address: m.toOrAddress, port: view.relay.orPort, rsaFingerprint: fp, ed25519: identity.ed25519Id,
                                       within: provisioner.startTimeout,
                                       log: { try? t.run(["tail", "-n", "5", dst.logFile], timeout: 10).stdoutText })
                try advance(&m, to: .verified) { db, r in
                    try db.execute(sql: "UPDATE relay SET host_id = ?, or_address = ? WHERE id = ?", arguments: [r.toHostId, r.toOrAddress, r.relayId])
                    try db.execute(sql: "UPDATE identity SET live_host_id = ?, epoch = ? WHERE relay_id = ?", arguments: [r.toHostId, r.epoch, r.relayId])
                    var e = FleetEvent(kind: .relayMigrated, hostId: r.toHostId, relayId: r.relayId,
                                       detail: "\(fp) moved from \(source.name) to \(target.name), epoch \(r.epoch); proven by a link handshake")
                    try e.insert(db)
                }
            case .verified:
                progress("erasing the old copy of \(nickname) on \(source.name)")
                let t = source.makeTransport()
                try t.check(source.relaynode() + ["identity", "destroy", "--data-directory", src.dataDirectory, "--fingerprint", fp], timeout: 60,
                            "erasing the old copy of \(nickname) on \(source.name)")
                try t.check(["rm", "-rf", "--", src.directory], timeout: 60, "removing \(src.directory) on \(source.name)")
                try advance(&m, to: .done) { db, r in
                    var e = FleetEvent(kind: .sourceErased, hostId: r.fromHostId, relayId: r.relayId,
                                       detail: "old copy of \(fp) erased; sealed bundle kept until 'fleetctl migrate --confirm' or retention")
                    try e.insert(db)
                }
            case .done, .rolledBack:
                break
            }
            if m.step == .rolledBack { break }
        }
        return m
    }

    /// Undoes the unfinished move of `nickname`: the target's copy is removed, the source's
    /// unfenced and started again. Refused once the target has proven the identity (`verified`):
    /// then the move is complete and moving back is another migration.
    @discardableResult
    public func rollBack(nickname: String, vault: Vault) throws -> MigrationRecord {
        let view = try database.relay(named: nickname)
        let lock = try exclusive(nickname)
        defer { close(lock) }
        guard var m = try unfinished(relayId: view.relay.id!) else {
            throw FleetError(.notFound, "\(nickname) has no unfinished move to roll back")
        }
        guard let identity = view.identity else { throw FleetError(.notFound, "relay \(nickname) has no recorded identity") }
        let steps = MigrationRecord.Step.allCases
        guard steps.firstIndex(of: m.step)! < steps.firstIndex(of: .verified)! else {
            throw FleetError(.conflict, "the move of \(nickname) was already verified on its new host; run 'fleetctl migrate \(nickname) --to HOST' to finish it, or migrate it back")
        }
        let source = try host(id: m.fromHostId), target = try host(id: m.toHostId)
        let src = RelayLayout(host: source, nickname: nickname), dst = RelayLayout(host: target, nickname: nickname)
        let s = source.makeTransport()
        // The source's copy must be whole before the target's is touched.
        let status = try s.check(source.relaynode() + ["identity", "status", "--data-directory", src.dataDirectory], timeout: 60,
                                 "checking the copy of \(nickname) on \(source.name)")
        guard status.stdoutText.contains("\"rsa_fingerprint\":\"\(identity.rsaFingerprint)\"") else {
            throw FleetError(.conflict, "the copy of \(nickname) on \(source.name) is not intact (\(status.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))); not rolling back — finish the move instead")
        }
        progress("removing the new copy of \(nickname) on \(target.name)")
        let t = target.makeTransport()
        try provisioner.stop(layout: dst, transport: t)
        try t.check(["sh", "-c", #"[ -d "$1" ] || exit 0; find "$1" -type f -exec shred -u {} + 2>/dev/null; rm -rf -- "$1""#, "sh", dst.directory],
                    timeout: 60, "removing \(dst.directory) on \(target.name)")
        progress("unfencing and starting \(nickname) on \(source.name)")
        try s.check(source.relaynode() + ["identity", "unfence", "--data-directory", src.dataDirectory], timeout: 60,
                    "unfencing \(nickname) on \(source.name)")
        try provisioner.start(layout: src, host: source, transport: s)
        try provisioner.verify(address: view.relay.orAddress, port: view.relay.orPort, rsaFingerprint: identity.rsaFingerprint,
                               ed25519: identity.ed25519Id, within: provisioner.startTimeout,
                               log: { try? s.run(["tail", "-n", "5", src.logFile], timeout: 10).stdoutText })
        try advance(&m, to: .rolledBack) { db, r in
            try db.execute(sql: "UPDATE identity SET live_host_id = ? WHERE relay_id = ?", arguments: [r.fromHostId, r.relayId])
            var e = FleetEvent(kind: .migrationRolledBack, hostId: r.fromHostId, relayId: r.relayId,
                               detail: "move to \(target.name) undone; running on \(source.name) again")
            try e.insert(db)
        }
        try discardBundle(&m, vault: vault)
        return m
    }

    // MARK: retiring

    /// Takes a relay out of service for good: stopped and fenced, its node database exported
    /// sealed (the backup: `bundles/NICK-retired-epochE.sealed`, its key in the vault under
    /// `retired-NICK`), checked, and only then erased from its host. The inventory keeps the
    /// relay as `retired` (its nickname is not reused) with no live host. Safe to run again
    /// after an interruption: each step is repeated or skipped.
    @discardableResult
    public func retire(nickname: String, vault: Vault) throws -> String {
        let v = try database.relay(named: nickname)
        guard let identity = v.identity else { throw FleetError(.notFound, "relay \(nickname) has no recorded identity") }
        guard try unfinished(relayId: v.relay.id!) == nil else {
            throw FleetError(.conflict, "\(nickname) has an unfinished move; finish it or roll it back first")
        }
        let t = v.host.makeTransport(), layout = RelayLayout(host: v.host, nickname: nickname)
        // The epoch goes up once, with the first record of the retirement.
        let epoch = v.relay.desiredState == .retired ? identity.epoch : identity.epoch + 1
        let key = "retired-\(nickname)"
        let path = (bundleDirectory as NSString).appendingPathComponent("\(nickname)-retired-epoch\(epoch).sealed")
        let status = try t.check(v.host.relaynode() + ["identity", "status", "--data-directory", layout.dataDirectory], timeout: 60,
                                 "checking \(nickname) on \(v.host.name)")
        if status.stdoutText.contains("\"rsa_fingerprint\":\"\(identity.rsaFingerprint)\"") {
            progress("stopping and fencing \(nickname) on \(v.host.name)")
            try provisioner.stop(layout: layout, transport: t)
            try t.check(v.host.relaynode() + ["identity", "fence", "--data-directory", layout.dataDirectory, "--epoch", String(epoch),
                         "--reason", "retired"], timeout: 60, "fencing \(nickname) on \(v.host.name)")
            try database.write("record the retirement of \(nickname)") { db in
                try db.execute(sql: "UPDATE relay SET desired_state = 'retired' WHERE id = ?", arguments: [v.relay.id!])
                try db.execute(sql: "UPDATE identity SET live_host_id = NULL, epoch = ? WHERE relay_id = ?", arguments: [epoch, v.relay.id!])
            }
            progress("keeping a sealed backup of \(nickname)")
            var secret: [UInt8]
            if let s = vault.contents.operations[key] { secret = s } else {
                secret = SealedBox.keyPair().secretKey
                vault.contents.operations[key] = secret
                try vault.save()
            }
            defer { wipe(&secret) }
            let r = try t.check(v.host.relaynode() + ["identity", "export", "--data-directory", layout.dataDirectory],
                                stdin: Array((try SealedBox.publicKey(of: secret).hexString + "\n").utf8), timeout: 300,
                                "exporting the identity of \(nickname) on \(v.host.name)")
            try PrivateFiles.ensureDirectory(bundleDirectory)
            try PrivateFiles.write(r.stdout, to: path, replace: true)
            let check = try Subprocess.run([provisioner.localRelaynode, "identity", "inspect", "--expect-fingerprint", identity.rsaFingerprint],
                                           stdin: Array((secret.hexString + "\n").utf8) + r.stdout, timeout: 120)
            guard check.status == 0 else { throw FleetError(.verification, "the sealed backup of \(nickname) does not check out: \(check.lastErrorLine); the host's copy was kept") }
            progress("erasing \(nickname) on \(v.host.name)")
            try t.check(v.host.relaynode() + ["identity", "destroy", "--data-directory", layout.dataDirectory, "--fingerprint", identity.rsaFingerprint],
                        timeout: 60, "erasing \(nickname) on \(v.host.name)")
        } else if !FileManager.default.fileExists(atPath: path) {
            throw FleetError(.conflict, "\(v.host.name) does not hold \(nickname)'s identity and there is no sealed backup of it; nothing was changed")
        }
        try t.check(["rm", "-rf", "--", layout.directory], timeout: 60, "removing \(layout.directory) on \(v.host.name)")
        try database.write("record the retirement of \(nickname)") { db in
            try db.execute(sql: "UPDATE relay SET desired_state = 'retired' WHERE id = ?", arguments: [v.relay.id!])
            try db.execute(sql: "UPDATE identity SET live_host_id = NULL, epoch = ? WHERE relay_id = ?", arguments: [epoch, v.relay.id!])
            var e = FleetEvent(kind: .relayRetired, hostId: v.host.id, relayId: v.relay.id,
                               detail: "\(identity.rsaFingerprint) retired; sealed backup \((path as NSString).lastPathComponent)")
            try e.insert(db)
        }
        return path
    }

    /// Removes the sealed bundles (and their keys in the vault) of finished moves: those of
    /// `nickname` now (`--confirm`), and every other one older than the retention time.
    /// Returns how many were removed.
    @discardableResult
    public func pruneBundles(confirming nickname: String?, vault: Vault, now: Date = Date()) throws -> Int {
        let confirmId = try nickname.map { try database.relay(named: $0).relay.id! }
        let kept = try database.read("list kept bundles") { db in
            try MigrationRecord.filter(Column("bundle_kept") == true && Column("finished_at") != nil).fetchAll(db)
        }
        var removed = 0
        for var m in kept where m.relayId == confirmId || Double(m.finishedAt!) + retention <= now.timeIntervalSince1970 {
            try discardBundle(&m, vault: vault)
            removed += 1
        }
        return removed
    }

    public func migrations(nickname: String? = nil) throws -> [MigrationRecord] {
        let relayId = try nickname.map { try database.relay(named: $0).relay.id! }
        return try database.read("list migrations") { db in
            var q = MigrationRecord.order(Column("id"))
            if let relayId { q = q.filter(Column("relay_id") == relayId) }
            return try q.fetchAll(db)
        }
    }

    // MARK: steps

    private func plan(view: RelayView, target: HostRecord, vault: Vault) throws -> MigrationRecord {
        let nickname = view.relay.nickname
        guard let identity = view.identity else { throw FleetError(.notFound, "relay \(nickname) has no recorded identity") }
        guard view.host.id != target.id else {
            throw FleetError(.invalid, "\(nickname) already runs on \(target.name)")
        }
        // The ORPort must be free on the target (the relay keeps its port; its address becomes the target's).
        var moved = view.relay
        moved.hostId = target.id!
        moved.orAddress = target.address
        try database.read("check the target") { db in
            let clash = try RelayRecord.filter(Column("host_id") == target.id! && Column("or_port") == moved.orPort).fetchAll(db)
            if let other = clash.first(where: { $0.orAddress == moved.orAddress || $0.orAddress == "0.0.0.0" }) {
                throw FleetError(.conflict, "ORPort \(moved.orAddress):\(moved.orPort) is used by \(other.nickname) on \(target.name); nothing was changed")
            }
            if try RelayRecord.filter(Column("host_id") == target.id! && Column("or_address") == moved.orAddress).fetchCount(db) >= 8 {
                throw FleetError(.conflict, "\(target.address) on \(target.name) already has 8 relays; nothing was changed")
            }
        }
        // Both hosts answer, the source holds the identity, the target has no directory for it.
        progress("checking \(view.host.name) and \(target.name)")
        let s = view.host.makeTransport(), t = target.makeTransport()
        let src = RelayLayout(host: view.host, nickname: nickname), dst = RelayLayout(host: target, nickname: nickname)
        _ = try Provisioner.checkHost(target)
        let status = try s.check(view.host.relaynode() + ["identity", "status", "--data-directory", src.dataDirectory], timeout: 60,
                                 "checking \(nickname) on \(view.host.name)")
        guard status.stdoutText.contains("\"rsa_fingerprint\":\"\(identity.rsaFingerprint)\"") else {
            throw FleetError(.conflict, "\(view.host.name) does not hold \(nickname)'s identity \(identity.rsaFingerprint) (\(status.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))); nothing was changed")
        }
        if try t.run(["test", "-e", dst.directory], timeout: 30).status == 0 {
            throw FleetError(.conflict, "\(dst.directory) already exists on \(target.name); move it away first — nothing was changed")
        }
        let pair = SealedBox.keyPair()
        var secret = pair.secretKey
        defer { wipe(&secret) }
        let now = Int64(Date().timeIntervalSince1970)
        var m = MigrationRecord(id: nil, relayId: view.relay.id!, fromHostId: view.host.id!, toHostId: target.id!, toOrAddress: target.address,
                                epoch: identity.epoch + 1, step: .planned, opPublic: Data(pair.publicKey), bundlePath: nil, bundleKept: false,
                                startedAt: now, updatedAt: now, finishedAt: nil)
        try database.write("record the move of \(nickname)") { db in
            try m.insert(db)
            var e = FleetEvent(kind: .migrationStarted, hostId: target.id, relayId: m.relayId, detail: "\(identity.rsaFingerprint) from \(view.host.name) to \(target.name)")
            try e.insert(db)
        }
        vault.contents.operations[m.vaultKey] = secret
        try vault.save()
        try checkFault(.planned, recorded: true)
        return m
    }

    private func advance(_ m: inout MigrationRecord, to step: MigrationRecord.Step, _ also: ((Database, MigrationRecord) throws -> Void)? = nil) throws {
        try checkFault(step, recorded: false)
        m.step = step
        m.updatedAt = Int64(Date().timeIntervalSince1970)
        if step == .done || step == .rolledBack { m.finishedAt = m.updatedAt }
        let record = m
        try database.write("record step \(step.rawValue) of a move") { db in
            try record.update(db)
            try also?(db, record)
        }
        try checkFault(step, recorded: true)
    }

    private func checkFault(_ step: MigrationRecord.Step, recorded: Bool) throws {
        guard let fault else { return }
        if fault == (recorded ? step.rawValue : step.rawValue + "-unrecorded") {
            FileHandle.standardError.write(Data("fleetctl: fault injected after \(step.rawValue)\(recorded ? "" : " (not recorded)")\n".utf8))
            _exit(70)
        }
    }

    private func inspect(bundle: [UInt8], m: MigrationRecord, vault: Vault, fingerprint: String) throws {
        var secret = try opSecret(m, vault: vault)
        defer { wipe(&secret) }
        let r = try Subprocess.run([provisioner.localRelaynode, "identity", "inspect", "--expect-fingerprint", fingerprint],
                                   stdin: Array((secret.hexString + "\n").utf8) + bundle, timeout: 120)
        guard r.status == 0 else {
            throw FleetError(.verification, "the sealed bundle of the move does not check out: \(r.lastErrorLine)")
        }
    }

    private func opSecret(_ m: MigrationRecord, vault: Vault) throws -> [UInt8] {
        guard let s = vault.contents.operations[m.vaultKey] else {
            throw FleetError(.vaultLocked, "the vault has no key for move \(m.id ?? 0); was the vault restored from an older backup?")
        }
        return s
    }

    private func readBundle(_ m: MigrationRecord) throws -> [UInt8] {
        guard let path = m.bundlePath else { throw FleetError(.notFound, "move \(m.id ?? 0) has no bundle recorded") }
        return try PrivateFiles.read(path)
    }

    private func bundlePath(_ m: MigrationRecord, nickname: String) -> String {
        (bundleDirectory as NSString).appendingPathComponent("\(nickname)-move\(m.id ?? 0)-epoch\(m.epoch).sealed")
    }

    private func discardBundle(_ m: inout MigrationRecord, vault: Vault) throws {
        if let path = m.bundlePath { unlink(path) }
        vault.contents.operations[m.vaultKey] = nil
        try vault.save()
        m.bundleKept = false
        let record = m
        try database.write("forget a move's bundle") { db in try record.update(db) }
    }

    /// One fleetctl at a time moves (or rolls back) a given relay: an exclusive lock on
    /// `bundles/.NICK.lock`, released when the process ends however it ends.
    private func exclusive(_ nickname: String) throws -> Int32 {
        try PrivateFiles.ensureDirectory(bundleDirectory)
        let path = (bundleDirectory as NSString).appendingPathComponent(".\(nickname).lock")
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FleetError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw FleetError(.conflict, "another fleetctl is moving \(nickname) right now; let it finish")
        }
        return fd
    }

    private func unfinished(relayId: Int64) throws -> MigrationRecord? {
        try database.read("find an unfinished move") { db in
            try MigrationRecord.filter(Column("relay_id") == relayId && Column("finished_at") == nil).fetchOne(db)
        }
    }

    private func host(id: Int64) throws -> HostRecord {
        guard let h = try database.hosts().first(where: { $0.id == id }) else {
            throw FleetError(.notFound, "host \(id) of a move is no longer in the inventory")
        }
        return h
    }
}
