import ArgumentParser
import FleetKit
import Foundation

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Move a relay's identity (keys, bandwidth history, health) to another host.",
        discussion: """
        The relay is stopped and fenced on its host, its node database exported sealed to a key \
        made for this move, imported and started on the new host, and proven there by a Tor link \
        handshake; only then is the old copy erased. The sealed bundle is kept beside the fleet \
        database until --confirm or the retention time. If the move is interrupted, run the same \
        command again to finish it, or --rollback to undo it (before it was verified).
        """)
    @OptionGroup var fleet: FleetOptions
    @Argument(help: "The relay's nickname.") var nickname: String
    @Option(help: "The host to move it to.") var to: String?
    @Flag(help: "Undo the relay's unfinished move: remove the new copy, unfence and restart the old one.") var rollback = false
    @Flag(help: "Delete the sealed bundles of the relay's finished moves now.") var confirm = false
    @Flag(help: "List the relay's moves.") var list = false
    @Option(help: "Days a finished move's sealed bundle is kept.") var retentionDays: Double = 7
    @Option(help: "Seconds the relay has to answer a link handshake on its new host.") var startTimeout: Double = 60

    func validate() throws {
        let modes = [to != nil, rollback, confirm, list].filter { $0 }.count
        guard modes == 1 else { throw ValidationError("give exactly one of --to HOST, --rollback, --confirm or --list") }
    }

    func run() throws {
        try reportingErrors {
            var p = try fleet.provisioner()
            p.startTimeout = startTimeout
            let bundles = ((fleet.databasePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("bundles")
            let m = Migrator(database: p.database, provisioner: p, bundleDirectory: bundles)
            m.retention = retentionDays * 86400
            m.progress = { FileHandle.standardError.write(Data("  \($0)\n".utf8)) }
            if list {
                let hosts = Dictionary(uniqueKeysWithValues: try p.database.hosts().map { ($0.id!, $0.name) })
                printTable(["MOVE", "FROM", "TO", "EPOCH", "STEP", "STARTED", "FINISHED", "BUNDLE"], try m.migrations(nickname: nickname).map {
                    ["\($0.id ?? 0)", hosts[$0.fromHostId] ?? "?", hosts[$0.toHostId] ?? "?", "\($0.epoch)", $0.step.rawValue,
                     isoTime($0.startedAt), isoTime($0.finishedAt), $0.bundleKept ? ($0.bundlePath ?? "-") : "-"]
                })
                return
            }
            let vault = try fleet.openVault()
            if rollback {
                try m.rollBack(nickname: nickname, vault: vault)
                print("rolled back: \(nickname) runs on its old host again")
            } else if confirm {
                let n = try m.pruneBundles(confirming: nickname, vault: vault)
                print("deleted \(n) sealed bundle\(n == 1 ? "" : "s")")
            } else if let to {
                let done = try m.migrate(nickname: nickname, to: to, vault: vault)
                let pruned = try m.pruneBundles(confirming: nil, vault: vault)
                print("moved \(nickname) to \(to) (epoch \(done.epoch)); verified by a Tor link handshake; old copy erased")
                print("sealed bundle kept at \(done.bundlePath ?? "-") until 'fleetctl migrate \(nickname) --confirm' or \(Int(retentionDays)) days"
                      + (pruned > 0 ? " (\(pruned) older bundle\(pruned == 1 ? "" : "s") deleted)" : ""))
            }
        }
    }
}
