import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a command printed and how it ended.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    /// The last non-empty line of stderr, for error messages.
    public var lastErrorLine: String {
        stderrText.split(separator: "\n").last.map(String.init) ?? "no error output"
    }
}

/// Runs a program to completion: argv (never a shell string), bytes on stdin, both outputs
/// captured, and a time limit after which its process group is killed by ID. Started with
/// posix_spawn, a clean signal mask and default dispositions, so it also behaves when called
/// from a thread of Swift concurrency.
public enum Subprocess {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    static let addCloseFrom: CloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }

    /// Environment variables a child does not inherit.
    public static let withheld: Set<String> = ["RELAYFLEET_PASSPHRASE"]

    public static func run(_ argv: [String], stdin input: [UInt8] = [], timeout: TimeInterval,
                           environment: [String: String]? = nil) throws -> CommandResult {
        precondition(!argv.isEmpty)
        // A child that exits without reading its stdin must not kill us with SIGPIPE on the
        // next write (the write then fails with EPIPE); children get the default back.
        signal(SIGPIPE, SIG_IGN)
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        // Glibc's module does not export pipe2; close-on-exec is set right after creation.
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw FleetError(.io, "cannot create pipes: \(String(cString: strerror(errno)))")
        }
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // Nothing else of ours is inherited: no database, socket or another child's pipe (a
        // daemon that kept another child's pipe open would make that child's caller wait for
        // the daemon). glibc >= 2.34 has posix_spawn_file_actions_addclosefrom_np; the Glibc
        // module does not export it, so it is looked up.
        if let closeFrom = Subprocess.addCloseFrom { _ = closeFrom(&actions, 3) }

        let args: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in args { free(a) } }
        // Children inherit the environment without the vault passphrase: not ssh (whose SendEnv
        // could forward it), not relaynode (whose detached `run` would keep it in
        // /proc/PID/environ). An explicit `environment` is passed as given.
        let env = environment ?? ProcessInfo.processInfo.environment.filter { !Subprocess.withheld.contains($0.key) }
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = envp.withUnsafeMutableBufferPointer { posix_spawnp(&pid, argv[0], &actions, &attr, args, $0.baseAddress) }
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw FleetError(.io, "cannot start \(argv[0]): \(String(cString: strerror(rc)))")
        }

        var out = [UInt8](), err = [UInt8]()
        var inOffset = 0
        var inFD: Int32 = inPipe[1]
        if input.isEmpty { close(inFD); inFD = -1 } else { _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK) }
        var open = [outPipe[0], errPipe[0]]
        let deadline = Date() + timeout
        var timedOut = false
        var buf = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty || inFD >= 0 {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { timedOut = true; break }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), Int32(min(left, 1) * 1000) + 1)
            if n < 0 { if errno == EINTR { continue }; break }
            for p in fds where p.revents != 0 {
                if p.fd == inFD {
                    let w = input.withUnsafeBytes { Glibc.write(inFD, $0.baseAddress! + inOffset, $0.count - inOffset) }
                    if w > 0 { inOffset += w }
                    if w < 0 && errno != EAGAIN && errno != EINTR || inOffset == input.count { close(inFD); inFD = -1 }
                } else {
                    let r = read(p.fd, &buf, buf.count)
                    if r > 0 {
                        if p.fd == outPipe[0] { out += buf[0..<r] } else { err += buf[0..<r] }
                    } else if r == 0 || (errno != EINTR && errno != EAGAIN) {
                        close(p.fd)
                        open.removeAll { $0 == p.fd }
                    }
                }
            }
        }
        if inFD >= 0 { close(inFD) }
        for fd in open { close(fd) }
        if timedOut { kill(-pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut {
            throw FleetError(.timeout, "\(argv[0]) did not finish within \(Int(timeout)) s and was stopped")
        }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return CommandResult(status: code, stdout: out, stderr: err)
    }
}
