import ArgumentParser
import FleetKit
import Foundation

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Signing certificates: expiries and renewal from the vault.",
        subcommands: [Status.self, Renew.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each relay's signing-certificate expiry, read from its host.")
        @OptionGroup var fleet: FleetOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let now = Date()
                let rows = try fleet.provisioner().keyStatus(now: now)
                if json {
                    printJSON(rows.map { r -> [String: Any] in
                        ["nickname": r.nickname, "host": r.host, "rsa_fingerprint": r.rsaFingerprint ?? NSNull(),
                         "signing_cert_expires_unix": r.signingExpires ?? NSNull(),
                         "master_key": r.masterOnline.map { $0 ? "online" : "offline" } ?? NSNull(),
                         "problem": r.problem ?? NSNull()]
                    })
                } else {
                    printTable(["NICKNAME", "HOST", "SIGNING CERT EXPIRES", "DAYS LEFT", "PROBLEM"], rows.map { r in
                        let days = r.signingExpires.map { String(format: "%.1f", (Double($0) - now.timeIntervalSince1970) / 86_400) } ?? "-"
                        return [r.nickname, r.host, isoTime(r.signingExpires), days, r.problem ?? ""]
                    })
                }
                if rows.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
            }
        }
    }

    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a new certificate with the vault's master key and install it on the relay's host.")
        @OptionGroup var fleet: FleetOptions
        @Argument var nickname: String
        @Option(help: "Certificate lifetime in days.") var lifetimeDays: Int = 30
        @Flag(help: "Restart the relay instead of having it reload its keys (SIGHUP).") var restart = false

        func run() throws {
            try reportingErrors {
                let p = try fleet.provisioner()
                _ = try p.database.relay(named: nickname)
                let vault = try fleet.openVault()
                let expires = try p.renew(nickname: nickname, vault: vault, lifetimeDays: lifetimeDays)
                print("installed a new signing certificate on \(nickname), valid until \(isoTime(expires))")
                if restart {
                    try p.restart(nickname: nickname)
                    print("restarted \(nickname); a link handshake proved its identity")
                } else if try p.reloadKeys(nickname: nickname, expecting: expires) {
                    print("\(nickname) reloaded its keys (SIGHUP) and serves the new certificate")
                } else {
                    print("\(nickname) is not running; it loads the new certificate when it starts")
                }
            }
        }
    }
}
