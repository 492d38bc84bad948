import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// File-system rules for secrets: directories 0700, files 0600, written atomically (temp file,
/// fsync, rename or link, fsync of the directory) so a crash never leaves a half-written key.
public enum SecureFiles {
    /// Creates `path` (and missing parents) as 0700, or checks an existing directory is not
    /// group- or world-accessible.
    public static func ensurePrivateDirectory(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw RelayStoreError(.io, "\(path) exists and is not a directory")
            }
            guard st.st_uid == geteuid() else {
                throw RelayStoreError(.permissions, "\(path) is owned by uid \(st.st_uid), not by this user (uid \(geteuid()))")
            }
            let mode = st.st_mode & 0o777
            guard mode & 0o077 == 0 else {
                throw RelayStoreError(.permissions, String(format: "%@ has mode %04o; it holds secrets and must not be accessible to others: run chmod 700 %@", path, mode, path))
            }
            return
        }
        // Not NSString.deletingLastPathComponent: swift-corelibs-foundation traps on a
        // one-character relative path such as "d".
        let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
        if !parent.isEmpty, parent != path, !FileManager.default.fileExists(atPath: parent) {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw RelayStoreError(.io, "cannot create directory \(path): \(String(cString: strerror(errno)))")
        }
        chmod(path, 0o700)  // in case the umask removed bits we want; never adds access for others
    }

    /// Refuses a secret file that others can read or write.
    public static func checkPrivateFile(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw RelayStoreError(.notFound, "\(path): \(String(cString: strerror(errno)))")
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw RelayStoreError(.permissions, String(format: "%@ has mode %04o; a secret key file must be readable by its owner only: run chmod 600 %@", path, mode, path))
        }
    }

    public static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RelayStoreError(.notFound, "cannot read \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")")
        }
        return Array(data)
    }

    /// Writes `bytes` to `path` with mode 0600, atomically. With `replace: false` an existing
    /// file is an error and is left untouched.
    public static func write(_ bytes: [UInt8], to path: String, replace: Bool) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = "\(dir.isEmpty ? "." : dir)/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RelayStoreError(.io, "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        var written = 0
        let rc: Bool = bytes.withUnsafeBytes { p in
            while written < p.count {
                let n = Glibc.write(fd, p.baseAddress! + written, p.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return true
        }
        guard rc, fchmod(fd, 0o600) == 0, fsync(fd) == 0 else {
            let msg = String(cString: strerror(errno))
            close(fd)
            throw RelayStoreError(.io, "cannot write \(path): \(msg)")
        }
        close(fd)
        if replace {
            guard rename(tmp, path) == 0 else { throw RelayStoreError(.io, "cannot rename onto \(path): \(String(cString: strerror(errno)))") }
        } else {
            guard link(tmp, path) == 0 else {
                if errno == EEXIST { throw RelayStoreError(.alreadyExists, "\(path) already exists; refusing to overwrite it") }
                throw RelayStoreError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
            }
            unlink(tmp)
        }
        ok = true
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
