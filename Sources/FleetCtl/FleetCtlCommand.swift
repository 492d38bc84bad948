import ArgumentParser
import FleetKit

@main
struct FleetCtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetctl",
        abstract: "Operate a fleet of relaynode relays across hosts.",
        discussion: "Inventory, provisioning, offline master keys, migration and fleet statistics are not built yet (see README, 'Status').",
        version: FleetKit.version)
}
