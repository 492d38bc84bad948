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

@discardableResult
func run(_ program: String, _ args: [String], timeout: TimeInterval = 60) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let pid = p.processIdentifier
    let killer = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    // Read both pipes fully before waiting, so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var o = Data(), e = Data()
    group.enter()
    DispatchQueue.global().async { o = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    e = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    killer.cancel()
    return RunResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
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
