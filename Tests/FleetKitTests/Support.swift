import FleetKit
import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A private temporary directory (0700), removed when released.
final class TempDir: @unchecked Sendable {
    let path: String
    init() {
        path = try! PrivateFiles.temporaryDirectory(prefix: "fleet-test")
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ name: String) -> String { path + "/" + name }
}

enum Binaries {
    /// The build directory holding `relaynode` and `fleetctl` (beside the test bundle).
    static let directory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        while !dir.isEmpty, dir != "/", !FileManager.default.isExecutableFile(atPath: dir + "/fleetctl") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }()
    static var relaynode: String { directory + "/relaynode" }
    static var fleetctl: String { directory + "/fleetctl" }
}

func fileMode(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1
}

func sha(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map(Array.init) }

/// Runs fleetctl with `args` and the passphrase (if any) in the environment only.
func fleetctl(_ args: [String], passphrase: String? = nil, timeout: TimeInterval = 120, environment: [String: String] = [:]) throws -> CommandResult {
    var env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    env["RELAYFLEET_PASSPHRASE"] = passphrase
    return try Subprocess.run([Binaries.fleetctl] + args, timeout: timeout, environment: env)
}

/// A real OpenSSH server (Debian's openssh-server) on a loopback address of its own, with its own
/// host key and authorized key in a temporary directory; stopped by PID.
final class SSHServer: @unchecked Sendable {
    static let sshd = "/usr/sbin/sshd"
    let dir: TempDir
    let address: String
    let port: Int
    private(set) var child: Child
    /// An ssh_config naming the server `alias`, with the client key and a pinned host key.
    let clientConfig: String
    let alias = "fleet-ssh-host"

    init(address: String = "127.0.0.11") throws {
        guard FileManager.default.isExecutableFile(atPath: Self.sshd) else {
            throw SpawnError("\(Self.sshd) is missing: install the Debian package openssh-server (apt-get install -y openssh-server)")
        }
        dir = TempDir()
        self.address = address
        port = freeLoopbackPort()
        for k in ["host_key", "client_key"] {
            let r = try Subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir.sub(k)], timeout: 30)
            guard r.status == 0 else { throw SpawnError("ssh-keygen failed: \(r.stderrText)") }
        }
        try FileManager.default.copyItem(atPath: dir.sub("client_key.pub"), toPath: dir.sub("authorized_keys"))
        let user = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        try """
        ListenAddress \(address):\(port)
        HostKey \(dir.sub("host_key"))
        AuthorizedKeysFile \(dir.sub("authorized_keys"))
        PidFile \(dir.sub("sshd.pid"))
        StrictModes no
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        PermitRootLogin prohibit-password
        AllowUsers \(user)
        LogLevel VERBOSE
        """.write(toFile: dir.sub("sshd_config"), atomically: true, encoding: .utf8)
        let hostKey = try String(contentsOfFile: dir.sub("host_key.pub"), encoding: .utf8)
        try "[\(address)]:\(port) \(hostKey)".write(toFile: dir.sub("known_hosts"), atomically: true, encoding: .utf8)
        clientConfig = dir.sub("ssh_config")
        try """
        Host \(alias)
          HostName \(address)
          Port \(port)
          User \(user)
          IdentityFile \(dir.sub("client_key"))
          IdentitiesOnly yes
          UserKnownHostsFile \(dir.sub("known_hosts"))
          StrictHostKeyChecking yes
          LogLevel ERROR
        """.write(toFile: clientConfig, atomically: true, encoding: .utf8)
        // sshd's privilege separation needs this directory (the Debian service creates it).
        try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o755])
        child = try Child(Self.sshd, ["-D", "-e", "-f", dir.sub("sshd_config")], output: dir.sub("sshd.log"))
        let deadline = Date() + 15
        while Date() < deadline {
            if let r = try? SSHTransport(target: alias, configFile: clientConfig).run(["true"], timeout: 10), r.status == 0 { return }
            guard child.isRunning else { break }
            usleep(100_000)
        }
        child.stop()
        throw SpawnError("sshd did not accept a login on \(address):\(port): \((try? String(contentsOfFile: dir.sub("sshd.log"), encoding: .utf8)) ?? "")")
    }

    var transport: SSHTransport { SSHTransport(target: alias, configFile: clientConfig) }

    func stop() { child.stop() }

    /// Starts sshd again after `stop()` (same address, port and keys): a host that comes back.
    func restart() throws {
        child.stop()
        child = try Child(Self.sshd, ["-D", "-e", "-f", dir.sub("sshd_config")], output: dir.sub("sshd.log"))
        let deadline = Date() + 15
        while Date() < deadline {
            if let r = try? transport.run(["true"], timeout: 10), r.status == 0 { return }
            usleep(100_000)
        }
        throw SpawnError("sshd did not come back on \(address):\(port)")
    }
    deinit { child.stop() }
}

/// Stops every relay process whose pid file lies under `root` (tests stop what they start).
func stopRelays(under root: String) {
    guard let e = FileManager.default.enumerator(atPath: root) else { return }
    for case let rel as String in e where rel.hasSuffix("relaynode.pid") {
        if let text = try? String(contentsOfFile: root + "/" + rel, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)
            let deadline = Date() + 10
            while Date() < deadline, isAlive(pid) { usleep(50_000) }
            if isAlive(pid) { kill(pid, SIGKILL) }
        }
    }
}

/// True while `pid` exists and is not a zombie.
func isAlive(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    guard let close = stat.lastIndex(of: ")") else { return false }
    return !stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
}
