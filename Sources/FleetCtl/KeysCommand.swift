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
        @Argument(help: "The relay (or --due for every relay whose certificate expires soon).") var nickname: String?
        @Option(help: "Renew every relay whose signing certificate expires within this many days (for a timer: unattended, with --passphrase-file).") var due: Double?
        @Option(help: "Certificate lifetime in days.") var lifetimeDays: Int = 30
        @Flag(help: "Restart the relay instead of having it reload its keys (SIGHUP).") var restart = false

        func run() throws {
            try reportingErrors {
                let p = try fleet.provisioner()
                switch (nickname, due) {
                case (let nick?, nil):
                    _ = try p.database.relay(named: nick)
                    try renewOne(nick, p, try fleet.openVault())
                case (nil, let days?):
                    guard days > 0 else { throw FleetError(.invalid, "--due takes a positive number of days") }
                    // Expiries are read on every host first (the inventory's when a host cannot be
                    // asked; renewing it then fails and is reported).
                    let limit = Int64(Date().timeIntervalSince1970 + days * 86_400)
                    let status = try p.keyStatus()
                    let dueNow = status.filter { ($0.signingExpires ?? 0) <= limit }
                    guard !dueNow.isEmpty else {
                        print("no signing certificate expires within \(days) days (\(status.count) relays)")
                        return
                    }
                    let vault = try fleet.openVault()
                    var failed = 0
                    for k in dueNow {
                        do {
                            try renewOne(k.nickname, p, vault)
                        } catch let e as FleetError {
                            failed += 1
                            print("\(k.nickname): FAILED: \(e.context)")
                        }
                    }
                    print("renewed \(dueNow.count - failed) of \(dueNow.count) due (of \(status.count) relays)")
                    if failed > 0 { throw ExitCode(1) }
                default:
                    throw FleetError(.invalid, "give a relay's nickname or --due DAYS, not both")
                }
            }
        }

        func renewOne(_ nickname: String, _ p: Provisioner, _ vault: Vault) throws {
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
