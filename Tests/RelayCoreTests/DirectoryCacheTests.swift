import Foundation
import NIOPosix
import Testing
import TestSupport
import TorCrypto
import TorProtocol
@testable import RelayCore

/// The directory cache and BEGIN_DIR, with documents CTor 0.4.9.11 made
/// (Tests/TorProtocolTests/Vectors/ctor-0.4.9.11-privnet).
@Suite(.testThreads, .timeLimit(.minutes(2)), .serialized)
struct DirectoryCacheTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    static let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("TorProtocolTests/Vectors/ctor-0.4.9.11-privnet")
    static let validAfter = NetDoc.parseTime("2026-11-22 07:31:20")!
    static let auth1 = [UInt8](hex: "A2256FA0EF98A86B360CE2EBBB26BBF02DFB5C55")!

    static func vector(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: vectors.appendingPathComponent(name + ".txt")))
    }

    /// A cache holding the vector network's documents.
    static func filledCache(identity: RSAFingerprint) throws -> DirectoryCache {
        let cache = DirectoryCache(ourIdentity: identity)
        let cert = try AuthorityCertificate(parsing: vector("authority-certificate"), now: validAfter)
        cache.install(certificates: [cert])
        for name in ["consensus-microdesc", "consensus-ns"] {
            cache.install(consensus: try Consensus(parsing: vector(name), certificates: [cert], authorities: [auth1], now: validAfter))
        }
        var mds = [String: [UInt8]]()
        for m in Microdescriptors.split(try vector("microdescs")) { mds[m.digest] = m.body }
        cache.install(microdescriptors: mds)
        return cache
    }

    @Test func servesWhatCTorClientsAsk() throws {
        let cache = try Self.filledCache(identity: try RSAFingerprint(bytes: [UInt8](repeating: 1, count: 20)))
        let now = Self.validAfter + 5
        let md = try Self.vector("consensus-microdesc")
        for path in ["/tor/status-vote/current/consensus-microdesc", "/tor/status-vote/current/consensus-microdesc.z",
                     "/tor/status-vote/current/consensus-microdesc/A225.z"] {
            let r = cache.respond(path: path, ifModifiedSince: nil, now: now)
            #expect(r.status == 200, "\(path)")
            #expect(r.body == md)
        }
        // CTor serves only when more than half of the named authorities signed: 1 of 2 is not enough.
        #expect(cache.respond(path: "/tor/status-vote/current/consensus-microdesc/A225+FFFF.z", ifModifiedSince: nil, now: now).status == 404)
        #expect(cache.respond(path: "/tor/status-vote/current/consensus-microdesc", ifModifiedSince: Self.validAfter, now: now).status == 304)
        #expect(cache.respond(path: "/tor/status-vote/current/consensus", ifModifiedSince: nil, now: now).body == (try Self.vector("consensus-ns")))
        // A consensus past valid-until is not served.
        #expect(cache.respond(path: "/tor/status-vote/current/consensus-microdesc", ifModifiedSince: nil, now: now + 3600).status == 404)

        let digests = Microdescriptors.split(try Self.vector("microdescs")).map(\.digest)
        let both = cache.respond(path: "/tor/micro/d/" + digests.joined(separator: "-") + ".z", ifModifiedSince: nil, now: now)
        #expect(Set(Microdescriptors.split(both.body).map(\.digest)) == Set(digests))
        #expect(cache.respond(path: "/tor/micro/d/AAAA", ifModifiedSince: nil, now: now).status == 404)
        #expect(cache.respond(path: "/tor/keys/all", ifModifiedSince: nil, now: now).body == (try Self.vector("authority-certificate")))
        #expect(cache.respond(path: "/tor/keys/fp/A2256FA0EF98A86B360CE2EBBB26BBF02DFB5C55.z", ifModifiedSince: nil, now: now).status == 200)
        #expect(cache.respond(path: "/tor/keys/fp/" + String(repeating: "00", count: 20), ifModifiedSince: nil, now: now).status == 404)
        #expect(cache.respond(path: "/tor/nonsense", ifModifiedSince: nil, now: now).status == 404)
        #expect(cache.isKnownRelay([UInt8](hex: "D86F9F7677E3200160AC0E07B083509D125D5A0C")!) == true)
        #expect(cache.isKnownRelay([UInt8](repeating: 9, count: 20)) == false)
        #expect(DirectoryCache(ourIdentity: try RSAFingerprint(bytes: [UInt8](repeating: 1, count: 20))).isKnownRelay([1]) == nil)
    }

    @Test func beginDirOverAOneHopCircuit() async throws {
        var cacheBox: DirectoryCache?
        let relay = try await TestRelay.start(group: Self.group, directory: try {
            let c = try Self.filledCache(identity: try RSAFingerprint(bytes: [UInt8](repeating: 1, count: 20)))
            cacheBox = c
            return c
        }())
        defer { Task { await relay.stop() } }
        let cache = try #require(cacheBox)
        let client = try await TestCircuitClient.connect(to: relay.info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: relay.info, handshake: .fast)
        try await circ.send(command: RelayCommand.beginDir.rawValue, streamID: 3)
        #expect(try await circ.receive() == RelayMessage(hop: 0, command: RelayCommand.connected.rawValue, streamID: 3, data: []))
        // The request split over two cells, as a client may send it.
        let request = Array("GET /tor/micro/d/\(cache.snapshot.microdescriptors.keys.sorted().joined(separator: "-")).z HTTP/1.0\r\nHost: x\r\n\r\n".utf8)
        try await circ.send(command: RelayCommand.data.rawValue, streamID: 3, data: Array(request.prefix(10)))
        try await circ.send(command: RelayCommand.data.rawValue, streamID: 3, data: Array(request.dropFirst(10)))
        var response = [UInt8]()
        while true {
            let m = try await circ.receive()
            #expect(m.streamID == 3)
            if m.command == RelayCommand.end.rawValue {
                #expect(m.data == [EndReason.done.rawValue])
                break
            }
            #expect(m.command == RelayCommand.data.rawValue)
            response += m.data
        }
        let parsed = try DirectoryHTTPClient.parse(response, from: "relay")
        #expect(parsed.status == 200)
        #expect(parsed.header("Content-Encoding") == "identity")
        #expect(parsed.header("Date") != nil)
        #expect(Set(Microdescriptors.split(parsed.body).map(\.digest)) == Set(cache.snapshot.microdescriptors.keys))
        #expect(relay.stats.directoryStreams == 1)
    }

    @Test func beginDirWithoutACacheIsRefused() async throws {
        let relay = try await TestRelay.start(group: Self.group)
        defer { Task { await relay.stop() } }
        let client = try await TestCircuitClient.connect(to: relay.info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: relay.info, handshake: .fast)
        try await circ.send(command: RelayCommand.beginDir.rawValue, streamID: 5)
        #expect(try await circ.receive() == RelayMessage(hop: 0, command: RelayCommand.end.rawValue, streamID: 5, data: [EndReason.notDirectory.rawValue]))
    }

    @Test func exitRefusesStreamsFromRelaysTheConsensusDoesNotList() async throws {
        // The exit's consensus lists auth1 and rn1, not the middle we make here.
        let middle = try await TestRelay.start(group: Self.group)
        let exit = try await TestRelay.start(group: Self.group, exitPolicy: try ExitPolicy.effective(configured: ["accept *:*"], rejectPrivate: false),
                                             directory: try Self.filledCache(identity: try RSAFingerprint(bytes: [UInt8](repeating: 1, count: 20))))
        defer { Task { await middle.stop(); await exit.stop() } }
        let client = try await TestCircuitClient.connect(to: middle.info, group: Self.group)
        defer { Task { await client.close() } }
        let circ = try await client.createCircuit(to: middle.info)
        try await circ.extend(to: exit.info)
        try await circ.send(command: RelayCommand.begin.rawValue, streamID: 9, data: Array("127.0.0.1:9\u{0}".utf8))
        #expect(try await circ.receive() == RelayMessage(hop: 1, command: RelayCommand.end.rawValue, streamID: 9, data: [EndReason.misc.rawValue]))
        #expect(exit.stats.streamsRefused["begin_from_unknown_relay"] == 1)
    }
}
