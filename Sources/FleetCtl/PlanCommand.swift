import ArgumentParser
import FleetKit
import Foundation

/// Options `plan` and `apply` share.
struct FleetFileOptions: ParsableArguments {
    @Option(name: [.customShort("f"), .long], help: "The fleet file (YAML).") var file: String = "fleet.yaml"
    @Flag(help: "Also remove hosts that the file no longer lists and that have no relays.") var prune = false
    @Flag(help: "Don't ask the hosts whether their relays run (compare with the inventory only).") var noProbe = false

    func plan(_ database: FleetDatabase) throws -> FleetPlan {
        let spec = try FleetSpec.load(path: file)
        return try FleetPlan.make(spec: spec, database: database, prune: prune, probe: !noProbe)
    }
}

func printPlan(_ plan: FleetPlan) {
    if plan.isEmpty {
        print("No changes: the fleet matches the file.")
    } else {
        print("\(plan.actions.count) change\(plan.actions.count == 1 ? "" : "s"):")
        for a in plan.actions { print("  \(a.summary)") }
    }
    for n in plan.notes { print("  note: \(n)") }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what 'apply' would change to make the fleet match the fleet file (changes nothing).",
        discussion: "Exit status: 0 with no changes, 2 when changes are pending (with --detailed-exitcode; else 0), 1 on errors.")
    @OptionGroup var fleet: FleetOptions
    @OptionGroup var fileOptions: FleetFileOptions
    @Flag(help: "Exit 2 when there are changes.") var detailedExitcode = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingErrors {
            let plan = try fileOptions.plan(fleet.openDatabase())
            if json {
                printJSON(["changes": plan.actions.map(\.summary), "notes": plan.notes, "needs_vault": plan.needsVault])
            } else {
                printPlan(plan)
            }
            if detailedExitcode && !plan.isEmpty { throw ExitCode(2) }
        }
    }
}

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Make the fleet match the fleet file: add hosts, create, reconfigure, start and stop relays.",
        discussion: """
        The file is checked completely and the plan made before anything is touched. Hosts work \
        in parallel; a failing step stops the later steps on its host only. Creating relays needs \
        the vault passphrase (--passphrase-file or $RELAYFLEET_PASSPHRASE). Re-running after a \
        failure or interruption picks up what is still to do. Also the way to bring relays back \
        after a host reboot: relays the inventory wants running are started.
        """)
    @OptionGroup var fleet: FleetOptions
    @OptionGroup var fileOptions: FleetFileOptions

    func run() throws {
        try reportingErrors {
            let db = try fleet.openDatabase()
            let plan = try fileOptions.plan(db)
            printPlan(plan)
            guard !plan.isEmpty else { return }
            let vault = plan.needsVault ? try fleet.openVault() : nil
            var provisioner = Provisioner(database: db, localRelaynode: fleet.localRelaynode)
            provisioner.startTimeout = 60
            print("")
            let out = FileHandle.standardOutput
            let lock = NSLock()
            let outcomes = try plan.apply(provisioner: provisioner, vault: vault) { line in
                lock.lock(); defer { lock.unlock() }
                out.write(Data((line + "\n").utf8))
            }
            let failed = outcomes.filter { !$0.ok }
            print("\napplied: \(outcomes.count - failed.count) done, \(failed.count) failed")
            if !failed.isEmpty { throw ExitCode(1) }
        }
    }
}
