import ArgumentParser
import FleetKit
import Foundation

struct RelayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay", abstract: "Create, list, show, start and stop relays.",
        subcommands: [Create.self, List.self, Show.self, Start.self, Stop.self, Retire.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a relay on a host: identity, master key into the vault, torrc, start, link-handshake check.")
        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The relay's nickname (1 to 19 letters and digits).") var nickname: String
        @Option(help: "The host to run it on.") var host: String
        @Option(help: "ADDR:PORT for the ORPort (ADDR defaults to the host's address when only a port is given).") var orport: String
        @Flag(help: "Make it an exit relay (default: non-exit).") var exit = false
        @Option(help: "Family group name: the relay gets the family's keys (FamilyId) and MyFamily; the other members are synced.") var family: String?
        @Option(help: "Seconds the new relay has to answer a link handshake.") var startTimeout: Double = 60

        func run() throws {
            try reportingErrors {
                var p = try fleet.provisioner()
                p.startTimeout = startTimeout
                let h = try p.database.host(named: host)
                let (addr, port) = try Provisioner.parseORPort(orport.contains(":") ? orport : "\(h.address):\(orport)")
                let request = Provisioner.CreateRequest(nickname: nickname, hostName: host, orAddress: addr, orPort: port,
                                                        role: exit ? .exit : .nonExit, family: family)
                try p.validate(request)
                let vault = try fleet.openVault()
                let v = try p.create(request, vault: vault)
                print("created \(nickname) on \(host): \(v.identity?.rsaFingerprint ?? "?") \(v.identity?.ed25519Id ?? "?")")
                print("verified by a Tor link handshake with \(addr):\(port); master key in \(vault.path)")
                if let family {
                    print("family \(family): FamilyId \(try p.database.familyKeys(family: family).map(\.familyId).joined(separator: " ")); syncing the members")
                    printFamilySync(p.syncFamily(family: family, vault: vault))
                }
            }
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a relay out of service: stop, fence, keep a sealed backup of its identity beside the fleet database, erase it from its host.")
        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The relay's nickname.") var nickname: String

        func run() throws {
            try reportingErrors {
                let p = try fleet.provisioner()
                let bundles = ((fleet.databasePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("bundles")
                let m = Migrator(database: p.database, provisioner: p, bundleDirectory: bundles)
                m.progress = { FileHandle.standardError.write(Data("  \($0)\n".utf8)) }
                let vault = try fleet.openVault()
                let family = try p.database.relay(named: nickname).relay.family
                let backup = try m.retire(nickname: nickname, vault: vault)
                print("retired \(nickname); sealed backup of its identity: \(backup) (key in the vault)")
                if let family {
                    print("family \(family): taking \(nickname) out of the members' MyFamily")
                    printFamilySync(p.syncFamily(family: family, vault: vault))
                }
            }
        }
    }

    static func json(_ v: RelayView) -> [String: Any] {
        ["nickname": v.relay.nickname, "host": v.host.name, "orport": "\(v.relay.orAddress):\(v.relay.orPort)",
         "role": v.relay.role.rawValue, "desired_state": v.relay.desiredState.rawValue, "family": v.relay.family ?? NSNull(),
         "rsa_fingerprint": v.identity?.rsaFingerprint ?? NSNull(), "ed25519_identity": v.identity?.ed25519Id ?? NSNull(),
         "live_host": v.liveHostName ?? NSNull(), "epoch": v.identity?.epoch ?? NSNull(),
         "master_in_vault": v.identity?.masterInVault ?? false,
         "signing_cert_expires_unix": v.identity?.signingExpires ?? NSNull()]
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the relays.")
        @OptionGroup var fleet: FleetOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let relays = try fleet.openDatabase().relays()
                if json { printJSON(relays.map(RelayCommand.json)); return }
                printTable(["NICKNAME", "HOST", "ORPORT", "ROLE", "STATE", "FINGERPRINT"], relays.map {
                    [$0.relay.nickname, $0.host.name, "\($0.relay.orAddress):\($0.relay.orPort)", $0.relay.role.rawValue,
                     $0.relay.desiredState.rawValue, $0.identity?.rsaFingerprint ?? "-"]
                })
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one relay.")
        @OptionGroup var fleet: FleetOptions
        @Argument var nickname: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let v = try fleet.openDatabase().relay(named: nickname)
                if json { printJSON(RelayCommand.json(v)); return }
                let rows: [(String, String)] = [
                    ("nickname", v.relay.nickname), ("host", v.host.name),
                    ("orport", "\(v.relay.orAddress):\(v.relay.orPort)"), ("role", v.relay.role.rawValue),
                    ("desired state", v.relay.desiredState.rawValue), ("family", v.relay.family ?? "-"),
                    ("rsa fingerprint", v.identity?.rsaFingerprint ?? "-"), ("ed25519 identity", v.identity?.ed25519Id ?? "-"),
                    ("live on", v.liveHostName ?? "nowhere"), ("epoch", v.identity.map { String($0.epoch) } ?? "-"),
                    ("master key", v.identity?.masterInVault == true ? "in the vault" : "-"),
                    ("signing cert expires", isoTime(v.identity?.signingExpires)),
                    ("directory", RelayLayout(host: v.host, nickname: v.relay.nickname).directory),
                ]
                for (k, val) in rows { print(k.padding(toLength: 22, withPad: " ", startingAt: 0) + val) }
            }
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a stopped relay on its host and prove its identity with a link handshake.")
        @OptionGroup var fleet: FleetOptions
        @Argument var nickname: String

        func run() throws {
            try reportingErrors {
                let started = try fleet.provisioner().restart(nickname: nickname, onlyIfStopped: true)
                print(started ? "started \(nickname); a link handshake proved its identity" : "\(nickname) is already running")
            }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a relay's process on its host (its pid file).")
        @OptionGroup var fleet: FleetOptions
        @Argument var nickname: String

        func run() throws {
            try reportingErrors {
                let stopped = try fleet.provisioner().stop(nickname: nickname)
                print(stopped ? "stopped \(nickname)" : "\(nickname) was not running")
            }
        }
    }
}

/// `fleetctl import-ctor HOST DIR`: a C tor relay's identity becomes a fleet relay.
struct ImportCTorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-ctor",
        abstract: "Adopt a stopped C tor relay's identity on a host: keys copied into a new relay, master key into the vault, started, verified.",
        discussion: """
        tor must be stopped (its DataDirectory lock free). Its keys/ directory is renamed to \
        keys.adopted-by-relaynode-NICKNAME once the keys are copied, so tor cannot run the same \
        identity again; if the adoption fails it is renamed back.
        """)
    @OptionGroup var fleet: FleetOptions
    @Argument(help: "The host the C tor relay is on.") var host: String
    @Argument(help: "Its DataDirectory on that host.") var directory: String
    @Option(help: "The relay's nickname in the fleet.") var nickname: String
    @Option(help: "ADDR:PORT (or PORT on the host's address) for the ORPort; the C tor relay's own is fine.") var orport: String
    @Flag(help: "Make it an exit relay (default: non-exit).") var exit = false
    @Option(help: "Family group name.") var family: String?
    @Option(help: "Seconds the relay has to answer a link handshake.") var startTimeout: Double = 60

    func run() throws {
        try reportingErrors {
            var p = try fleet.provisioner()
            p.startTimeout = startTimeout
            let h = try p.database.host(named: host)
            let (addr, port) = try Provisioner.parseORPort(orport.contains(":") ? orport : "\(h.address):\(orport)")
            let request = Provisioner.CreateRequest(nickname: nickname, hostName: host, orAddress: addr, orPort: port,
                                                    role: exit ? .exit : .nonExit, family: family, adoptCTorDirectory: directory)
            try p.validate(request)
            let vault = try fleet.openVault()
            let v = try p.create(request, vault: vault)
            print("adopted \(directory) on \(host) as \(nickname): \(v.identity?.rsaFingerprint ?? "?") \(v.identity?.ed25519Id ?? "?")")
            print("verified by a Tor link handshake with \(addr):\(port); master key in \(vault.path); C tor's keys kept in \(directory)/keys.adopted-by-relaynode-\(nickname)")
            if let family { printFamilySync(p.syncFamily(family: family, vault: vault)) }
        }
    }
}
