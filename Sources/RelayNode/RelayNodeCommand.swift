import ArgumentParser
import Foundation
import RelayStore
import TorCrypto
import TorProtocol

@main
struct RelayNodeCommand: AsyncParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "relaynode",
        abstract: "A Tor onion relay with its state in SQLite.",
        version: version,
        subcommands: [RunCommand.self, LinkProbeCommand.self, KeysCommand.self, DescriptorCommand.self, VerifyConfigCommand.self, BenchCommand.self,
                      StatsCommand.self, HealthCommand.self, IdentityCommand.self])
}

/// Options every subcommand that touches a relay takes.
struct NodeOptions: ParsableArguments {
    @Option(name: .long, help: "The relay's data directory (holds relay.sqlite3). Overrides DataDirectory in --config.")
    var dataDirectory: String?

    @Option(name: [.customShort("f"), .long], help: "A torrc-style configuration file.")
    var config: String?

    /// The parsed configuration (empty when no --config was given).
    func relayConfig() throws -> RelayConfig {
        guard let config else { return RelayConfig() }
        return try RelayConfig(torrc: Torrc(lines: TorrcFiles.lines(of: config)))
    }

    func resolvedDataDirectory() throws -> String {
        if let dataDirectory { return dataDirectory }
        if let d = try relayConfig().dataDirectory { return d }
        throw CLIError("no data directory: pass --data-directory DIR or set DataDirectory in the --config file")
    }

    func lifetimes() throws -> KeyLifetimes {
        var l = KeyLifetimes()
        l.signingKey = try relayConfig().signingKeyLifetime
        return l
    }

    func openDatabase(create: Bool) throws -> NodeDatabase {
        try NodeDatabase(dataDirectory: resolvedDataDirectory(), create: create)
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs `body`, turning the modules' errors into one line on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as RelayStoreError {
        fail(e.context)
    } catch let e as TorProtocolError {
        fail(e.context)
    } catch let e as CryptoError {
        fail(e.description)
    } catch let e as CLIError {
        fail(e.description)
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("relaynode: error: \(message)\n".utf8))
    Foundation.exit(1)
}

struct VerifyConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-config",
        abstract: "Check a configuration file, like tor --verify-config.")

    @OptionGroup var node: NodeOptions

    func run() throws {
        try reportingErrors {
            guard node.config != nil else { throw CLIError("verify-config needs --config FILE") }
            _ = try node.relayConfig()
            print("Configuration was valid")
        }
    }
}
