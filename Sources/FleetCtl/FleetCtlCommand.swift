import ArgumentParser
import FleetKit
import Foundation

@main
struct FleetCtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetctl",
        abstract: "Operate a fleet of relaynode relays across hosts.",
        discussion: """
        The inventory lives in --fleet-db (default $XDG_DATA_HOME/relayfleet/fleet.sqlite3), the \
        relays' offline master keys in the vault (--vault, default vault.sealed beside the \
        database). Hosts are reached locally or with the system ssh in batch mode.
        """,
        version: FleetKit.version,
        subcommands: [PlanCommand.self, ApplyCommand.self, HostCommand.self, RelayCommand.self, MigrateCommand.self, ImportCTorCommand.self, VaultCommand.self, KeysCommand.self, FamilyCommand.self, StatsCommand.self, ServeMetricsCommand.self, HealthCommand.self, EventsCommand.self])

    /// Accepts the fleet-wide options before the subcommand too (`fleetctl --fleet-db F host list`):
    /// they are moved behind it, where every subcommand declares them.
    static func main() {
        main(hoistingGlobalOptions(Array(CommandLine.arguments.dropFirst())))
    }

    static let globalOptions: Set<String> = ["--fleet-db", "--vault", "--passphrase-file", "--relaynode"]

    static func hoistingGlobalOptions(_ args: [String]) -> [String] {
        var globals: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if globalOptions.contains(a), i + 1 < args.count {
                globals += [a, args[i + 1]]; i += 2
            } else if let eq = a.firstIndex(of: "="), globalOptions.contains(String(a[..<eq])) {
                globals.append(a); i += 1
            } else {
                break
            }
        }
        return Array(args[i...]) + globals
    }
}

/// Options every subcommand takes.
struct FleetOptions: ParsableArguments {
    @Option(help: "The fleet database (default: $XDG_DATA_HOME/relayfleet/fleet.sqlite3 or ~/.local/share/relayfleet/fleet.sqlite3).")
    var fleetDb: String?

    @Option(help: "The vault file (default: vault.sealed beside the fleet database).")
    var vault: String?

    @Option(help: "A file holding the vault passphrase (mode 0600). Otherwise $RELAYFLEET_PASSPHRASE.")
    var passphraseFile: String?

    @Option(help: "The relaynode on this machine, for link probes and signing (default: beside fleetctl, else on PATH).")
    var relaynode: String?

    var databasePath: String { fleetDb ?? FleetDatabase.defaultPath() }

    var vaultPath: String {
        vault ?? ((databasePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("vault.sealed")
    }

    func openDatabase() throws -> FleetDatabase {
        // Work across hosts says how far it has come, on standard error: when a person watches
        // (a terminal) or RELAYFLEET_PROGRESS=1 asks; standard output stays the result alone.
        if isatty(2) == 1 || ProcessInfo.processInfo.environment["RELAYFLEET_PROGRESS"] == "1" {
            FleetProgress.shared.setSink { FileHandle.standardError.write(Data("  \($0)\n".utf8)) }
        }
        return try FleetDatabase(path: databasePath)
    }

    func openVault() throws -> Vault {
        var pass = try Passphrase.load(file: passphraseFile)
        defer { for i in pass.indices { pass[i] = 0 } }
        return try Vault.open(path: vaultPath, passphrase: pass)
    }

    var localRelaynode: String {
        if let relaynode { return relaynode }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let beside = ((exe as NSString).deletingLastPathComponent as NSString).appendingPathComponent("relaynode")
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : "relaynode"
    }

    func provisioner() throws -> Provisioner {
        Provisioner(database: try openDatabase(), localRelaynode: localRelaynode)
    }
}

/// Runs `body`; a FleetError becomes one line on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as FleetError {
        FileHandle.standardError.write(Data("fleetctl: error: \(e.context)\n".utf8))
        throw ExitCode(1)
    }
}

/// A plain text table: a header row, then rows, columns padded to the widest cell.
func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
    for row in [header] + rows {
        print(row.indices.map { i in i == row.count - 1 ? row[i] : row[i].padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  "))
    }
}

func printJSON(_ value: Any) {
    let data = (try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
    print(String(decoding: data, as: UTF8.self))
}

func isoTime(_ unix: Int64?) -> String {
    guard let unix else { return "-" }
    let f = ISO8601DateFormatter()
    return f.string(from: Date(timeIntervalSince1970: TimeInterval(unix)))
}
