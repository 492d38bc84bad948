import Foundation

/// Debian's real C tor, used as the reference peer. The interop tests fail (not skip) when it
/// is missing: `make test` installs it.
enum CTor {
    static var tor: String {
        get throws {
            guard let t = Programs.which("tor") else { throw CLIFailure("tor is not installed (apt-get install tor)") }
            return t
        }
    }

    /// Runs `tor --list-fingerprint` on `dataDirectory` (creating keys there if it has none)
    /// and returns the (RSA, Ed25519) identities C tor computed, read from the files it writes.
    static func listFingerprint(_ dataDirectory: String, extraArgs: [String] = []) throws -> (rsa: String, ed: String, output: RunResult) {
        let empty = (dataDirectory as NSString).deletingLastPathComponent + "/empty-torrc"
        FileManager.default.createFile(atPath: empty, contents: Data())
        let r = try run(try tor, ["--list-fingerprint", "--DataDirectory", dataDirectory, "--ORPort", "1",
                                  "--Nickname", "interop", "--defaults-torrc", empty, "-f", empty] + extraArgs, timeout: 60)
        guard r.status == 0 else { throw CLIFailure("tor --list-fingerprint failed: \(r.stdout)\(r.stderr)") }
        func field(_ file: String) throws -> String {
            let text = try String(contentsOfFile: dataDirectory + "/" + file, encoding: .utf8)
            let parts = text.split(separator: " ")
            guard parts.count == 2 else { throw CLIFailure("unexpected \(file): \(text)") }
            return parts[1].trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return (try field("fingerprint"), try field("fingerprint-ed25519"), r)
    }
}
