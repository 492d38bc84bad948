import ArgumentParser
import Foundation
import RelayStore
import TorCrypto
#if canImport(Glibc)
import Glibc
#endif

/// Moving a relay's identity between hosts, the host side of `fleetctl migrate`: a sealed
/// export of the whole node database, its import, and the fence that keeps a moved identity
/// from ever running here again. Keys travel on stdin and stdout only, never on a command line.
struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Export, import, fence and remove the relay's identity (for moving it to another host).",
        subcommands: [Export.self, Import.self, Inspect.self, Fence.self, Unfence.self, Destroy.self, Status.self])

    /// `DataDirectory/FENCED`: present once the identity has been handed to another host.
    /// `relaynode run` refuses to start while it exists.
    struct FenceRecord: Codable {
        var epoch: Int64
        var reason: String
        var at: Int64
        var rsa_fingerprint: String

        static func path(_ dataDirectory: String) -> String { (dataDirectory as NSString).appendingPathComponent("FENCED") }

        static func read(_ dataDirectory: String) -> FenceRecord? {
            guard let data = FileManager.default.contents(atPath: path(dataDirectory)) else { return nil }
            // An unreadable fence still fences.
            return (try? JSONDecoder().decode(FenceRecord.self, from: data))
                ?? FenceRecord(epoch: 0, reason: "unreadable fence file", at: 0, rsa_fingerprint: "")
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the node database sealed to a public key (64 hex digits on stdin) to stdout. The relay must be stopped.")
        @OptionGroup var node: NodeOptions

        func run() throws {
            try reportingErrors {
                let dir = try node.resolvedDataDirectory()
                let publicKey = try readHexLine(bytes: SealedBox.publicKeyBytes, what: "public key")
                let lock = try DataDirectoryLock.acquire(dir)
                defer { lock.release() }
                let sealed = try IdentityBundle.snapshot(dataDirectory: dir).sealed(to: publicKey)
                FileHandle.standardOutput.write(Data(sealed))
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install a sealed bundle from stdin (first line: the secret key in hex) as this data directory's database.")
        @OptionGroup var node: NodeOptions
        @Option(help: "Refuse a bundle of any other RSA fingerprint.") var expectFingerprint: String?

        func run() throws {
            try reportingErrors {
                let dir = try node.resolvedDataDirectory()
                let bundle = try openFromStdin(expect: expectFingerprint)
                try SecureFiles.ensurePrivateDirectory(dir)
                let lock = try DataDirectoryLock.acquire(dir)
                defer { lock.release() }
                if let fence = FenceRecord.read(dir), fence.rsa_fingerprint == bundle.header.rsa_fingerprint || fence.rsa_fingerprint.isEmpty {
                    throw CLIError("\(dir) is fenced (\(fence.reason)); the identity was moved away from here. Run 'relaynode identity unfence' only if it is coming back")
                }
                try bundle.install(dataDirectory: dir)
                try printHeader(bundle.header)
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open and check a sealed bundle from stdin (first line: the secret key in hex); print its header as JSON.")
        @Option(help: "Fail unless the bundle holds this RSA fingerprint.") var expectFingerprint: String?

        func run() throws {
            try reportingErrors {
                try printHeader(try openFromStdin(expect: expectFingerprint).header)
            }
        }
    }

    struct Fence: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark the identity as moved away: 'relaynode run' refuses this data directory from now on. The relay must be stopped.")
        @OptionGroup var node: NodeOptions
        @Option(help: "The identity's new epoch (fleetctl's counter of moves).") var epoch: Int64
        @Option(help: "Why, for the refusal message (e.g. 'migrating to host-b').") var reason: String

        func run() throws {
            try reportingErrors {
                let dir = try node.resolvedDataDirectory()
                let lock = try DataDirectoryLock.acquire(dir)
                defer { lock.release() }
                let keys = try NodeDatabase(dataDirectory: dir, create: false).loadKeys()
                let record = FenceRecord(epoch: epoch, reason: reason, at: Int64(Date().timeIntervalSince1970),
                                         rsa_fingerprint: keys.rsaFingerprint.hex)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                try SecureFiles.write(Array(try encoder.encode(record)) + [0x0A], to: FenceRecord.path(dir), replace: true)
                print("fenced \(keys.rsaFingerprint.hex) at epoch \(epoch)")
            }
        }
    }

    struct Unfence: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the fence (when a move is rolled back and the identity stays here).")
        @OptionGroup var node: NodeOptions

        func run() throws {
            try reportingErrors {
                let dir = try node.resolvedDataDirectory()
                let lock = try DataDirectoryLock.acquire(dir)
                defer { lock.release() }
                if unlink(FenceRecord.path(dir)) != 0 && errno != ENOENT {
                    throw CLIError("cannot remove \(FenceRecord.path(dir)): \(String(cString: strerror(errno)))")
                }
                print("unfenced")
            }
        }
    }

    struct Destroy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase a fenced identity's data directory (after its move is verified elsewhere).")
        @OptionGroup var node: NodeOptions
        @Option(help: "The RSA fingerprint the data directory must hold (a guard against the wrong directory).") var fingerprint: String

        func run() throws {
            try reportingErrors {
                let dir = try node.resolvedDataDirectory()
                guard FileManager.default.fileExists(atPath: dir) else { print("already gone"); return }
                let lock = try DataDirectoryLock.acquire(dir)
                defer { lock.release() }
                guard let fence = FenceRecord.read(dir) else {
                    throw CLIError("\(dir) is not fenced; only an identity that has moved away is destroyed")
                }
                if FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(NodeDatabase.fileName)) {
                    let keys = try NodeDatabase(readingDataDirectory: dir).loadKeys()
                    guard keys.rsaFingerprint.hex == fingerprint.uppercased(), fence.rsa_fingerprint == keys.rsaFingerprint.hex else {
                        throw CLIError("\(dir) holds \(keys.rsaFingerprint.hex), not \(fingerprint); nothing removed")
                    }
                }
                // The database first (the secret keys), then everything else.
                for name in [NodeDatabase.fileName + "-wal", NodeDatabase.fileName + "-shm", NodeDatabase.fileName] {
                    let p = (dir as NSString).appendingPathComponent(name)
                    if unlink(p) != 0 && errno != ENOENT { throw CLIError("cannot remove \(p): \(String(cString: strerror(errno)))") }
                }
                try FileManager.default.removeItem(atPath: dir)
                print("destroyed \(fingerprint.uppercased()) in \(dir)")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print JSON: whether an identity is here, its fingerprint, whether it is fenced and whether a relaynode runs on it.")
        @OptionGroup var node: NodeOptions

        func run() throws {
            try reportingErrors {
                let dir = try node.resolvedDataDirectory()
                var out: [String: Any] = ["present": false, "fenced": false, "running": false]
                if FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(NodeDatabase.fileName)),
                   let keys = try? NodeDatabase(readingDataDirectory: dir).loadKeys() {
                    out["present"] = true
                    out["rsa_fingerprint"] = keys.rsaFingerprint.hex
                }
                if let fence = FenceRecord.read(dir) {
                    out["fenced"] = true
                    out["fence_epoch"] = fence.epoch
                }
                if FileManager.default.fileExists(atPath: dir) {
                    if let lock = try? DataDirectoryLock.acquire(dir) { lock.release() } else { out["running"] = true }
                }
                let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            }
        }
    }
}

/// Reads `bytes` bytes written as one line of hex on stdin.
private func readHexLine(bytes: Int, what: String) throws -> [UInt8] {
    guard let line = readLine(strippingNewline: true), let key = [UInt8](hex: line.trimmingCharacters(in: .whitespaces)),
          key.count == bytes else {
        throw CLIError("expected the \(what) as \(bytes * 2) hex digits on the first line of stdin")
    }
    return key
}

/// stdin: the secret key as a hex line, then the sealed bundle to its end.
private func openFromStdin(expect: String?) throws -> IdentityBundle {
    let input = Array(FileHandle.standardInput.readDataToEndOfFile())
    guard let nl = input.firstIndex(of: 0x0A), let key = [UInt8](hex: String(decoding: input[..<nl], as: UTF8.self)),
          key.count == SealedBox.secretKeyBytes else {
        throw CLIError("expected the secret key as \(SealedBox.secretKeyBytes * 2) hex digits on the first line of stdin, then the bundle")
    }
    let bundle = try IdentityBundle.open(Array(input[(nl + 1)...]), secretKey: key)
    if let expect, bundle.header.rsa_fingerprint != expect.uppercased() {
        throw CLIError("the bundle holds \(bundle.header.rsa_fingerprint), not the expected \(expect.uppercased())")
    }
    return bundle
}

private func printHeader(_ h: IdentityBundle.Header) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(h), as: UTF8.self))
}
