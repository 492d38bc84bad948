import Foundation

/// How fleetctl runs a command on a host and moves files there: `local` (child processes on
/// this machine) or `ssh` (the system OpenSSH client with the operator's config and keys).
/// Commands are argument vectors; each runs with a time limit.
public protocol HostTransport: Sendable {
    /// A short description for messages (`local`, `ssh root@relay-b`).
    var label: String { get }
    /// Runs `argv` on the host. A non-zero exit status is returned, not thrown; failing to reach
    /// the host or run the command at all is thrown.
    func run(_ argv: [String], stdin: [UInt8], timeout: TimeInterval) throws -> CommandResult
}

extension HostTransport {
    public func run(_ argv: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        try run(argv, stdin: [], timeout: timeout)
    }

    /// Runs `argv` and requires exit status 0; otherwise one sentence naming `what` and the
    /// command's last error line.
    @discardableResult
    public func check(_ argv: [String], stdin: [UInt8] = [], timeout: TimeInterval = 60, _ what: String) throws -> CommandResult {
        let r = try run(argv, stdin: stdin, timeout: timeout)
        guard r.status == 0 else {
            throw FleetError(.remoteCommand, "\(what) failed on \(label) (exit \(r.status)): \(r.lastErrorLine)")
        }
        return r
    }

    /// Writes `bytes` to `path` on the host, mode 0600, through a temporary file and rename;
    /// the content travels on stdin, never on a command line.
    public func writeFile(_ bytes: [UInt8], to path: String, timeout: TimeInterval = 60) throws {
        let script = #"umask 077 && t="$1.tmp.$$" && cat > "$t" && chmod 600 "$t" && mv -f "$t" "$1""#
        try check(["sh", "-c", script, "sh", path], stdin: bytes, timeout: timeout, "writing \(path)")
    }

    /// Reads a file on the host.
    public func readFile(_ path: String, timeout: TimeInterval = 60) throws -> [UInt8] {
        try check(["cat", "--", path], timeout: timeout, "reading \(path)").stdout
    }
}

/// Runs commands on this machine.
public struct LocalTransport: HostTransport {
    public init() {}
    public var label: String { "local" }
    public func run(_ argv: [String], stdin: [UInt8], timeout: TimeInterval) throws -> CommandResult {
        try Subprocess.run(argv, stdin: stdin, timeout: timeout)
    }
}

/// Runs commands through the system `ssh` in batch mode (no password prompts; keys and
/// `~/.ssh/config` as the operator set them up, or `configFile` with `-F`).
public struct SSHTransport: HostTransport {
    public let target: String
    public let configFile: String?
    public let connectTimeout: Int

    public init(target: String, configFile: String? = nil, connectTimeout: Int = 10) {
        self.target = target
        self.configFile = configFile
        self.connectTimeout = connectTimeout
    }

    public var label: String { "ssh \(target)" }

    public func run(_ argv: [String], stdin: [UInt8], timeout: TimeInterval) throws -> CommandResult {
        var args = ["ssh"]
        if let configFile { args += ["-F", configFile] }
        args += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=\(connectTimeout)", "-T", "--", target,
                 argv.map(Self.shellQuote).joined(separator: " ")]
        let r = try Subprocess.run(args, stdin: stdin, timeout: timeout)
        // ssh itself exits 255 when it cannot connect or authenticate.
        if r.status == 255 {
            throw FleetError(.transport, "cannot reach host over \(label): \(r.lastErrorLine)")
        }
        return r
    }

    /// Quotes one argument for the remote POSIX shell.
    static func shellQuote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII || "-_./=:@,+".contains($0) }) {
            return s
        }
        return "'" + s.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}

extension HostRecord {
    /// The transport this host is reached by.
    public func makeTransport() -> any HostTransport {
        switch transport {
        case .local: LocalTransport()
        case .ssh: SSHTransport(target: sshTarget ?? address, configFile: sshConfig)
        }
    }
}

extension HostRecord {
    /// How fleetctl runs relaynode on this host: the binary at `relaynodePath`, or — with a
    /// container engine — a throwaway container of `containerImage` that sees the data root (and
    /// `mounting`) at the same paths, so every path fleetctl passes means the same inside. It
    /// runs as the container's uid 0, which is the transport's own user with rootless podman and
    /// root with a rootful engine: the files it writes belong to whoever owns the data root.
    public func relaynode(mounting extra: [String] = []) -> [String] {
        guard containerEngine != .none, let image = containerImage else { return [relaynodePath] }
        // The engine refuses to mount a directory that does not exist: the data root is made
        // first (0700), as a relaynode binary would find or make it.
        return ["sh", "-c", #"umask 077 && mkdir -p -- "$1" && shift && exec "$@""#, "sh", dataRoot,
                containerEngine.rawValue, "run", "--rm", "-i", "--no-healthcheck"] + containerOptions(mounting: extra)
                + ["--entrypoint", "relaynode", image]
    }

    /// Options every relaynode container of this host gets: host networking (the ORPort binds
    /// the host's address), uid 0, no SELinux relabelling of the shared data root, and the mounts.
    func containerOptions(mounting extra: [String] = []) -> [String] {
        var argv = ["--network", "host", "--user", "0:0", "--security-opt", "label=disable"]
        for dir in [dataRoot] + extra { argv += ["-v", "\(dir):\(dir)"] }
        return argv
    }

    /// The name of a relay's long-running container on this host.
    public func containerName(nickname: String) -> String { "relaynode-\(nickname)" }

    /// Whether relays on this host run in containers.
    public var usesContainers: Bool { containerEngine != .none && containerImage != nil }
}
