import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starting child processes from tests. Foundation's `Process` started from a Swift-concurrency
/// (libdispatch) thread passes that thread's signal mask on, which blocks SIGTERM: the child then
/// ignores SIGTERM and only dies by SIGKILL. `spawn` resets the mask and dispositions.
public enum ChildProcess {
    /// posix_spawn with default dispositions and no blocked signals; stdin /dev/null, stdout
    /// and stderr to `output`, no other inherited descriptors.
    public static func spawn(_ path: String, _ args: [String], output: String) throws -> pid_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // glibc ≥ 2.34 has posix_spawn_file_actions_addclosefrom_np, but the Glibc module does
        // not export it; look it up so tor inherits none of the test process's descriptors.
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(sym, to: CloseFrom.self)(&actions, 3)
        }

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
        guard rc == 0 else { throw SpawnError("posix_spawn \(path) failed: \(String(cString: strerror(rc)))") }
        return pid
    }

}

public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A spawned child process, reaped without blocking and stopped by PID.
public final class Child: @unchecked Sendable {
    public let pid: pid_t
    /// The raw wait status once the child has been reaped.
    public private(set) var waitStatus: Int32?

    public init(_ path: String, _ args: [String], output: String) throws {
        pid = try ChildProcess.spawn(path, args, output: output)
    }

    /// Reaps the child if it has exited (never blocks).
    public var isRunning: Bool {
        guard waitStatus == nil else { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid || (r < 0 && errno == ECHILD) { waitStatus = status; return false }
        return true
    }

    /// SIGTERM, then SIGKILL after `grace` seconds. Returns the raw wait status, or nil if it had
    /// to be killed. Idempotent.
    @discardableResult
    public func stop(grace: Double = 10) -> Int32? {
        guard isRunning else { return waitStatus }
        kill(pid, SIGTERM)
        let deadline = Date() + grace
        while isRunning && Date() < deadline { usleep(20_000) }
        guard isRunning else { return waitStatus }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        waitStatus = status
        return nil
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freeLoopbackPort() -> Int {
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
