import FleetKit
import Foundation
import Testing
import TestSupport

@Suite("Transports", .testThreads, .serialized)
struct TransportTests {
    @Test(.timeLimit(.minutes(1)))
    func localRunsArgvWithStdinAndStatus() throws {
        let t = LocalTransport()
        let r = try t.run(["sh", "-c", "cat; echo oops >&2; exit 3"], stdin: Array("hello".utf8), timeout: 10)
        #expect(r.status == 3)
        #expect(r.stdoutText == "hello")
        #expect(r.stderrText == "oops\n")
        // Arguments are passed as they are, not through a shell.
        #expect(try t.run(["echo", "$HOME; rm -rf /"], timeout: 10).stdoutText == "$HOME; rm -rf /\n")
        let big = [UInt8](repeating: 0x61, count: 1 << 20)
        #expect(try t.run(["cat"], stdin: big, timeout: 30).stdout == big)
        let e = #expect(throws: FleetError.self) { try t.check(["false"], "the false step") }
        #expect(e?.context.contains("the false step failed on local (exit 1)") == true)
    }

    @Test(.timeLimit(.minutes(1)))
    func timeoutStopsTheCommand() throws {
        let start = Date()
        let e = #expect(throws: FleetError.self) { _ = try LocalTransport().run(["sleep", "30"], timeout: 1) }
        #expect(e?.code == .timeout)
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test(.timeLimit(.minutes(1)))
    func localFiles() throws {
        let tmp = TempDir()
        let t = LocalTransport()
        try t.writeFile(Array("secret\n".utf8), to: tmp.sub("f"))
        #expect(fileMode(tmp.sub("f")) == 0o600)
        #expect(try t.readFile(tmp.sub("f")) == Array("secret\n".utf8))
        #expect(throws: FleetError.self) { _ = try t.readFile(tmp.sub("missing")) }
    }

    @Test(.timeLimit(.minutes(2)))
    func sshRunsCommandsAndCopiesFiles() throws {
        let server = try SSHServer()
        defer { server.stop() }
        let tmp = TempDir()
        let t = server.transport
        let r = try t.run(["sh", "-c", "printf '%s|' \"$@\"; exit 4", "sh", "a b", "it's", "$x", ""], timeout: 20)
        #expect(r.status == 4)
        #expect(r.stdoutText == "a b|it's|$x||")
        let payload = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try t.writeFile(payload, to: tmp.sub("copied"))
        #expect(sha(tmp.sub("copied")) == payload)
        #expect(fileMode(tmp.sub("copied")) == 0o600)
        #expect(try t.readFile(tmp.sub("copied")) == payload)
        let e = #expect(throws: FleetError.self) { _ = try t.run(["sleep", "30"], timeout: 2) }
        #expect(e?.code == .timeout)
    }

    @Test(.timeLimit(.minutes(1)))
    func sshToAHostThatIsDown() throws {
        let server = try SSHServer()
        server.stop()
        let e = #expect(throws: FleetError.self) { _ = try server.transport.run(["true"], timeout: 20) }
        #expect(e?.code == .transport)
        #expect(e?.context.contains("cannot reach host over ssh fleet-ssh-host") == true, "\(String(describing: e))")
    }
}
