import Foundation
import Testing
import TestSupport
import TorCrypto
@testable import TorProtocol

@Suite("Control port authentication", .testThreads)
struct ControlAuthTests {
    /// Recorded from Debian's tor 0.4.9.11: `tor --hash-password relayfleet-control`.
    static let recorded = "16:B76D033DA62D2B6660349E35FE433C9775386E072B5D767657EEC6DEE8"

    @Test func hashedPasswordFromCTorVerifies() throws {
        let h = try HashedControlPassword(parsing: Self.recorded)
        #expect(h.countSpecifier == 0x60)
        #expect(h.matches(Array("relayfleet-control".utf8)))
        #expect(!h.matches(Array("relayfleet-contro".utf8)) && !h.matches([]))
        #expect(h.text == Self.recorded)
    }

    /// The real tor as the reference, now: every hash it makes verifies, and ours verify with
    /// the same S2K it uses (checked by re-hashing with its salt).
    @Test func hashesFromTheInstalledTorVerify() throws {
        guard let tor = ["/usr/bin/tor", "/usr/sbin/tor"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("Debian's tor is not installed (make deps)")
            return
        }
        for password in ["x", "a longer passphrase with spaces", String(repeating: "z", count: 200)] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tor)
            p.arguments = ["--quiet", "--hash-password", password]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            p.waitUntilExit()
            let line = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .split(separator: "\n").last.map(String.init) ?? ""
            let h = try HashedControlPassword(parsing: line)
            #expect(h.matches(Array(password.utf8)), "\(line)")
            #expect(!h.matches(Array((password + "!").utf8)))
            var rng = SystemRandom()
            let ours = HashedControlPassword.make(password: Array(password.utf8), using: &rng)
            #expect(ours.matches(Array(password.utf8)))
            #expect(HashedControlPassword.s2k(password: Array(password.utf8), salt: h.salt, countSpecifier: h.countSpecifier) == h.digest)
        }
    }

    @Test func malformedHashesAreRefused() {
        for bad in ["", "16:", "17:B76D033DA62D2B6660349E35FE433C9775386E072B5D767657EEC6DEE8", "16:B76D03",
                    "16:ZZ6D033DA62D2B6660349E35FE433C9775386E072B5D767657EEC6DEE8", Self.recorded + "00"] {
            #expect(throws: TorProtocolError.self) { try HashedControlPassword(parsing: bad) }
        }
    }

    /// SAFECOOKIE HMACs (control-spec §3.24). Values computed independently with Python's hmac
    /// module: cookie 00..1F, client nonce 32×AA, server nonce 32×55.
    @Test func safeCookieHashes() {
        let cookie = Array(0..<32).map(UInt8.init), client = [UInt8](repeating: 0xAA, count: 32), server = [UInt8](repeating: 0x55, count: 32)
        #expect(ControlAuth.serverHash(cookie: cookie, clientNonce: client, serverNonce: server).upperHexString
                == "5F7CB5569957C99373E329258545940F029AF175DA225F4A3125EEBF30C24BBA")
        #expect(ControlAuth.controllerHash(cookie: cookie, clientNonce: client, serverNonce: server).upperHexString
                == "9F99F2C4B75C91123CA5C6C6E3F76A9EF7FBD9471053CBE34454A4269CC39F7C")
    }

    @Test func controlPortOptions() throws {
        func parse(_ text: String) throws -> RelayConfig { try RelayConfig(torrc: Torrc(parsing: text, file: "t")) }
        let c = try parse("ControlPort 9051\nControlPort 127.0.0.2:9052\nControlPort unix:/run/rn/control\nControlSocket \"/run/rn/c2\"\n"
                          + "CookieAuthentication 1\nCookieAuthFile /run/rn/cookie\nHashedControlPassword \(Self.recorded)\n")
        #expect(c.control.listeners == [.tcp(host: "127.0.0.1", port: 9051), .tcp(host: "127.0.0.2", port: 9052),
                                        .unix(path: "/run/rn/control"), .unix(path: "/run/rn/c2")])
        #expect(c.control.cookieAuthentication && c.control.cookieAuthFile == "/run/rn/cookie" && c.control.hashedPasswords.count == 1)
        #expect(try parse("ControlPort [::1]:9051\nCookieAuthentication 1\n").control.listeners == [.tcp(host: "::1", port: 9051)])
        func error(_ text: String) -> String {
            do { _ = try parse(text); return "accepted" } catch { return "\(error)" }
        }
        #expect(error("ControlPort 0.0.0.0:9051\nCookieAuthentication 1\n").contains("t:1: ControlPort must listen on a loopback address"))
        #expect(error("ControlPort 192.0.2.1:9051\nCookieAuthentication 1\n").contains("loopback"))
        #expect(error("ControlPort 9051\n").contains("neither CookieAuthentication 1 nor HashedControlPassword"))
        #expect(error("ControlPort 9051\nHashedControlPassword 16:00\n").contains("t:2: HashedControlPassword must be"))
        #expect(error("ControlPort unix:relative\nCookieAuthentication 1\n").contains("absolute path"))
        #expect(error("ControlPort 9051 GroupWritable\nCookieAuthentication 1\n").contains("flags are not supported"))
        #expect(error("ControlPort auto\nCookieAuthentication 1\n") != "accepted")
    }
}

@Suite("Operator options: bandwidth, logging, heartbeat", .testThreads)
struct OperationsOptionsTests {
    func parse(_ text: String) throws -> RelayConfig { try RelayConfig(torrc: Torrc(parsing: text, file: "t")) }
    func error(_ text: String) -> String {
        do { _ = try parse(text); return "accepted" } catch { return "\(error)" }
    }

    @Test func bandwidthOptionsAndTheEffectiveRates() throws {
        let d = try parse("")
        #expect(d.effectiveBandwidthRate == 1 << 30 && d.advertisedBandwidthRate == 1 << 30 && d.operations.maxAdvertisedBandwidth == 1 << 30)
        let c = try parse("BandwidthRate 10 MBytes\nBandwidthBurst 20 MBytes\nRelayBandwidthRate 4 MBytes\nRelayBandwidthBurst 8 MBytes\nMaxAdvertisedBandwidth 2 MBytes\n")
        #expect(c.effectiveBandwidthRate == 4 << 20 && c.effectiveBandwidthBurst == 8 << 20)
        #expect(c.advertisedBandwidthRate == 2 << 20)
        let off = try parse("BandwidthRate 10 MBytes\nRelayBandwidthRate 0\n")
        #expect(off.effectiveBandwidthRate == 10 << 20)
        #expect(error("RelayBandwidthRate 8 MBytes\nRelayBandwidthBurst 4 MBytes\n").contains("RelayBandwidthBurst"))
        #expect(error("MaxAdvertisedBandwidth fast\n").contains("t:1: MaxAdvertisedBandwidth"))
    }

    @Test func logLines() throws {
        let c = try parse("Log notice stderr\nLog info-warn file /var/log/relaynode/info.log\nLog err stdout\n")
        #expect(c.operations.logs == [
            .init(min: .notice, max: .err, destination: .stderr),
            .init(min: .info, max: .warn, destination: .file("/var/log/relaynode/info.log")),
            .init(min: .err, max: .err, destination: .stdout),
        ])
        #expect(error("Log notice syslog\n").contains("t:1: Log syslog is not supported"))
        #expect(error("Log loud stderr\n").contains("t:1: Log severity 'loud'"))
        #expect(error("Log warn-info stderr\n").contains("runs backwards"))
        #expect(error("Log notice file relative.log\n").contains("absolute path"))
        #expect(error("Log notice\n").contains("needs a severity and a destination"))
        #expect(error("Log [handshake]info stderr\n").contains("domains"))
    }

    @Test func safeLoggingAndHeartbeat() throws {
        #expect(try parse("").operations.safeLogging && parse("SafeLogging relay\n").operations.safeLogging)
        #expect(try !parse("SafeLogging 0\n").operations.safeLogging)
        #expect(error("SafeLogging maybe\n").contains("t:1: SafeLogging must be 0, 1 or relay"))
        #expect(try parse("").operations.heartbeatPeriod == 6 * 3600)
        #expect(try parse("HeartbeatPeriod 2 hours\n").operations.heartbeatPeriod == 7200)
        #expect(try parse("HeartbeatPeriod 0\n").operations.heartbeatPeriod == 0)
        #expect(error("HeartbeatPeriod 10 minutes\n").contains("at least 30 minutes"))
        #expect(try parse("TestingTorNetwork 1\nHeartbeatPeriod 1 second\n").operations.heartbeatPeriod == 1)
    }
}

@Suite("Accounting (AccountingMax)", .testThreads)
struct AccountingTests {
    func date(_ s: String) -> Date { ISO8601DateFormatter().date(from: s)! }
    func parse(_ text: String) throws -> AccountingConfig { try RelayConfig(torrc: Torrc(parsing: text, file: "t")).operations.accounting }

    @Test func intervals() throws {
        let month = try parse("AccountingMax 10 GBytes\nAccountingStart month 3 15:00\n")
        #expect(month.max == 10 << 30 && month.rule == .max)
        var i = month.interval(containing: date("2026-11-22T10:00:00Z"))
        #expect(i.start == date("2026-11-03T15:00:00Z") && i.end == date("2026-12-03T15:00:00Z"))
        i = month.interval(containing: date("2026-11-03T14:59:59Z"))
        #expect(i.start == date("2026-10-03T15:00:00Z") && i.end == date("2026-11-03T15:00:00Z"))
        let week = try parse("AccountingMax 1 TBytes\nAccountingStart week 1 00:00\nAccountingRule sum\n")   // Mondays
        i = week.interval(containing: date("2026-11-22T10:00:00Z"))                                       // a Sunday
        #expect(i.start == date("2026-11-16T00:00:00Z") && i.end == date("2026-11-23T00:00:00Z"))
        i = week.interval(containing: date("2026-11-23T00:00:00Z"))
        #expect(i.start == date("2026-11-23T00:00:00Z"))
        let day = try parse("AccountingMax 500 MBytes\nAccountingStart day 04:30\n")
        i = day.interval(containing: date("2026-11-22T03:00:00Z"))
        #expect(i.start == date("2026-11-21T04:30:00Z") && i.end == date("2026-11-22T04:30:00Z"))
        #expect(try parse("AccountingMax 20 TBytes\n").max == 20 << 40)
        let defaults = try parse("AccountingMax 1 GByte\n")
        #expect(defaults.period == .month && defaults.startDay == 1 && defaults.startMinute == 0)
    }

    @Test func badStartsAndRulesNameTheLine() {
        func error(_ text: String) -> String {
            do { _ = try parse(text); return "accepted" } catch { return "\(error)" }
        }
        #expect(error("AccountingStart month 29 00:00\n").contains("t:1: AccountingStart month needs a day (1-28)"))
        #expect(error("AccountingStart week 8 00:00\n").contains("1-7"))
        #expect(error("AccountingStart day 24:00\n").contains("HH:MM"))
        #expect(error("AccountingStart hourly 00:00\n").contains("t:1: AccountingStart must be"))
        #expect(error("AccountingRule both\n").contains("t:1: AccountingRule must be sum, max, in or out"))
        #expect(error("AccountingMax lots\n").contains("t:1: AccountingMax"))
    }

    @Test func usageSoftLimitWakeAndState() {
        var a = AccountingConfig()
        a.max = 1000
        #expect(a.usage(read: 300, written: 500) == 500)
        a.rule = .sum; #expect(a.usage(read: 300, written: 500) == 800)
        a.rule = .in; #expect(a.usage(read: 300, written: 500) == 300)
        a.rule = .out; #expect(a.usage(read: 300, written: 500) == 500)
        // 95% of the budget, raised so that no more than 500 MiB, or three hours of the
        // expected rate, are held back (C tor's hibernate_soft_limit_reached).
        #expect(a.softLimit(expectedBytesPerMinute: 0) == 950)
        #expect(a.softLimit(expectedBytesPerMinute: 1) == 950)
        var big = AccountingConfig()
        big.max = 100 << 30
        #expect(big.softLimit(expectedBytesPerMinute: 0) == (100 << 30) - (500 << 20))
        #expect(big.softLimit(expectedBytesPerMinute: 1 << 20) == (100 << 30) - (180 << 20))
        #expect(big.softLimit(expectedBytesPerMinute: 10 << 20) == (100 << 30) - (500 << 20))
        let start = Date(timeIntervalSince1970: 1_000_000), end = start + 86_400
        #expect(a.wakeTime(start: start, end: end, expectedBytesPerMinute: 0, seed: [1, 2, 3, 4]) == start)
        // 1000 bytes at 10/min last 100 minutes: the wake time falls in the first 86400 - 6000 s.
        let w = a.wakeTime(start: start, end: end, expectedBytesPerMinute: 10, seed: [0xde, 0xad, 0xbe, 0xef])
        #expect(w >= start && w < end - 6000)
        #expect(w == a.wakeTime(start: start, end: end, expectedBytesPerMinute: 10, seed: [0xde, 0xad, 0xbe, 0xef]))
        #expect(a.state(usage: 100, softLimit: 950, now: start + 10, wake: start) == .awake)
        #expect(a.state(usage: 960, softLimit: 950, now: start + 10, wake: start) == .soft)
        #expect(a.state(usage: 1000, softLimit: 950, now: start + 10, wake: start) == .hard)
        #expect(a.state(usage: 0, softLimit: 950, now: start + 10, wake: start + 20) == .soft)
        #expect(AccountingConfig().state(usage: 1 << 40, softLimit: 0, now: start, wake: start) == .awake)
    }
}
