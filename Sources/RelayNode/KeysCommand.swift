import ArgumentParser
import Foundation
import RelayStore
import TorCrypto
import TorProtocol

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, inspect, import, export and rotate the relay's keys.",
        subcommands: [
            Generate.self, Show.self, ImportCTor.self, ExportCTor.self, RotateOnion.self,
            RenewSigning.self, SignCert.self, InstallSigningCert.self, OfflineMaster.self,
            FamilyGenerate.self, FamilyInstall.self, FamilyRemove.self,
        ])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Generate a new relay identity in the data directory.")
        @OptionGroup var node: NodeOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let now = Date()
                var rng = SystemRandom()
                let keys = try RelayKeys.generate(now: now, lifetimes: node.lifetimes(), using: &rng)
                let db = try node.openDatabase(create: true)
                try db.saveKeys(keys, events: [KeyEvent(at: now, kind: .generated, role: "all", detail: keys.rsaFingerprint.hex)],
                                requireEmpty: true)
                try printStatus(KeyStatus(keys: keys, now: now, nickname: node.relayConfig().nickname), json: json)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print fingerprints, key ages and certificate expiries.")
        @OptionGroup var node: NodeOptions
        @Flag(help: "Print JSON (rsa_fingerprint, ed25519_identity, …) for scripts.") var json = false

        func run() throws {
            try reportingErrors {
                let keys = try node.openDatabase(create: false).loadKeys()
                try printStatus(KeyStatus(keys: keys, now: Date(), nickname: node.relayConfig().nickname,
                                          lifetimes: node.lifetimes()), json: json)
            }
        }
    }

    struct ImportCTor: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-ctor",
            abstract: "Adopt the identity in a C tor DataDirectory (or its keys/ directory).")
        @OptionGroup var node: NodeOptions
        @Argument(help: "The C tor DataDirectory or keys directory.") var directory: String

        func run() throws {
            try reportingErrors {
                let now = Date()
                var rng = SystemRandom()
                let (keys, report) = try CTorKeyDirectory.read(from: directory, now: now, lifetimes: node.lifetimes(), using: &rng)
                // C tor's bandwidth history comes along when its state file is there; a state
                // file that does not parse costs the history, not the adoption.
                var history: (path: String, bins: [BandwidthBin])?
                var notes = report.notes
                if let statePath = Self.stateFile(of: directory) {
                    do {
                        let text = try String(contentsOfFile: statePath, encoding: .utf8)
                        history = (statePath, try CTorBandwidthState(stateText: text, source: statePath).bins(now: Int64(now.timeIntervalSince1970)))
                    } catch let e as TorProtocolError {
                        notes.append("bandwidth history not imported: \(e.context)")
                    } catch {
                        notes.append("bandwidth history not imported: cannot read \(statePath): \(error.localizedDescription)")
                    }
                }
                let db = try node.openDatabase(create: true)
                try db.saveKeys(keys, events: [KeyEvent(at: now, kind: .imported, role: "all",
                                                        detail: "from \(directory): \(keys.rsaFingerprint.hex)")],
                                requireEmpty: true)
                if let (path, bins) = history, let first = bins.first {
                    try db.importBandwidth(bins)
                    let total = bins.reduce(TrafficTotals()) { $0 + $1.bytes }
                    notes.append("bandwidth history from \(path): \(bins.count) 15-minute bins since \(iso(Date(timeIntervalSince1970: TimeInterval(first.start)))), read \(total.read) bytes, written \(total.written) bytes")
                }
                for n in notes { print("note: \(n)") }
                try printStatus(KeyStatus(keys: keys, now: now, nickname: node.relayConfig().nickname), json: false)
            }
        }

        /// C tor's `state` file beside the keys: DIR/state, or DIR/../state when DIR is keys/.
        static func stateFile(of directory: String) -> String? {
            let dir = (directory as NSString).standardizingPath
            var candidates = [(dir as NSString).appendingPathComponent("state")]
            if (dir as NSString).lastPathComponent == "keys" {
                candidates.append(((dir as NSString).deletingLastPathComponent as NSString).appendingPathComponent("state"))
            }
            return candidates.first { FileManager.default.fileExists(atPath: $0) }
        }
    }

    struct ExportCTor: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-ctor",
            abstract: "Write the identity as C tor key files into DIR/keys (DIR must not hold keys already).")
        @OptionGroup var node: NodeOptions
        @Argument(help: "A C tor DataDirectory to write keys/ into.") var directory: String

        func run() throws {
            try reportingErrors {
                let db = try node.openDatabase(create: false)
                let keys = try db.loadKeys()
                let files = try CTorKeyDirectory.write(keys, to: directory)
                try db.saveKeys(keys, events: [KeyEvent(at: Date(), kind: .exported, role: "all", detail: "to \(directory)")])
                for f in files { print("wrote \(f)") }
            }
        }
    }

    struct RotateOnion: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-onion",
            abstract: "Replace the onion keys now; the old ones stay valid for the grace period.")
        @OptionGroup var node: NodeOptions

        func run() throws {
            try reportingErrors {
                let db = try node.openDatabase(create: false)
                var keys = try db.loadKeys()
                var rng = SystemRandom()
                let now = Date()
                try keys.rotateOnionKeys(now: now, lifetimes: node.lifetimes(), using: &rng)
                try db.saveKeys(keys, events: [KeyEvent(at: now, kind: .rotated, role: "onion",
                                                        detail: keys.onionCurrent.ntor.publicKey.bytes.base64Unpadded)])
                print("new ntor onion key \(keys.onionCurrent.ntor.publicKey.bytes.base64Unpadded); previous accepted until \(iso(keys.onionPreviousExpires!))")
            }
        }
    }

    struct RenewSigning: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "renew-signing",
            abstract: "Issue a new signing key and certificate with the master key held here.")
        @OptionGroup var node: NodeOptions
        @Flag(help: "Only renew when the certificate is within a day of expiry.") var ifNeeded = false

        func run() throws {
            try reportingErrors {
                let db = try node.openDatabase(create: false)
                var keys = try db.loadKeys()
                let now = Date()
                let lifetimes = try node.lifetimes()
                if ifNeeded && !keys.signingRenewalDue(now: now, lifetimes: lifetimes) {
                    print("signing certificate valid until \(iso(keys.signingCertExpiration)); nothing to do")
                    return
                }
                var rng = SystemRandom()
                try keys.renewSigningKey(now: now, lifetimes: lifetimes, using: &rng)
                try db.saveKeys(keys, events: [KeyEvent(at: now, kind: .renewed, role: KeyRole.ed25519Signing.rawValue,
                                                        detail: "expires \(iso(keys.signingCertExpiration))")])
                print("new signing certificate valid until \(iso(keys.signingCertExpiration))")
            }
        }
    }

    struct SignCert: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-cert",
            abstract: "Offline step: with a master key file, issue a signing key and certificate (C tor file format).",
            discussion: """
            Run where the master identity key is kept (like `tor --keygen`). Writes \
            ed25519_signing_secret_key and ed25519_signing_cert into --out; copy them to the relay \
            host and load them with `relaynode keys install-signing-cert`.
            """)
        @Option(help: "Directory holding ed25519_master_id_secret_key (C tor format).") var masterKeyDir: String
        @Option(help: "Directory to write the signing key and certificate into (created 0700).") var out: String
        @Option(help: "Certificate lifetime in days.") var lifetimeDays: Int = 30

        func run() throws {
            try reportingErrors {
                guard (2...3650).contains(lifetimeDays) else { throw CLIError("--lifetime-days must be between 2 and 3650") }
                let dir = CTorKeyDirectory.keysDirectory(for: masterKeyDir)
                let path = (dir as NSString).appendingPathComponent(CTorKeyDirectory.masterSecret)
                try SecureFiles.checkPrivateFile(path)
                let master = try CTorKeyFile.decodeEd25519Secret(SecureFiles.read(path), tag: "type0", source: path)
                var rng = SystemRandom()
                let (key, cert) = try RelayKeys.issueSigningKey(master: master, now: Date(),
                                                                lifetime: TimeInterval(lifetimeDays) * 86_400, using: &rng)
                try SecureFiles.ensurePrivateDirectory(out)
                let keyPath = (out as NSString).appendingPathComponent(CTorKeyDirectory.signingSecret)
                let certPath = (out as NSString).appendingPathComponent(CTorKeyDirectory.signingCert)
                try SecureFiles.write(CTorKeyFile.encodeEd25519Secret(key, tag: "type4"), to: keyPath, replace: false)
                try SecureFiles.write(CTorKeyFile.encodeCert(cert), to: certPath, replace: false)
                print("wrote \(keyPath)\nwrote \(certPath)\ncertificate for master \(master.publicKey) valid until \(iso(cert.expiration))")
            }
        }
    }

    struct InstallSigningCert: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install-signing-cert",
            abstract: "Load a signing key and certificate issued elsewhere (by sign-cert or fleetctl).")
        @OptionGroup var node: NodeOptions
        @Argument(help: "Directory holding ed25519_signing_secret_key and ed25519_signing_cert.") var directory: String

        func run() throws {
            try reportingErrors {
                let db = try node.openDatabase(create: false)
                var keys = try db.loadKeys()
                let keyPath = (directory as NSString).appendingPathComponent(CTorKeyDirectory.signingSecret)
                let certPath = (directory as NSString).appendingPathComponent(CTorKeyDirectory.signingCert)
                try SecureFiles.checkPrivateFile(keyPath)
                let key = try CTorKeyFile.decodeEd25519Secret(SecureFiles.read(keyPath), tag: "type4", source: keyPath)
                let cert = try CTorKeyFile.decodeCert(SecureFiles.read(certPath), source: certPath)
                let now = Date()
                do {
                    try keys.installSigningKey(key, cert: cert, now: now)
                } catch let e as TorProtocolError {
                    throw CLIError("\(certPath): \(e.context); nothing was installed")
                }
                try db.saveKeys(keys, events: [KeyEvent(at: now, kind: .installed, role: KeyRole.ed25519Signing.rawValue,
                                                        detail: "expires \(iso(keys.signingCertExpiration))")])
                print("installed signing certificate valid until \(iso(keys.signingCertExpiration))")
            }
        }
    }

    struct OfflineMaster: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "offline-master",
            abstract: "Move the master identity secret key out of the node into DIR, then erase it here.")
        @OptionGroup var node: NodeOptions
        @Option(help: "Directory to write ed25519_master_id_secret_key and _public_key into.") var out: String

        func run() throws {
            try reportingErrors {
                let db = try node.openDatabase(create: false)
                var keys = try db.loadKeys()
                guard let secret = keys.masterSecret else {
                    throw CLIError("the master identity key is already offline")
                }
                try SecureFiles.ensurePrivateDirectory(out)
                let secretPath = (out as NSString).appendingPathComponent(CTorKeyDirectory.masterSecret)
                let publicPath = (out as NSString).appendingPathComponent(CTorKeyDirectory.masterPublic)
                try SecureFiles.write(CTorKeyFile.encodeEd25519Secret(secret, tag: "type0"), to: secretPath, replace: false)
                try SecureFiles.write(CTorKeyFile.encodeEd25519Public(keys.masterPublic, tag: "type0"), to: publicPath, replace: false)
                // Read it back before erasing: at least one complete copy must always exist.
                let back = try CTorKeyFile.decodeEd25519Secret(SecureFiles.read(secretPath), tag: "type0", source: secretPath)
                guard back.publicKey == keys.masterPublic else {
                    throw CLIError("\(secretPath) did not read back correctly; the master key was kept in the node")
                }
                keys.removeMasterSecret()
                try db.saveKeys(keys, events: [KeyEvent(at: Date(), kind: .masterOffline, role: KeyRole.ed25519Master.rawValue,
                                                        detail: "written to \(out)")])
                print("wrote \(secretPath)\nthe master identity secret key is no longer stored in \(db.path)")
            }
        }
    }
}

func iso(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: d)
}

// MARK: family keys (proposal 321)

extension KeysCommand {
    struct FamilyGenerate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "family-generate",
            abstract: "Make a new family key as C tor's --keygen-family does: NAME.secret_family_key and NAME.public_family_id in DIR.",
            discussion: "Every relay of the family installs the secret file (keys family-install) and lists the printed FamilyId in its torrc.")
        @Argument(help: "The key's name (file base name).") var name: String
        @Option(help: "Directory to write the two files into (created 0700).") var out: String = "."

        func run() throws {
            try reportingErrors {
                guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else { throw CLIError("the family key name must be a plain file name, got '\(name)'") }
                try SecureFiles.ensurePrivateDirectory(out)
                var rng = SystemRandom()
                let key = Ed25519SecretKey.generate(using: &rng)
                let secretPath = (out as NSString).appendingPathComponent(name + CTorKeyDirectory.familySuffix)
                let publicPath = (out as NSString).appendingPathComponent(name + ".public_family_id")
                try SecureFiles.write(CTorKeyFile.encodeEd25519Secret(key, tag: "fmly-id"), to: secretPath, replace: false)
                try SecureFiles.write(Array((key.publicKey.base64 + "\n").utf8), to: publicPath, replace: false)
                print("wrote \(secretPath)\nwrote \(publicPath)\nFamilyId \(key.publicKey.base64)")
            }
        }
    }

    struct FamilyInstall: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "family-install",
            abstract: "Install a family secret key (a C tor .secret_family_key file, or '-' for standard input) into the node database.",
            discussion: """
            The relay proves membership for each key whose id its torrc lists as FamilyId. A running relay picks \
            the key up on SIGHUP (or within its key-maintenance interval). Installing the same key twice changes nothing.
            """)
        @OptionGroup var node: NodeOptions
        @Argument(help: "The .secret_family_key file, or - to read it from standard input.") var file: String
        @Option(help: "The key's name in the node database (default: the file name without .secret_family_key).") var name: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let bytes: [UInt8]
                if file == "-" {
                    bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
                } else {
                    try SecureFiles.checkPrivateFile(file)
                    bytes = try SecureFiles.read(file)
                }
                let base = (file as NSString).lastPathComponent
                guard let keyName = name ?? (file == "-" ? nil : base.hasSuffix(CTorKeyDirectory.familySuffix) ? String(base.dropLast(CTorKeyDirectory.familySuffix.count)) : base) else {
                    throw CLIError("reading the key from standard input needs --name")
                }
                let key = try CTorKeyFile.decodeEd25519Secret(bytes, tag: "fmly-id", source: file == "-" ? "standard input" : file)
                let db = try node.openDatabase(create: false)
                let added = try db.installFamilyKey(FamilyKey(name: keyName, key: key, createdAt: Date()))
                let id = key.publicKey.base64
                if json {
                    let data = try JSONSerialization.data(withJSONObject: ["family_id": id, "name": keyName, "installed": added], options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print(added ? "installed family key \(keyName): FamilyId \(id)" : "family key \(id) was already installed; nothing changed")
                }
            }
        }
    }

    struct FamilyRemove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "family-remove",
            abstract: "Remove the family key with this FamilyId from the node database (take the FamilyId out of the torrc first).")
        @OptionGroup var node: NodeOptions
        @Argument(help: "The FamilyId (base64 public id) of the key to remove.") var familyId: String

        func run() throws {
            try reportingErrors {
                let db = try node.openDatabase(create: false)
                let id = String(familyId.reversed().drop(while: { $0 == "=" }).reversed())
                if try node.relayConfig().familyIds.contains(id) {
                    throw CLIError("\(node.config ?? "the torrc") still lists FamilyId \(id); take that line out first (the relay would not start without the key)")
                }
                let removed = try db.removeFamilyKey(familyId: id)
                print(removed ? "removed family key \(id)" : "no family key \(id) was installed; nothing changed")
            }
        }
    }
}
