import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files fleetctl keeps for the operator: directories 0700, files 0600, written atomically
/// (temporary file, fsync, rename, fsync of the directory) so a crash leaves old or new, never half.
/// The same rules as RelayStore's `SecureFiles`; FleetKit may not import RelayStore (layering), so
/// a shared lower module is the way to merge the two.
public enum PrivateFiles {
    /// Creates `path` (and missing parents) as 0700, or checks that an existing one is ours and
    /// closed to others.
    public static func ensureDirectory(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw FleetError(.io, "\(path) exists and is not a directory") }
            guard st.st_uid == geteuid() else {
                throw FleetError(.permissions, "\(path) is owned by uid \(st.st_uid), not by this user (uid \(geteuid()))")
            }
            let mode = st.st_mode & 0o777
            guard mode & 0o077 == 0 else {
                throw FleetError(.permissions, String(format: "%@ has mode %04o but holds fleet secrets: run chmod 700 %@", path, mode, path))
            }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, !FileManager.default.fileExists(atPath: parent) {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw FleetError(.io, "cannot create directory \(path): \(String(cString: strerror(errno)))")
        }
        chmod(path, 0o700)
    }

    /// Refuses a file others can read or write.
    public static func checkPrivate(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FleetError(.notFound, "\(path): \(String(cString: strerror(errno)))") }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw FleetError(.permissions, String(format: "%@ has mode %04o; it must be readable by its owner only: run chmod 600 %@", path, mode, path))
        }
    }

    public static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FleetError(.notFound, "cannot read \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")")
        }
        return Array(data)
    }

    /// Writes `bytes` to `path` as 0600, atomically. With `replace: false` an existing file is
    /// an error and stays untouched.
    public static func write(_ bytes: [UInt8], to path: String, replace: Bool) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = "\(dir.isEmpty ? "." : dir)/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FleetError(.io, "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var done = false
        defer { if !done { unlink(tmp) } }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { p in
            while written < p.count {
                let n = Glibc.write(fd, p.baseAddress! + written, p.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return true
        }
        guard ok, fchmod(fd, 0o600) == 0, fsync(fd) == 0 else {
            let msg = String(cString: strerror(errno))
            close(fd)
            throw FleetError(.io, "cannot write \(path): \(msg)")
        }
        close(fd)
        if replace {
            guard rename(tmp, path) == 0 else { throw FleetError(.io, "cannot replace \(path): \(String(cString: strerror(errno)))") }
        } else {
            guard link(tmp, path) == 0 else {
                let e = errno
                throw FleetError(e == EEXIST ? .conflict : .io, e == EEXIST ? "\(path) already exists; it was left untouched"
                                                                   : "cannot create \(path): \(String(cString: strerror(e)))")
            }
            unlink(tmp)
        }
        done = true
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// A new private temporary directory (0700); the caller removes it with `removeTree`.
    public static func temporaryDirectory(prefix: String) throws -> String {
        var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix)-XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw FleetError(.io, "cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        return String(cString: p)
    }

    /// Overwrites every regular file under `path` with zeros, then removes the tree.
    public static func removeTree(_ path: String) {
        if let e = FileManager.default.enumerator(atPath: path) {
            for case let rel as String in e {
                let f = (path as NSString).appendingPathComponent(rel)
                var st = stat()
                if lstat(f, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size > 0 {
                    let fd = open(f, O_WRONLY | O_CLOEXEC)
                    if fd >= 0 {
                        let zeros = [UInt8](repeating: 0, count: Int(st.st_size))
                        _ = zeros.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
                        fsync(fd)
                        close(fd)
                    }
                }
            }
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}
