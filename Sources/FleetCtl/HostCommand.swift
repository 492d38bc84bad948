import ArgumentParser
import FleetKit
import Foundation

struct HostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host", abstract: "Add, list, check and remove the hosts relays run on.",
        subcommands: [Add.self, List.self, Check.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a host to the inventory.")
        @OptionGroup var fleet: FleetOptions
        @Argument(help: "A name for the host (letters, digits, '.', '_', '-').") var name: String
        @Option(help: "local or ssh.") var transport: String = "local"
        @Option(help: "For ssh: [user@]host or an alias from your ssh config.") var ssh: String?
        @Option(help: "For ssh: an ssh_config file to use instead of yours (ssh -F).") var sshConfig: String?
        @Option(help: "The host's public address, the default for its relays' ORPorts.") var address: String
        @Option(help: "none, podman or docker.") var containerEngine: String = "none"
        @Option(help: "Absolute directory on the host under which each relay gets NICKNAME/.") var dataRoot: String = "/var/lib/relayfleet"
        @Option(help: "The relaynode binary on the host.") var relaynodePath: String = "relaynode"
        @Option(help: "With --container-engine podman|docker: the relaynode image relays run from (built from containers/Containerfile).") var image: String?

        func run() throws {
            try reportingErrors {
                guard let kind = TransportKind(rawValue: transport) else {
                    throw FleetError(.invalid, "--transport \(transport) is not one of: local, ssh")
                }
                guard let engine = ContainerEngine(rawValue: containerEngine) else {
                    throw FleetError(.invalid, "--container-engine \(containerEngine) is not one of: none, podman, docker")
                }
                if engine != .none && (image ?? "").isEmpty { throw FleetError(.invalid, "--container-engine \(engine.rawValue) needs --image (the relaynode image)") }
                if engine == .none && image != nil { throw FleetError(.invalid, "--image needs --container-engine podman or docker") }
                if kind == .ssh && ssh == nil { throw FleetError(.invalid, "an ssh host needs --ssh [user@]host") }
                if kind == .local && (ssh != nil || sshConfig != nil) { throw FleetError(.invalid, "--ssh and --ssh-config only apply to --transport ssh") }
                guard dataRoot.hasPrefix("/") else { throw FleetError(.invalid, "--data-root \(dataRoot) must be an absolute path") }
                let db = try fleet.openDatabase()
                let h = try db.addHost(HostRecord(name: name, transport: kind, sshTarget: ssh, sshConfig: sshConfig, address: address,
                                                  containerEngine: engine, dataRoot: dataRoot, relaynodePath: relaynodePath,
                                                  containerImage: image))
                print("added host \(h.name) (\(h.transportLabel))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the hosts.")
        @OptionGroup var fleet: FleetOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let db = try fleet.openDatabase()
                let hosts = try db.hosts()
                let relays = try db.relays()
                let count = { (h: HostRecord) in relays.filter { $0.host.id == h.id }.count }
                if json {
                    printJSON(hosts.map { h -> [String: Any] in
                        ["name": h.name, "transport": h.transport.rawValue, "ssh_target": h.sshTarget ?? NSNull(),
                         "address": h.address, "container_engine": h.containerEngine.rawValue, "container_image": h.containerImage ?? NSNull(), "data_root": h.dataRoot,
                         "relaynode_path": h.relaynodePath, "relays": count(h)]
                    })
                } else {
                    printTable(["NAME", "TRANSPORT", "ADDRESS", "ENGINE", "RELAYS", "DATA ROOT"], hosts.map {
                        [$0.name, $0.transportLabel, $0.address, $0.containerEngine.rawValue, String(count($0)), $0.dataRoot]
                    })
                }
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reach each host (or the named ones) and report its relaynode version; exit 1 if any fails.")
        @OptionGroup var fleet: FleetOptions
        @Argument(help: "Host names; all hosts when none.") var names: [String] = []

        func run() throws {
            try reportingErrors {
                let db = try fleet.openDatabase()
                let hosts = names.isEmpty ? try db.hosts() : try names.map { try db.host(named: $0) }
                var failed = false
                for h in hosts {
                    do {
                        print("\(h.name): ok, relaynode \(try Provisioner.checkHost(h)) (\(h.transportLabel))")
                    } catch {
                        failed = true
                        print("\(h.name): FAILED: \(error)")
                    }
                }
                if failed { throw ExitCode(1) }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a host that has no relays.")
        @OptionGroup var fleet: FleetOptions
        @Argument var name: String

        func run() throws {
            try reportingErrors {
                try fleet.openDatabase().removeHost(named: name)
                print("removed host \(name)")
            }
        }
    }
}
