import ArgumentParser
import FleetKit
import Foundation

struct VaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault", abstract: "The passphrase-sealed vault of offline master keys.",
        subcommands: [Initialize.self, Status.self, Backup.self, Restore.self])

    struct Initialize: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "init", abstract: "Create an empty vault.")
        @OptionGroup var fleet: FleetOptions
        @Option(help: "argon2id cost: interactive (64 MiB), moderate (256 MiB) or sensitive (1 GiB).") var kdf: String = "moderate"

        func run() throws {
            try reportingErrors {
                guard let cost = Vault.KDFCost.named(kdf) else {
                    throw FleetError(.invalid, "--kdf \(kdf) is not one of: interactive, moderate, sensitive")
                }
                var pass = try Passphrase.load(file: fleet.passphraseFile)
                defer { for i in pass.indices { pass[i] = 0 } }
                let v = try Vault.create(path: fleet.vaultPath, passphrase: pass, cost: cost)
                if let db = try? fleet.openDatabase() { try? db.record(FleetEvent(kind: .vaultInitialized, detail: v.path)) }
                print("created vault \(v.path) (argon2id, \(cost.opslimit) passes, \(cost.memlimit >> 20) MiB)")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the vault's header; with the passphrase, the identities it holds.")
        @OptionGroup var fleet: FleetOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let header = try Vault.readHeader(path: fleet.vaultPath)
                let canUnlock = fleet.passphraseFile != nil || ProcessInfo.processInfo.environment[Passphrase.environmentVariable] != nil
                let entries = canUnlock ? try fleet.openVault().contents.entries.values.sorted { $0.nickname < $1.nickname } : nil
                if json {
                    var o: [String: Any] = ["path": fleet.vaultPath, "kdf": "argon2id", "opslimit": header.cost.opslimit,
                                            "memlimit": header.cost.memlimit, "unlocked": entries != nil]
                    if let entries {
                        o["identities"] = entries.map { ["nickname": $0.nickname, "rsa_fingerprint": $0.rsaFingerprint,
                                                         "ed25519_identity": $0.ed25519Id, "stored_unix": $0.storedAt] }
                    }
                    printJSON(o)
                    return
                }
                print("vault \(fleet.vaultPath): argon2id \(header.cost.opslimit) passes, \(header.cost.memlimit >> 20) MiB; XSalsa20-Poly1305")
                guard let entries else { print("locked (pass --passphrase-file or set \(Passphrase.environmentVariable) to list its identities)"); return }
                print("\(entries.count) master key\(entries.count == 1 ? "" : "s")")
                for e in entries { print("  \(e.nickname)  \(e.rsaFingerprint)  \(e.ed25519Id)") }
            }
        }
    }

    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the sealed vault to FILE (still sealed with the same passphrase) and check that the copy opens.")
        @OptionGroup var fleet: FleetOptions
        @Argument(help: "Where to write the copy; an existing file is never overwritten.") var file: String

        func run() throws {
            try reportingErrors {
                var pass = try Passphrase.load(file: fleet.passphraseFile)
                defer { for i in pass.indices { pass[i] = 0 } }
                let n = try Vault.open(path: fleet.vaultPath, passphrase: pass).backup(to: file, passphrase: pass)
                print("wrote \(file): \(n) master key\(n == 1 ? "" : "s"), sealed; it opened with the passphrase")
            }
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the vault with a backup, after checking it opens and holds every vaulted identity of the inventory.")
        @OptionGroup var fleet: FleetOptions
        @Argument(help: "A file written by 'fleetctl vault backup'.") var file: String
        @Flag(help: "Restore even if the backup lacks identities the inventory has.") var force = false

        func run() throws {
            try reportingErrors {
                var pass = try Passphrase.load(file: fleet.passphraseFile)
                defer { for i in pass.indices { pass[i] = 0 } }
                let required = Set(try fleet.openDatabase().relays().compactMap { $0.identity }.filter(\.masterInVault).map(\.ed25519Id))
                let v = try Vault.restore(from: file, to: fleet.vaultPath, passphrase: pass, required: required, force: force)
                print("restored \(fleet.vaultPath) from \(file): \(v.contents.entries.count) master keys")
            }
        }
    }
}
