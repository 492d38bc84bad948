import Foundation
import TorProtocol

/// Creates relays on hosts and keeps their keys: identities made on the host by `relaynode`,
/// master secrets moved into the vault, signing certificates issued from the vault.
public struct Provisioner: Sendable {
    public let database: FleetDatabase
    /// The `relaynode` on the fleet machine, used for link probes and for signing certificates.
    public let localRelaynode: String
    /// How long a new relay has to answer a link handshake.
    public var startTimeout: TimeInterval = 60

    public init(database: FleetDatabase, localRelaynode: String) {
        self.database = database
        self.localRelaynode = localRelaynode
    }

    public struct CreateRequest: Sendable {
        public var nickname: String
        public var hostName: String
        public var orAddress: String
        public var orPort: Int
        public var role: RelayRole
        public var family: String?
        public var bandwidthRate: String?
        public var bandwidthBurst: String?
        /// A C tor DataDirectory on the host whose identity the relay adopts (`fleetctl
        /// import-ctor`) instead of generating one. tor must be stopped; its `keys/` directory is
        /// renamed once the keys are copied, so tor can never run the identity again.
        public var adoptCTorDirectory: String?
        public init(nickname: String, hostName: String, orAddress: String, orPort: Int, role: RelayRole, family: String? = nil,
                    bandwidthRate: String? = nil, bandwidthBurst: String? = nil, adoptCTorDirectory: String? = nil) {
            self.nickname = nickname; self.hostName = hostName; self.orAddress = orAddress; self.orPort = orPort
            self.role = role; self.family = family; self.bandwidthRate = bandwidthRate; self.bandwidthBurst = bandwidthBurst
            self.adoptCTorDirectory = adoptCTorDirectory
        }
    }

    /// Parses `ADDR:PORT` (IPv4 or `[IPv6]`).
    public static func parseORPort(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw FleetError(.invalid, "--orport \(text) is not ADDR:PORT with a port from 1 to 65535")
        }
        var addr = String(text[..<colon])
        if addr.hasPrefix("[") && addr.hasSuffix("]") { addr = String(addr.dropFirst().dropLast()) }
        guard !addr.isEmpty, addr.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) else {
            throw FleetError(.invalid, "--orport \(text): \(addr) is not an IP address")
        }
        return (addr, port)
    }

    /// Creates, starts and verifies a relay. Every failure before the inventory is written
    /// undoes what was done on the host and in the vault.
    @discardableResult
    public func create(_ req: CreateRequest, vault: Vault) throws -> RelayView {
        let (host, relay) = try validate(req)
        let t = host.makeTransport()
        let layout = RelayLayout(host: host, nickname: req.nickname)
        let rn = host.relaynode()

        if let dir = req.adoptCTorDirectory { try checkCTorStopped(dir, transport: t, host: host) }
        // Claim the directory on the host, marked as being created until the inventory has the
        // relay. A directory without the mark is never touched.
        let claimArgv = ["sh", "-c", #"umask 077 && mkdir -p "$1" && mkdir "$2" && : > "$2/.creating""#, "sh", host.dataRoot, layout.directory]
        var claim = try t.run(claimArgv, timeout: 30)
        if claim.status != 0, try t.run(["test", "-f", layout.creatingMark], timeout: 30).status == 0 {
            // An earlier `relay create` of this nickname was interrupted: roll it back, then go on.
            try rollBackUnfinished(nickname: req.nickname, layout: layout, transport: t, vault: vault, host: host)
            claim = try t.run(claimArgv, timeout: 30)
        }
        guard claim.status == 0 else {
            throw FleetError(.conflict, "cannot create \(layout.directory) on host \(host.name) (\(claim.lastErrorLine)); if a relay directory is left there from before, move it away — nothing was changed")
        }
        var vaulted = false
        var started = false
        var ctorKeysMoved: String?
        do {
            let status: NodeKeyStatus
            if let dir = req.adoptCTorDirectory {
                try t.check(host.relaynode(mounting: [dir]) + ["keys", "import-ctor", dir, "--data-directory", layout.dataDirectory], timeout: 120,
                            "adopting the C tor identity in \(dir) on \(host.name)")
                let shown = try t.check(rn + ["keys", "show", "--json", "--data-directory", layout.dataDirectory], timeout: 60,
                                        "reading the adopted identity on \(host.name)")
                status = try Self.keyStatus(shown.stdout, what: "relaynode keys show on \(host.name)")
                guard status.masterOnline else {
                    throw FleetError(.invalid, "the C tor relay in \(dir) keeps its Ed25519 master key offline; put ed25519_master_id_secret_key into \(dir)/keys first (fleetctl vaults it)")
                }
                if let family = req.family, try database.familyKeys(family: family).isEmpty {
                    try adoptCTorFamilyKeys(directory: dir, family: family, vault: vault, transport: t)
                }
                // From here tor cannot start with this identity: its keys directory is renamed
                // (and renamed back if the adoption fails).
                let moved = "\(dir)/keys.adopted-by-relaynode-\(req.nickname)"
                try t.check(["mv", "-T", "--", "\(dir)/keys", moved], timeout: 30, "retiring the C tor keys directory in \(dir)")
                ctorKeysMoved = moved
            } else {
                let gen = try t.check(rn + ["keys", "generate", "--data-directory", layout.dataDirectory, "--json"], timeout: 120,
                                      "generating the identity of \(req.nickname)")
                status = try Self.keyStatus(gen.stdout, what: "relaynode keys generate on \(host.name)")
            }
            try t.check(rn + ["keys", "offline-master", "--data-directory", layout.dataDirectory, "--out", layout.masterOut], timeout: 60,
                        "taking the master key of \(req.nickname) offline")
            var secretFile = try t.readFile(layout.masterOut + "/ed25519_master_id_secret_key")
            defer { wipe(&secretFile) }
            let secret = try CTorKeyFile.decodeEd25519Secret(secretFile, tag: "type0", source: "the master key read from \(host.name)")
            guard secret.publicKey.base64 == status.ed25519Identity else {
                throw FleetError(.verification, "the master key read back from \(host.name) does not match the identity \(status.ed25519Identity); nothing was kept")
            }
            vault.contents.entries[status.ed25519Identity] = .init(
                nickname: req.nickname, rsaFingerprint: status.rsaFingerprint, ed25519Id: status.ed25519Identity,
                masterSecretFile: secretFile, storedAt: Int64(Date().timeIntervalSince1970))
            try vault.save()
            vaulted = true
            // The vault holds it now: destroy the host's copy.
            try t.check(["sh", "-c", #"shred -u -- "$1"/* && rmdir -- "$1""#, "sh", layout.masterOut], timeout: 60,
                        "shredding the host's copy of the master key")

            // A family member proves it with the family's keys (the first one made now if the
            // family has none); the other members learn of it from 'fleetctl family sync'.
            var family = FamilySettings.none
            if let name = req.family {
                for k in try ensureFamilyKey(family: name, vault: vault) {
                    try installFamilyKey(k, vault: vault, nickname: req.nickname, layout: layout, host: host, transport: t)
                }
                family = try database.familySettings(for: relay)
            }
            try t.writeFile(Array(relayTorrc(relay, layout: layout, hostAddress: req.orAddress, family: family).utf8), to: layout.torrc)
            try t.check(rn + ["verify-config", "--config", layout.torrc], timeout: 60, "checking the torrc of \(req.nickname)")
            try start(layout: layout, host: host, transport: t)
            started = true
            try verify(address: req.orAddress, port: req.orPort, rsaFingerprint: status.rsaFingerprint, ed25519: status.ed25519Identity,
                       within: startTimeout, log: { try? t.run(["tail", "-n", "5", layout.logFile], timeout: 10).stdoutText })
            defer { _ = try? t.run(["rm", "-f", "--", layout.creatingMark], timeout: 30) }
            return try database.insertRelay(relay, identity: (status.rsaFingerprint, status.ed25519Identity, status.signingExpires), events: [
                FleetEvent(kind: .relayCreated, detail: "\(status.rsaFingerprint) \(status.ed25519Identity) on \(req.orAddress):\(req.orPort)"
                           + (req.adoptCTorDirectory.map { ", adopted from C tor's \($0) (its keys now in \($0)/keys.adopted-by-relaynode-\(req.nickname))" } ?? "")),
                FleetEvent(kind: .masterVaulted, detail: status.ed25519Identity),
                FleetEvent(kind: .relayStarted, detail: "on \(host.name)"),
                FleetEvent(kind: .relayVerified, detail: "link handshake proved \(status.rsaFingerprint)"),
            ])
        } catch {
            // Undo: the identity never went into service, so it is dropped everywhere.
            if started { _ = try? stop(layout: layout, transport: t) }
            if let moved = ctorKeysMoved, let dir = req.adoptCTorDirectory {
                _ = try? t.run(["mv", "-T", "--", moved, "\(dir)/keys"], timeout: 30)
            }
            _ = try? t.run(["sh", "-c", #"find "$1" -type f -exec shred -u {} + 2>/dev/null; rm -rf -- "$1""#, "sh", layout.directory], timeout: 60)
            if vaulted, let id = vault.contents.entries.first(where: { $0.value.nickname == req.nickname })?.key {
                vault.contents.entries[id] = nil
                try? vault.save()
            }
            try? database.record(FleetEvent(kind: .relayCreateFailed, hostId: host.id, detail: "\(req.nickname): \(error)"))
            throw error
        }
    }

    /// Refuses a C tor DataDirectory without keys, or one whose tor still runs (it holds the
    /// directory's `lock`): adopting a live identity would run it twice.
    func checkCTorStopped(_ dir: String, transport t: any HostTransport, host: HostRecord) throws {
        guard try t.run(["test", "-f", "\(dir)/keys/secret_id_key"], timeout: 30).status == 0 else {
            throw FleetError(.notFound, "\(dir) on \(host.name) is not a C tor DataDirectory with keys (no keys/secret_id_key); nothing was changed")
        }
        let lock = try t.run(["sh", "-c", #"[ ! -e "$1/lock" ] || flock -n "$1/lock" true"#, "sh", dir], timeout: 30)
        guard lock.status == 0 else {
            throw FleetError(.conflict, "tor is still running with \(dir) on \(host.name) (its lock is held); stop it first — nothing was changed")
        }
    }

    /// Undoes what an interrupted `relay create` left: its process, its directory (marked
    /// `.creating`), and a vault entry under its nickname that the inventory does not know.
    func rollBackUnfinished(nickname: String, layout: RelayLayout, transport t: any HostTransport, vault: Vault, host: HostRecord) throws {
        _ = try? stop(layout: layout, transport: t)
        try t.check(["sh", "-c", #"find "$1" -type f -exec shred -u {} + 2>/dev/null; rm -rf -- "$1""#, "sh", layout.directory],
                    timeout: 60, "removing the unfinished relay directory \(layout.directory)")
        let known = Set(try database.relays().compactMap { $0.identity?.ed25519Id })
        let stale = vault.contents.entries.filter { $0.value.nickname == nickname && !known.contains($0.key) }.map(\.key)
        if !stale.isEmpty {
            for k in stale { vault.contents.entries[k] = nil }
            try vault.save()
        }
        try database.record(FleetEvent(kind: .relayCreateFailed, hostId: host.id,
                                       detail: "\(nickname): rolled back an interrupted create (\(stale.count) unused vault entr\(stale.count == 1 ? "y" : "ies"))"))
    }

    /// Checks a request against the inventory without touching any host: a valid nickname, a
    /// known host, a free nickname and ORPort.
    @discardableResult
    public func validate(_ req: CreateRequest) throws -> (HostRecord, RelayRecord) {
        guard (1...19).contains(req.nickname.count), req.nickname.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw FleetError(.invalid, "nickname \(req.nickname) is not 1 to 19 letters and digits, as Tor requires")
        }
        let host = try database.host(named: req.hostName)
        var relay = RelayRecord(nickname: req.nickname, hostId: host.id!, orAddress: req.orAddress, orPort: req.orPort,
                                role: req.role, family: req.family)
        relay.bandwidthRate = req.bandwidthRate
        relay.bandwidthBurst = req.bandwidthBurst
        try database.checkNewRelay(relay)
        return (host, relay)
    }

    /// Starts `relaynode run` detached on the host (own session, output to the log) and records
    /// its pid in the pid file. On a container host the relay runs in a container of the host's
    /// image (named `relaynode-NICK`, removed when it exits) and the pid file holds the relay
    /// process's pid as the host sees it, so stopping, SIGHUP and liveness work the same way.
    func start(layout: RelayLayout, host: HostRecord, transport t: any HostTransport) throws {
        guard host.usesContainers, let image = host.containerImage else {
            let script = #"umask 077 && cd "$1" && setsid "$2" run --config "$1/torrc" >>"$1/relaynode.log" 2>&1 </dev/null & echo $! > "$1/relaynode.pid""#
            try t.check(["sh", "-c", script, "sh", layout.directory, host.relaynodePath], timeout: 30, "starting the relay in \(layout.directory)")
            return
        }
        let engine = host.containerEngine.rawValue
        let name = host.containerName(nickname: (layout.directory as NSString).lastPathComponent)
        _ = try? t.run([engine, "rm", "-f", name], timeout: 60)
        try t.check([engine, "run", "-d", "--rm", "--name", name] + host.containerOptions()
                    + ["--entrypoint", "/bin/sh", image, "-c", #"umask 077 && exec relaynode run --config "$1/torrc" >>"$1/relaynode.log" 2>&1"#, "sh", layout.directory],
                    timeout: 120, "starting the relay container \(name) on \(host.name)")
        let pid = try t.check([engine, "inspect", "--format", "{{.State.Pid}}", name], timeout: 60, "finding the process of container \(name)")
        let text = pid.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let n = Int(text), n > 0 else {
            throw FleetError(.remoteCommand, "the relay container \(name) on \(host.name) is not running (pid '\(text)'); see \(layout.logFile)")
        }
        try t.writeFile(Array("\(n)\n".utf8), to: layout.pidFile)
    }

    /// Stops the relay whose pid file is in `layout` (SIGTERM, then SIGKILL after 10 s).
    /// Returns false when it was not running.
    @discardableResult
    public func stop(layout: RelayLayout, transport t: any HostTransport) throws -> Bool {
        let script = #"""
        f="$1/relaynode.pid"; [ -f "$f" ] || exit 3
        p=$(cat "$f"); alive() { [ -d /proc/$p ] && ! grep -q '^[^ ]* ([^)]*) Z' /proc/$p/stat 2>/dev/null; }
        alive || { rm -f "$f"; exit 3; }
        kill -TERM "$p"; i=0
        while alive && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
        alive && kill -KILL "$p"
        rm -f "$f"
        """#
        let r = try t.run(["sh", "-c", script, "sh", layout.directory], timeout: 30)
        if r.status == 3 { return false }
        guard r.status == 0 else { throw FleetError(.remoteCommand, "stopping the relay in \(layout.directory) failed on \(t.label): \(r.lastErrorLine)") }
        return true
    }

    /// Stops a relay by nickname.
    @discardableResult
    public func stop(nickname: String) throws -> Bool {
        let v = try database.relay(named: nickname)
        return try stop(layout: RelayLayout(host: v.host, nickname: nickname), transport: v.host.makeTransport())
    }

    /// A real Tor link handshake from the fleet side; retried until `within` seconds passed.
    public func verify(address: String, port: Int, rsaFingerprint: String, ed25519: String, within: TimeInterval,
                       log: () -> String? = { nil }) throws {
        let target = address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
        let started = Date()
        let deadline = started + within
        var last = ""
        var attempts = 0
        repeat {
            attempts += 1
            // A loaded host can take seconds for one handshake, so later probes wait longer. The
            // probe process has a limit too (handshake time plus start-up): a peer that accepts
            // and stays silent cannot hold fleetctl much past `within`.
            let handshake = Int(max(3, min(Double(5 * attempts), 15, deadline.timeIntervalSinceNow)))
            let limit = Double(handshake) + 10
            do {
                let r = try Subprocess.run([localRelaynode, "link-probe", target, "--expect-fingerprint", rsaFingerprint,
                                            "--expect-ed25519", ed25519, "--timeout", "\(handshake)", "--json"], timeout: limit)
                if r.status == 0 { return }
                last = r.lastErrorLine
            } catch let e as FleetError where e.code == .timeout {
                last = "no link handshake within \(Int(limit)) s"
            }
            // A relay that answers with another identity will not change its mind.
            if last.contains("expected") || last.contains("mismatch") { break }
            Thread.sleep(forTimeInterval: 0.5)
        } while Date() < deadline
        var msg = "the relay at \(target) did not prove identity \(rsaFingerprint) in \(attempts) attempt(s) over \(Int(Date().timeIntervalSince(started))) s: \(last)"
        if let tail = log(), !tail.isEmpty { msg += " — its log ends: " + tail.split(separator: "\n").suffix(2).joined(separator: " | ") }
        throw FleetError(.verification, msg)
    }

    // MARK: keys

    /// What `relaynode keys show --json` (and `generate --json`) reports, the parts fleetctl uses.
    public struct NodeKeyStatus: Sendable, Equatable {
        public var rsaFingerprint: String
        public var ed25519Identity: String
        public var masterOnline: Bool
        public var signingExpires: Int64?
    }

    static func keyStatus(_ json: [UInt8], what: String) throws -> NodeKeyStatus {
        guard let o = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
              let fp = o["rsa_fingerprint"] as? String, let ed = o["ed25519_identity"] as? String else {
            throw FleetError(.remoteCommand, "\(what) did not print the expected JSON (rsa_fingerprint, ed25519_identity)")
        }
        return NodeKeyStatus(rsaFingerprint: fp, ed25519Identity: ed, masterOnline: (o["master_key"] as? String) == "online",
                             signingExpires: (o["signing_cert_expires_unix"] as? NSNumber)?.int64Value)
    }

    /// One line of `fleetctl keys status`.
    public struct KeyExpiry: Sendable {
        public var nickname: String
        public var host: String
        public var rsaFingerprint: String?
        public var signingExpires: Int64?
        public var masterOnline: Bool?
        public var problem: String?
    }

    /// Asks every relay's host for its key status; one host's failure is reported on its relays'
    /// lines and does not stop the others.
    public func keyStatus(now: Date = Date()) throws -> [KeyExpiry] {
        try perHost(database.relays().filter { $0.relay.desiredState != .retired }) { v in
            let layout = RelayLayout(host: v.host, nickname: v.relay.nickname)
            do {
                let r = try v.host.makeTransport().check(v.host.relaynode() + ["keys", "show", "--json", "--data-directory", layout.dataDirectory],
                                                     timeout: 60, "reading the keys of \(v.relay.nickname)")
                let s = try Self.keyStatus(r.stdout, what: "relaynode keys show on \(v.host.name)")
                var problem: String?
                if let id = v.identity, id.rsaFingerprint != s.rsaFingerprint {
                    problem = "host serves identity \(s.rsaFingerprint), the inventory says \(id.rsaFingerprint)"
                } else if s.masterOnline {
                    problem = "the master key is on the host"
                } else if let e = s.signingExpires, e < Int64(now.timeIntervalSince1970) {
                    problem = "signing certificate expired"
                }
                return KeyExpiry(nickname: v.relay.nickname, host: v.host.name, rsaFingerprint: s.rsaFingerprint,
                                 signingExpires: s.signingExpires, masterOnline: s.masterOnline, problem: problem)
            } catch {
                return KeyExpiry(nickname: v.relay.nickname, host: v.host.name, rsaFingerprint: v.identity?.rsaFingerprint,
                                 signingExpires: v.identity?.signingExpires, masterOnline: nil, problem: "\(error)")
            }
        }
    }

    /// Issues a new signing key and certificate from the vault's master key and installs it on
    /// the relay's host. The master key touches disk only in a 0700 temporary directory on this
    /// machine, wiped and removed afterwards. Returns the new expiry (Unix seconds).
    @discardableResult
    public func renew(nickname: String, vault: Vault, lifetimeDays: Int = 30) throws -> Int64 {
        let v = try database.relay(named: nickname)
        guard let identity = v.identity else { throw FleetError(.notFound, "relay \(nickname) has no recorded identity") }
        guard let entry = vault.contents.entries[identity.ed25519Id] else {
            throw FleetError(.notFound, "the vault \(vault.path) holds no master key for \(nickname) (\(identity.ed25519Id)); is it the right vault?")
        }
        let t = v.host.makeTransport()
        let layout = RelayLayout(host: v.host, nickname: nickname)
        // Reach the host before signing anything.
        try t.check(["test", "-d", layout.dataDirectory], timeout: 30, "finding the data directory of \(nickname)")

        let tmp = try PrivateFiles.temporaryDirectory(prefix: "fleetctl-sign")
        defer { PrivateFiles.removeTree(tmp) }
        let masterDir = tmp + "/master", outDir = tmp + "/out"
        try PrivateFiles.ensureDirectory(masterDir)
        try PrivateFiles.write(entry.masterSecretFile, to: masterDir + "/ed25519_master_id_secret_key", replace: false)
        let signed = try Subprocess.run([localRelaynode, "keys", "sign-cert", "--master-key-dir", masterDir, "--out", outDir,
                                         "--lifetime-days", String(lifetimeDays)], timeout: 60)
        guard signed.status == 0 else {
            throw FleetError(.remoteCommand, "signing a certificate for \(nickname) failed: \(signed.lastErrorLine)")
        }
        var key = try PrivateFiles.read(outDir + "/ed25519_signing_secret_key")
        defer { wipe(&key) }
        let cert = try PrivateFiles.read(outDir + "/ed25519_signing_cert")

        try t.check(["sh", "-c", #"umask 077 && rm -rf -- "$1" && mkdir -- "$1""#, "sh", layout.signingIn], timeout: 30,
                    "preparing \(layout.signingIn)")
        defer { _ = try? t.run(["sh", "-c", #"find "$1" -type f -exec shred -u {} + 2>/dev/null; rm -rf -- "$1""#, "sh", layout.signingIn], timeout: 30) }
        try t.writeFile(key, to: layout.signingIn + "/ed25519_signing_secret_key")
        try t.writeFile(cert, to: layout.signingIn + "/ed25519_signing_cert")
        try t.check(v.host.relaynode() + ["keys", "install-signing-cert", layout.signingIn, "--data-directory", layout.dataDirectory],
                    timeout: 60, "installing the signing certificate of \(nickname)")
        let shown = try t.check(v.host.relaynode() + ["keys", "show", "--json", "--data-directory", layout.dataDirectory],
                                timeout: 60, "reading back the keys of \(nickname)")
        let status = try Self.keyStatus(shown.stdout, what: "relaynode keys show on \(v.host.name)")
        guard let expires = status.signingExpires else {
            throw FleetError(.remoteCommand, "relaynode keys show did not report the new certificate's expiry")
        }
        try database.updateSigningExpiry(relayId: v.relay.id!, expires: expires, event: FleetEvent(
            kind: .certRenewed, hostId: v.host.id, relayId: v.relay.id, detail: "expires \(expires)"))
        return expires
    }

    /// Makes a running relay load its keys from its database now (SIGHUP; relaynode also does it
    /// on its own schedule) and waits until its log says it serves a signing certificate valid
    /// until `expires`. Returns false when the relay is not running (it loads them at start).
    @discardableResult
    public func reloadKeys(nickname: String, expecting expires: Int64, within: TimeInterval = 20) throws -> Bool {
        let v = try database.relay(named: nickname)
        let t = v.host.makeTransport()
        let layout = RelayLayout(host: v.host, nickname: nickname)
        let hup = try t.run(["sh", "-c", #"p=$(cat "$1" 2>/dev/null) && [ -d /proc/$p ] && kill -HUP "$p""#, "sh", layout.pidFile], timeout: 30)
        guard hup.status == 0 else { return false }
        let formatter = ISO8601DateFormatter()
        let needle = "signing_cert_expires=" + formatter.string(from: Date(timeIntervalSince1970: TimeInterval(expires)))
        let deadline = Date() + within
        repeat {
            if try t.run(["grep", "-qF", "--", needle, layout.logFile], timeout: 30).status == 0 { return true }
            Thread.sleep(forTimeInterval: 0.3)
        } while Date() < deadline
        throw FleetError(.verification, "\(nickname) on \(v.host.name) did not report the new signing certificate within \(Int(within)) s after SIGHUP; see \(layout.logFile) (or use --restart)")
    }

    /// Restarts a relay (stop by pid file, start, prove its identity). With `onlyIfStopped`, a
    /// relay that is running is left alone and false returned.
    @discardableResult
    public func restart(nickname: String, onlyIfStopped: Bool = false) throws -> Bool {
        let v = try database.relay(named: nickname)
        guard let identity = v.identity else { throw FleetError(.notFound, "relay \(nickname) has no recorded identity") }
        let t = v.host.makeTransport()
        let layout = RelayLayout(host: v.host, nickname: nickname)
        if onlyIfStopped {
            let alive = try t.run(["sh", "-c", #"p=$(cat "$1" 2>/dev/null) && [ -d /proc/$p ] && ! grep -q '^[^ ]* ([^)]*) Z' /proc/$p/stat"#,
                                   "sh", layout.pidFile], timeout: 30)
            if alive.status == 0 { return false }
        }
        try stop(layout: layout, transport: t)
        try start(layout: layout, host: v.host, transport: t)
        try verify(address: v.relay.orAddress, port: v.relay.orPort, rsaFingerprint: identity.rsaFingerprint,
                   ed25519: identity.ed25519Id, within: startTimeout,
                   log: { try? t.run(["tail", "-n", "5", layout.logFile], timeout: 10).stdoutText })
        try database.record(FleetEvent(kind: .relayStarted, hostId: v.host.id, relayId: v.relay.id, detail: "started on \(v.host.name)"))
        return true
    }

    /// Reaches a host and asks its relaynode for its version.
    public static func checkHost(_ host: HostRecord) throws -> String {
        let r = try host.makeTransport().check(host.relaynode() + ["--version"], timeout: 30, "running \(host.relaynode().joined(separator: " ")) --version")
        return r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
