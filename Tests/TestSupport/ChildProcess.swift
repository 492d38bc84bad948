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
