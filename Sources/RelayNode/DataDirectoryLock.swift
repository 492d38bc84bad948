import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `DataDirectory/lock`: an exclusive `flock` that `relaynode run` holds while it runs, so a
/// second daemon on the same data directory stops with a clear error instead of sharing the
/// keys and database. The file holds the holder's pid (for the message); the lock itself is
/// the kernel's and goes away with the process, however it ends.
struct DataDirectoryLock {
    let fd: Int32
    let path: String

    static func acquire(_ dataDirectory: String) throws -> DataDirectoryLock {
        let path = (dataDirectory as NSString).appendingPathComponent("lock")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CLIError("cannot open \(path): \(String(cString: strerror(errno))) (does the DataDirectory exist? run 'relaynode keys generate' first)")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw CLIError("another relaynode\(holder.isEmpty ? "" : " (pid \(holder))") is running with the data directory \(dataDirectory); stop it first")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return DataDirectoryLock(fd: fd, path: path)
    }

    /// Whether a relaynode holds the lock now; nil when there is no lock file (it never ran
    /// here). Works across PID namespaces (a relay in a container, the question asked from
    /// another), where the pid in the file would not. Opens read-only and creates nothing.
    static func isHeld(_ dataDirectory: String) -> Bool? {
        let path = (dataDirectory as NSString).appendingPathComponent("lock")
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK ? true : nil
    }

    func release() {
        _ = ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }
}
