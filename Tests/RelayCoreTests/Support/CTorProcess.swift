import Foundation
import TestSupport
import TorCrypto
import TorProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Debian's real C tor (`/usr/bin/tor`, 0.4.9) as a standalone relay on 127.0.0.1, for interop
/// tests in RelayCoreTests. It never contacts the real Tor network: `TestingTorNetwork 1` plus
/// one fake directory authority on loopback replace the built-in authorities (the same recipe
/// as RelayNodeTests/Daemons.swift). It is stopped by its PID (SIGTERM, then SIGKILL), and
/// `__OwningControllerProcess` makes it exit on its own if the test process dies first.
///
/// Spawned with `posix_spawn` and an empty signal mask rather than Foundation's `Process`: a
/// child started from a Swift-concurrency (libdispatch) thread inherits that thread's mask,
/// which blocks SIGTERM, so tor would ignore SIGTERM and only ever die by SIGKILL.
final class CTorProcess: @unchecked Sendable {
    private var child: Child!
    var pid: pid_t { child.pid }
    private var exitStatus: Int32? { child.waitStatus }
    let nickname: String
    /// Scratch directory holding torrc, stdout and `data/` (the DataDirectory).
    let directory: String
    private(set) var orPort = 0

    var dataDirectory: String { directory + "/data" }
    var infoLogPath: String { dataDirectory + "/info.log" }

    /// CTor's info-level log so far.
    func infoLog() -> String { (try? String(contentsOfFile: infoLogPath, encoding: .utf8)) ?? "" }
    /// What tor wrote to stdout/stderr (configuration errors land here).
    func stdoutLog() -> String { (try? String(contentsOfFile: directory + "/stdout.log", encoding: .utf8)) ?? "" }

    static var torPath: String {
        get throws {
            for p in ["/usr/bin/tor", "/usr/sbin/tor", "/usr/local/bin/tor"] where FileManager.default.isExecutableFile(atPath: p) {
                return p
            }
            throw CTorProcessError("tor is not installed (apt-get install tor)")
        }
    }

    /// Starts a non-exit relay on 127.0.0.1 (ORPort chosen by tor) and waits, at most
    /// `readyWithin` seconds, until its OR listener is open, its keys are on disk and it has
    /// built its own descriptor (about a second after start; it serves that over BEGIN_DIR).
    /// Async: the wait for tor to be ready sleeps instead of blocking a thread of the
    /// concurrency pool (with two cores, two blocked threads stall every other test).
    static func startRelay(nickname: String, extraTorrc: String = "", readyWithin: Double = 60) async throws -> CTorProcess {
        let dir = FileManager.default.temporaryDirectory.path + "/ctor-\(nickname)-\(UUID().uuidString.prefix(8))"
        let t = try CTorProcess(nickname: nickname, directory: dir, torrc: """
            TestingTorNetwork 1
            DirAuthority fakeauth orport=\(freeLoopbackPort()) no-v2 v3ident=0000000000000000000000000000000000000000 127.0.0.1:\(freeLoopbackPort()) 0000000000000000000000000000000000000000
            DataDirectory \(dir)/data
            Nickname \(nickname)
            ORPort 127.0.0.1:auto
            Address 127.0.0.1
            AssumeReachable 1
            PublishServerDescriptor 0
            ExitRelay 0
            SocksPort 0
            DirCache 1
            Log info file \(dir)/data/info.log
            SafeLogging 0
            LogTimeGranularity 1
            Sandbox 0
            ShutdownWaitLength 0
            __OwningControllerProcess \(getpid())
            \(extraTorrc)
            """)
        do {
            try await t.waitUntilReady(seconds: readyWithin)
        } catch {
            t.stop()
            throw error
        }
        return t
    }

    private init(nickname: String, directory: String, torrc: String) throws {
        self.nickname = nickname
        self.directory = directory
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try torrc.write(toFile: directory + "/torrc", atomically: true, encoding: .utf8)
        fm.createFile(atPath: directory + "/empty", contents: Data())
        child = try Child(try Self.torPath, ["-f", directory + "/torrc", "--defaults-torrc", directory + "/empty"],
                             output: directory + "/stdout.log")
    }

    var isRunning: Bool { child.isRunning }

    private func waitUntilReady(seconds: Double) async throws {
        let deadline = Date() + seconds
        let ready = /Opened OR listener connection \(ready\) on 127\.0\.0\.1:(\d+)/
        while Date() < deadline {
            guard isRunning else {
                throw CTorProcessError("tor exited (wait status \(exitStatus ?? -1)):\n\(stdoutLog().suffix(3000))")
            }
            if orPort == 0, let m = infoLog().firstMatch(of: ready) { orPort = Int(m.1)! }
            if orPort != 0, infoLog().contains("router_rebuild_descriptor(): Rebuilding relay descriptor"),
               ["fingerprint", "fingerprint-ed25519", "keys/secret_onion_key_ntor"]
                .allSatisfy({ FileManager.default.fileExists(atPath: dataDirectory + "/" + $0) }) {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CTorProcessError("tor was not ready within \(seconds) s:\n\(stdoutLog().suffix(3000))")
    }

    // MARK: identities, read from the files CTor writes

    private func secondField(_ file: String) throws -> String {
        let text = try String(contentsOfFile: dataDirectory + "/" + file, encoding: .utf8)
        let parts = text.split(separator: " ")
        guard parts.count == 2, parts[0] == nickname else { throw CTorProcessError("unexpected \(file): \(text)") }
        return parts[1].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `DataDirectory/fingerprint`: "<nickname> <40 hex>".
    func rsaFingerprint() throws -> RSAFingerprint { try RSAFingerprint(text: try secondField("fingerprint")) }

    /// `DataDirectory/fingerprint-ed25519`: "<nickname> <unpadded base64>".
    func ed25519Identity() throws -> Ed25519PublicKey { try Ed25519PublicKey(base64: try secondField("fingerprint-ed25519")) }

    /// `keys/secret_onion_key_ntor`: a 32-byte header "== c25519v1: onion ==" (NUL-padded), the
    /// 32-byte secret scalar, then the 32-byte public key. The public key is checked against
    /// the secret so a misread layout fails here rather than as a refused CREATE2.
    func ntorOnionKey() throws -> Curve25519PublicKey {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dataDirectory + "/keys/secret_onion_key_ntor")))
        guard data.count == 96, data.starts(with: Array("== c25519v1: onion ==".utf8)) else {
            throw CTorProcessError("unexpected secret_onion_key_ntor (\(data.count) bytes)")
        }
        let pub = try Curve25519PublicKey(bytes: Array(data[64..<96]))
        guard try Curve25519SecretKey(bytes: Array(data[32..<64])).publicKey == pub else {
            throw CTorProcessError("secret_onion_key_ntor: public key does not match the secret")
        }
        return pub
    }

    /// What a client needs to extend to this relay.
    func relayInfo() throws -> RelayInfo {
        RelayInfo(port: orPort, rsa: try rsaFingerprint(), ed25519: try ed25519Identity(), ntor: try ntorOnionKey())
    }

    // MARK: teardown

    /// SIGTERM (tor shuts down at once), then SIGKILL after `grace` seconds. Returns the raw
    /// wait status, or nil if it had to be killed. Idempotent.
    @discardableResult
    func stop(grace: Double = 10) -> Int32? { child?.stop(grace: grace) }

    /// Stops tor and deletes its scratch directory.
    func cleanUp() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop(grace: 2) }
}

struct CTorProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
