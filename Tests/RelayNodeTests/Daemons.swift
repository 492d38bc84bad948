import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A long-running child process, stopped by PID when the test ends (SIGTERM, then SIGKILL).
final class Daemon: @unchecked Sendable {
    let name: String
    let logPath: String
    private let child: Child

    init(_ name: String, _ program: String, _ args: [String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        child = try Child(program, args, output: logPath)
    }

    var pid: pid_t { child.pid }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and waits up to `grace` seconds; returns the exit status, or nil if it had
    /// to be killed (or died by a signal).
    @discardableResult
    func stop(grace: Double = 10) -> Int32? {
        guard let s = child.stop(grace: grace), s & 0x7f == 0 else { return nil }  // WIFEXITED
        return (s >> 8) & 0xff                                                      // WEXITSTATUS
    }

    deinit { child.stop(grace: 2) }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freePort() -> Int { freeLoopbackPort() }

/// Polls `condition` until it holds or `seconds` pass.
func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date() + seconds
    while Date() < deadline {
        if condition() { return true }
        usleep(100_000)
    }
    return condition()
}

extension CTor {
    /// torrc lines that keep a test tor on loopback: a private-network flag and one fake
    /// directory authority on 127.0.0.1, so it never contacts the real Tor network.
    static func loopbackOnly(dataDirectory: String) -> String {
        """
        TestingTorNetwork 1
        DataDirectory \(dataDirectory)
        DirAuthority fakeauth orport=\(freePort()) no-v2 v3ident=0000000000000000000000000000000000000000 127.0.0.1:\(freePort()) 0000000000000000000000000000000000000000
        Log info file \(dataDirectory)/info.log
        SafeLogging 0
        Sandbox 0
        ShutdownWaitLength 0
        __OwningControllerProcess \(getpid())

        """
    }

    static func start(_ name: String, torrc: String, in dir: String) throws -> Daemon {
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try torrc.write(toFile: dir + "/torrc", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: dir + "/empty", contents: Data())
        return try Daemon(name, try tor, ["-f", dir + "/torrc", "--defaults-torrc", dir + "/empty"], logPath: dir + "/stdout.log")
    }
}
