import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import RelayStore
import TorCrypto
import TorProtocol
#if canImport(Glibc)
import Glibc
#endif

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Report whether the relay is healthy; exit status 1 with the reason when it is not.",
        discussion: """
        Reads the relay's database (also while it runs): the last start and stop, uptime, the \
        latest sample of links, circuits and memory, recent events, and the signing certificate's \
        expiry. With --probe it also opens a real Tor link to the configured ORPort and checks the \
        relay proves its identity — what a container HEALTHCHECK should run. Unhealthy: the \
        signing certificate expired, the probe failed, or the relay is not running (its last \
        run stopped, or its process is gone) and no handshake with its ORPort succeeds.
        """)

    @OptionGroup var node: NodeOptions
    @Flag(help: "Open a Tor link to the configured ORPort and check the relay's identity.") var probe = false
    @Option(help: "Seconds to wait for the probe's handshake.") var timeout: Int = 10
    @Option(help: "Recent events to show.") var events: Int = 10
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let report: HealthReport
        do {
            report = try await gather()
        } catch let e as RelayStoreError { fail(e.context) }
        catch let e as TorProtocolError { fail(e.context) }
        catch let e as CLIError { fail(e.description) }
        if json {
            try printJSON(report.json)
        } else {
            print(report.text)
        }
        if !report.problems.isEmpty {
            fail("unhealthy: " + report.problems.joined(separator: "; "))
        }
    }

    func gather() async throws -> HealthReport {
        let now = Date()
        let config = try node.relayConfig()
        let db = try NodeDatabase(readingDataDirectory: node.resolvedDataDirectory())
        let keys = try db.loadKeys()
        var r = HealthReport(now: now, fingerprint: keys.rsaFingerprint.hex, nickname: config.nickname,
                             signingExpires: keys.signingCertExpiration)
        r.lastRun = try db.lastStartOrStop()
        r.sample = try db.latestHealthSample()
        r.events = try db.healthEvents(limit: max(0, events))
        // Recorded when the flags change, so the newest one is the current listing.
        r.consensusListing = try db.healthEvents(kinds: [.consensusFlags], limit: 1).first
        if let run = r.lastRun, run.kind == .start {
            // The data directory's lock says it best (also for a relay in a container); the
            // recorded pid only when there is no lock file.
            if let held = DataDirectoryLock.isHeld(try node.resolvedDataDirectory()) {
                r.processAlive = held
            } else if let pid = run.pid {
                r.processAlive = Self.isAlive(pid)
            }
        }
        if keys.signingCertExpiration <= now {
            r.problems.append("the signing certificate expired at \(iso(keys.signingCertExpiration)); issue a new one with 'relaynode keys sign-cert'")
        }
        let running = r.lastRun?.kind == .start && r.processAlive != false
        if probe || !running {
            if let target = Self.probeTarget(config) {
                r.probe = await Self.probe(target, keys: keys, timeout: timeout)
            } else if probe {
                r.problems.append("--probe needs an ORPort: pass --config with the relay's configuration")
            }
        }
        if let p = r.probe, !p.ok {
            r.problems.append("no Tor link to the ORPort \(p.target): \(p.detail)")
        } else if !running && r.probe == nil {
            r.problems.append(r.lastRun == nil ? "the relay has never run with this database"
                : r.lastRun?.kind == .stop ? "the relay is not running (stopped at \(iso(Date(timeIntervalSince1970: TimeInterval(r.lastRun!.at)))))"
                : "the relay is not running (process \(r.lastRun?.pid.map(String.init) ?? "?") is gone)")
        }
        return r
    }

    /// Whether process `pid` exists and is not a zombie (a killed daemon whose parent has not
    /// reaped it yet is gone for our purposes).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// Where the configured ORPort can be reached from this host.
    static func probeTarget(_ config: RelayConfig) -> (host: String, port: Int)? {
        guard let p = config.orPorts.first(where: { $0.port != 0 }) else { return nil }
        switch p.host {
        case "0.0.0.0": return ("127.0.0.1", p.port)
        case "::": return ("::1", p.port)
        default: return (p.host, p.port)
        }
    }

    static func probe(_ target: (host: String, port: Int), keys: RelayKeys, timeout: Int) async -> HealthReport.Probe {
        let name = target.host.contains(":") ? "[\(target.host)]:\(target.port)" : "\(target.host):\(target.port)"
        do {
            var rng = SystemRandom()
            // Our own keys only feed the plumbing: the probe connects as a client, unauthenticated.
            let credentials = try LinkCredentials.generate(keys: keys, now: Date(), using: &rng)
            let expected = InitiatorHandshake.ExpectedPeer(rsaFingerprint: keys.rsaFingerprint, ed25519: keys.masterPublic)
            let (channel, established) = try await LinkProbe.open(host: target.host, port: target.port, expected: expected,
                                                                  credentials: credentials, authenticate: false, timeout: timeout)
            try? await channel.close()
            return .init(target: name, ok: true, detail: "link version \(established.linkVersion), identity \(keys.rsaFingerprint.hex) proven")
        } catch {
            return .init(target: name, ok: false, detail: describe(error))
        }
    }

    /// "Connection refused" rather than NIO's nested error dump.
    static func describe(_ error: any Error) -> String {
        var e: any Error = error
        if let c = e as? NIOConnectionError, let first = c.connectionErrors.first { e = first.error }
        if let io = e as? IOError { return String(cString: strerror(io.errnoCode)) }
        if e is ChannelError, case .connectTimeout = e as! ChannelError { return "no answer (connect timed out)" }
        return "\(e)"
    }
}

/// What `health` found.
struct HealthReport {
    struct Probe {
        var target: String
        var ok: Bool
        var detail: String
    }

    let now: Date
    let fingerprint: String
    let nickname: String
    let signingExpires: Date
    var lastRun: HealthEvent?
    var processAlive: Bool?
    var sample: HealthSample?
    var events: [HealthEvent] = []
    var consensusListing: HealthEvent?
    var probe: Probe?
    var problems: [String] = []

    init(now: Date, fingerprint: String, nickname: String, signingExpires: Date) {
        self.now = now
        self.fingerprint = fingerprint
        self.nickname = nickname
        self.signingExpires = signingExpires
    }

    private func date(_ t: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(t)) }

    var state: String {
        guard let run = lastRun else { return "never started" }
        let pid = run.pid.map { " (pid \($0))" } ?? ""
        switch (run.kind, processAlive) {
        case (.start, false): return "not running: process\(pid) gone since its start at \(iso(date(run.at))) (killed or crashed)"
        case (.start, _): return "running\(pid) since \(iso(date(run.at))), up \(Self.duration(now.timeIntervalSince(date(run.at))))"
        default: return "stopped at \(iso(date(run.at)))"
        }
    }

    var text: String {
        var rows: [(String, String)] = [
            ("relay", "\(nickname) \(fingerprint)"),
            ("state", state),
        ]
        if let s = sample {
            let age = Self.duration(now.timeIntervalSince(date(s.at)))
            rows.append(("last sample", "\(iso(date(s.at))) (\(age) ago): \(s.linksOpen) links, \(s.circuitsOpen) circuits, "
                         + "\(s.queuedCells) queued cells, \(s.onionskinDrops) onionskin drops"
                         + (s.rssBytes.map { ", RSS \(ByteFormat.bytes(UInt64($0)))" } ?? "")
                         + (s.openFDs.map { ", \($0) open files" } ?? "")))
        }
        let left = signingExpires.timeIntervalSince(now)
        rows.append(("signing cert", "expires \(iso(signingExpires)) " + (left > 0 ? "(in \(Self.duration(left)))" : "(EXPIRED)")))
        if let p = probe { rows.append(("probe", "\(p.target): \(p.ok ? "ok, " : "FAILED: ")\(p.detail)")) }
        for (i, e) in events.enumerated() {
            let outcome = e.ok.map { $0 ? " ok" : " FAILED" } ?? ""
            let pid = e.pid.map { " pid \($0)" } ?? ""
            rows.append((i == 0 ? "recent events" : "", "\(iso(date(e.at))) \(e.kind.rawValue)\(outcome)\(pid)\(e.detail.isEmpty ? "" : " \(e.detail)")"))
        }
        rows.append(("status", problems.isEmpty ? "healthy" : "UNHEALTHY: " + problems.joined(separator: "; ")))
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }

    var json: [String: Any] {
        var o: [String: Any] = [
            "healthy": problems.isEmpty, "problems": problems, "rsa_fingerprint": fingerprint, "nickname": nickname,
            "state": state, "running": lastRun?.kind == .start && processAlive != false,
            "signing_cert_expires": iso(signingExpires), "signing_cert_expires_unix": Int64(signingExpires.timeIntervalSince1970),
            "events": events.map { e -> [String: Any] in
                var d: [String: Any] = ["at": iso(date(e.at)), "kind": e.kind.rawValue, "detail": e.detail]
                if let ok = e.ok { d["ok"] = ok }
                if let pid = e.pid { d["pid"] = pid }
                return d
            },
        ]
        if let run = lastRun, run.kind == .start {
            o["started"] = iso(date(run.at))
            o["uptime_seconds"] = Int(now.timeIntervalSince(date(run.at)))
        }
        if let s = sample {
            var d: [String: Any] = ["at": iso(date(s.at)), "links_open": s.linksOpen, "circuits_open": s.circuitsOpen,
                                    "queued_cells": s.queuedCells, "onionskin_drops": s.onionskinDrops]
            if let r = s.rssBytes { d["rss_bytes"] = r }
            if let f = s.openFDs { d["open_fds"] = f }
            o["sample"] = d
        }
        if let p = probe { o["probe"] = ["target": p.target, "ok": p.ok, "detail": p.detail] }
        if let l = consensusListing {
            o["consensus_listed"] = l.ok ?? false
            o["consensus_flags"] = l.ok == true ? l.detail.split(separator: " ").map(String.init) : [String]()
            o["consensus_flags_since"] = iso(date(l.at))
        }
        return o
    }

    static func duration(_ seconds: TimeInterval) -> String {
        let s = Int(max(0, seconds))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m \(s % 60)s" }
        if s < 86_400 { return "\(s / 3600)h \(s % 3600 / 60)m" }
        return "\(s / 86_400)d \(s % 86_400 / 3600)h"
    }
}
