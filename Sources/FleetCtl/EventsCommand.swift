import ArgumentParser
import FleetKit
import Foundation

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "What fleetctl did: hosts added and removed, relays created, keys vaulted and renewed.")
    @OptionGroup var fleet: FleetOptions
    @Option(help: "How many of the latest events to show.") var limit: Int = 50
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingErrors {
            let db = try fleet.openDatabase()
            let hosts = Dictionary(uniqueKeysWithValues: try db.hosts().map { ($0.id!, $0.name) })
            let relays = Dictionary(uniqueKeysWithValues: try db.relays().map { ($0.relay.id!, $0.relay.nickname) })
            let events = try db.events(limit: limit).reversed()
            if json {
                printJSON(events.map { e -> [String: Any] in
                    ["at_unix": e.at, "kind": e.kind.rawValue, "host": e.hostId.flatMap { hosts[$0] } ?? NSNull(),
                     "relay": e.relayId.flatMap { relays[$0] } ?? NSNull(), "detail": e.detail]
                })
                return
            }
            printTable(["TIME (UTC)", "EVENT", "HOST", "RELAY", "DETAIL"], events.map { e in
                [isoTime(e.at), e.kind.rawValue, e.hostId.flatMap { hosts[$0] } ?? "-", e.relayId.flatMap { relays[$0] } ?? "-", e.detail]
            })
        }
    }
}
