import FleetKit
import Foundation

/// Runs a program to completion with a hard time limit (killed by PID when it is exceeded).
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Programs {
    /// The directory holding the test bundle, which also holds the built `relaynode`.
    static let binDirectory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // swift test runs <bin>/relayfleetPackageTests.xctest (a file on Linux).
        while !dir.isEmpty, dir != "/", !FileManager.default.isExecutableFile(atPath: dir + "/relaynode") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }()

    static var relaynode: String { binDirectory + "/relaynode" }

    static func which(_ name: String) -> String? {
        for d in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(d)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }
}

/// Runs through FleetKit's `Subprocess` (posix_spawn, no inherited descriptors, waitpid): not
/// Foundation's `Process`, whose exit detection waits for every holder of a socket the child
/// inherits, so a child that starts a daemon (tmux) is never seen to exit.
@discardableResult
func run(_ program: String, _ args: [String], timeout: TimeInterval = 60) throws -> RunResult {
    let r = try Subprocess.run([program] + args, timeout: timeout, environment: ProcessInfo.processInfo.environment)
    return RunResult(status: r.status, stdout: r.stdoutText, stderr: r.stderrText)
}

/// `relaynode ARGS`, expecting success; the failure message carries stderr.
@discardableResult
func relaynode(_ args: String...) throws -> RunResult {
    try run(Programs.relaynode, args)
}

final class TempDirectory {
    let path: String
    init() {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("relayfleet-cli-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        path = base.path
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}

func mode(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1
}

func jsonObject(_ text: String) throws -> [String: Any] {
    guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw CLIFailure("not a JSON object: \(text)")
    }
    return o
}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
