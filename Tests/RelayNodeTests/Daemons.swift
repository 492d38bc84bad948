import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A long-running child process, stopped by PID when the test ends (SIGTERM, then SIGKILL).
final class Daemon: @unchecked Sendable {
    let name: String
    let logPath: String
    let pid: pid_t
    private var status: Int32?

    init(_ name: String, _ program: String, _ args: [String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        pid = try ChildProcess.spawn(program, args, output: logPath)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var isRunning: Bool {
        guard status == nil else { return false }
        var s: Int32 = 0
        let r = waitpid(pid, &s, WNOHANG)
        if r == pid { status = s; return false }
        return r == 0
    }

    /// Sends SIGTERM and waits up to `grace` seconds; returns the exit status, or nil if it had
    /// to be killed (or died by a signal).
    @discardableResult
    func stop(grace: Double = 10) -> Int32? {
        if isRunning {
            kill(pid, SIGTERM)
            let deadline = Date() + grace
            while isRunning && Date() < deadline { usleep(20_000) }
            if isRunning {
                kill(pid, SIGKILL)
                var s: Int32 = 0
                waitpid(pid, &s, 0)
                status = s
                return nil
            }
        }
        guard let s = status, s & 0x7f == 0 else { return nil }  // WIFEXITED
        return (s >> 8) & 0xff                                    // WEXITSTATUS
    }

    deinit { stop(grace: 2) }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

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
