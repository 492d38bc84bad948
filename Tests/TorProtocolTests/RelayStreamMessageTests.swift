import NIOCore
import Testing
import TorCrypto
@testable import TorProtocol

/// Stream relay messages: BEGIN, BEGIN_DIR, CONNECTED, END, DATA, RESOLVE, RESOLVED.
///
/// Vectors marked "CTor" are from arti crates/tor-cell/tests/testvec_relaymsg.rs, "taken by
/// instrumenting Tor 0.4.5.0-alpha-dev to dump all of its cells ... in a chutney network";
/// those marked "arti hand" are that file's hand-generated ones; the rest are ours, named by
/// the rule they exercise.
@Suite struct RelayStreamMessageTests {
    typealias T = RelayTest

    // MARK: BEGIN

    @Test func beginFromCTor() throws {
        try T.roundTrip("3132372E302E302E313A3730303300", BeginMessage(host: "127.0.0.1", port: 7003))
    }

    @Test func beginWithFlags() throws {
        // arti hand: flags 3.
        try T.roundTrip("7777772e786b63642e636f6d3a34343300 00000003",
                        BeginMessage(host: "www.xkcd.com", port: 443, flags: [.ipv6Okay, .ipv4NotOkay]))
    }

    @Test func beginWithBracketedIPv6() throws {
        // arti hand.
        let begin = try BeginMessage(host: "[2001:db8::1]", port: 22)
        try T.roundTrip("5b323030313a6462383a3a315d3a323200", begin)
        #expect(begin.unbracketedHost == "2001:db8::1")
    }

    @Test func beginZeroFlagsReencodeWithoutThem() throws {
        try T.noncanonical("3132372E302E302E313A3730303300 00000000", "3132372E302E302E313A3730303300",
                           BeginMessage(host: "127.0.0.1", port: 7003))
    }

    @Test func beginFlagsNeedAllFourBytes() throws {
        // Three bytes after the NUL: CTor before 0.4.9.7 read a fourth past LENGTH; now flags 0.
        try T.noncanonical(T.hex("example.com:80") + "00 000001", T.hex("example.com:80") + "00",
                           BeginMessage(host: "example.com", port: 80))
    }

    @Test func beginBytesAfterFlagsAreIgnored() throws {
        try T.noncanonical(T.hex("example.com:80") + "00 00000004 ffff", T.hex("example.com:80") + "00 00000004",
                           BeginMessage(host: "example.com", port: 80, flags: .ipv6Preferred))
    }

    @Test func beginUnknownFlagBitsAreKept() throws {
        try T.roundTrip(T.hex("a.b:1") + "00 80000001", BeginMessage(host: "a.b", port: 1, flags: BeginFlags(rawValue: 0x8000_0001)))
    }

    @Test func beginWithoutNULIsMalformed() {
        T.rejects(BeginMessage.self, T.hex("example.com:80"), .malformed)
    }

    @Test func beginWithoutPortIsMalformed() {
        T.rejects(BeginMessage.self, "5b3a3a5d21", .malformed)  // arti hand: "[::]!"
        T.rejects(BeginMessage.self, T.hex("example.com") + "00", .malformed)
        T.rejects(BeginMessage.self, T.hex("example.com:") + "00", .malformed)
    }

    @Test func beginWithPortZeroIsMalformed() {
        T.rejects(BeginMessage.self, T.hex("example.com:0") + "00", .malformed)
    }

    @Test func beginWithPortOver65535IsMalformed() {
        T.rejects(BeginMessage.self, T.hex("example.com:65536") + "00", .malformed)
        T.rejects(BeginMessage.self, T.hex("example.com:123456") + "00", .malformed)
    }

    @Test func beginWithSignedPortIsMalformed() {
        T.rejects(BeginMessage.self, T.hex("example.com:+80") + "00", .malformed)
    }

    @Test func beginWithNonASCIIHostIsMalformed() {
        // arti hand: "torproject™.org:443".
        T.rejects(BeginMessage.self, "746f7270726f6a656374e284a22e6f72673a34343300", .malformed)
    }

    @Test func beginWithUnbracketedIPv6IsMalformed() {
        T.rejects(BeginMessage.self, T.hex("::1:80") + "00", .malformed)
        T.rejects(BeginMessage.self, T.hex("2001:db8::1:443") + "00", .malformed)
    }

    @Test func beginWithEmptyHostIsMalformed() {
        T.rejects(BeginMessage.self, T.hex(":80") + "00", .malformed)
        T.rejects(BeginMessage.self, T.hex("[]:80") + "00", .malformed)
    }

    @Test func beginWithSpaceInHostIsMalformed() {
        T.rejects(BeginMessage.self, T.hex("exa mple.com:80") + "00", .malformed)
    }

    @Test func beginConstructionChecksLikeParsing() {
        T.expectError(.malformed) { try BeginMessage(host: "::1", port: 80) }
        T.expectError(.malformed) { try BeginMessage(host: "example.com", port: 0) }
    }

    // MARK: BEGIN_DIR

    @Test func beginDirIsEmpty() throws {
        try T.roundTrip("", BeginDirMessage())
        try T.noncanonical("00ff", "", BeginDirMessage())
    }

    // MARK: CONNECTED

    @Test func connectedEmpty() throws {
        try T.roundTrip("", ConnectedMessage())
    }

    @Test func connectedIPv4FromCTor() throws {
        try T.roundTrip("7F000001 00000E10", ConnectedMessage(address: .ipv4([127, 0, 0, 1]), ttl: 0xE10))
    }

    @Test func connectedIPv6() throws {
        // arti hand.
        try T.roundTrip("00000000 06 20010db8 00000000 00000000 00001122 00000E10",
                        ConnectedMessage(address: .ipv6(T.unhex("20010db8000000000000000000001122")), ttl: 0xE10))
    }

    @Test func connectedIPv4WithoutTTL() throws {
        try T.roundTrip("7F000001", ConnectedMessage(address: .ipv4([127, 0, 0, 1]), ttl: nil))
        try T.noncanonical("7F000001 0000", "7F000001", ConnectedMessage(address: .ipv4([127, 0, 0, 1]), ttl: nil))
    }

    @Test func connectedTrailingBytesAreIgnored() throws {
        try T.noncanonical("7F000001 00000E10 abcdef", "7F000001 00000E10", ConnectedMessage(address: .ipv4([127, 0, 0, 1]), ttl: 0xE10))
    }

    @Test func connectedWithBogusIPv6TypeIsMalformed() {
        // arti hand: type 7.
        T.rejects(ConnectedMessage.self, "00000000 07 20010db8 00000000 00000000 00001122 00000E10", .malformed)
    }

    @Test func connectedShorterThanAnAddressIsMalformed() {
        T.rejects(ConnectedMessage.self, "7F0000", .malformed)
    }

    @Test func connectedIPv6WithoutTTLIsMalformed() {
        T.rejects(ConnectedMessage.self, "00000000 06 20010db8 00000000 00000000 00001122", .malformed)
        T.rejects(ConnectedMessage.self, "00000000", .malformed)
    }

    @Test func connectedThatCannotBeEncodedIsRefused() {
        T.expectError(.malformed) { try ConnectedMessage(address: .ipv4([0, 0, 0, 0]), ttl: 60) }
        T.expectError(.malformed) { try ConnectedMessage(address: .ipv6([UInt8](repeating: 1, count: 16)), ttl: nil) }
        T.expectError(.malformed) { try ConnectedMessage(address: .ipv4([1, 2, 3]), ttl: nil) }
    }

    // MARK: END

    @Test func endWithReason() throws {
        try T.roundTrip("01", EndMessage(reason: .misc))  // arti: new_misc
        try T.roundTrip("06", EndMessage(reason: .done))
        try T.roundTrip("ee", EndMessage(reason: EndReason(0xee)))
    }

    @Test func endExitPolicyWithAddressAndTTL() throws {
        // arti hand.
        try T.roundTrip("04 7f000007 00000100", EndMessage(exitPolicyAddress: .ipv4([127, 0, 0, 7]), ttl: 256))
        try T.roundTrip("04 20010db8 00000000 00000000 0000f00b 00000200",
                        EndMessage(exitPolicyAddress: .ipv6(T.unhex("20010db80000000000000000 0000f00b")), ttl: 512))
    }

    @Test func endExitPolicyWithoutTTL() throws {
        // arti hand ("with no TTL"); arti fills TTL 0xffffffff, we keep its absence.
        try T.roundTrip("04 7f000007", EndMessage(exitPolicyAddress: .ipv4([127, 0, 0, 7]), ttl: nil))
        try T.roundTrip("04 20010db8 00000000 00000000 0000f00b",
                        EndMessage(exitPolicyAddress: .ipv6(T.unhex("20010db80000000000000000 0000f00b")), ttl: nil))
    }

    @Test func reasonlessEndIsMisc() throws {
        // arti hand "to be empty"; CTor 0.4.9.7 (TROVE-2026-011) handles it without reading past the body.
        try T.noncanonical("", "01", EndMessage(reason: .misc))
    }

    @Test func endAddressOfOtherLengthIsIgnored() throws {
        try T.noncanonical("04 7f00", "04", EndMessage(reason: .exitPolicy))
        try T.noncanonical("04 7f000007 000001", "04", EndMessage(reason: .exitPolicy))
    }

    @Test func endAddressWithOtherReasonIsIgnored() throws {
        try T.noncanonical("06 7f000007 00000100", "06", EndMessage(reason: .done))
    }

    @Test func endWithAddressButNotExitPolicyCannotBeEncoded() {
        var end = EndMessage(exitPolicyAddress: .ipv4([1, 2, 3, 4]), ttl: 60)
        end.reason = .done
        T.expectError(.malformed) { try end.encodedBody() }
    }

    // MARK: DATA

    @Test func dataRoundTrip() throws {
        // arti hand.
        try T.roundTrip("474554202f20485454502f312e310d0a0d0a", DataMessage(Array("GET / HTTP/1.1\r\n\r\n".utf8)))
        try T.roundTrip("", DataMessage([]))
        try T.roundTrip(String(repeating: "ab", count: 498), DataMessage([UInt8](repeating: 0xab, count: 498)))
    }

    @Test func dataOverOneCellIsRefused() {
        T.expectError(.malformed) { try DataMessage([UInt8](repeating: 0, count: 499)) }
        T.rejects(DataMessage.self, String(repeating: "00", count: 499), .malformed)
    }

    // MARK: RESOLVE

    @Test func resolveRoundTrip() throws {
        // arti hand.
        try T.roundTrip(T.hex("www.torproject.org") + "00", ResolveMessage(hostname: "www.torproject.org"))
    }

    @Test func resolveReverseLookups() throws {
        // arti hand: new_reverse.
        try T.roundTrip(T.hex("1.0.0.127.in-addr.arpa") + "00", ResolveMessage(reverseLookupOf: .ipv4([127, 0, 0, 1])))
        let v6 = [UInt8]([0x20, 0x01] + [UInt8](repeating: 0, count: 14))
        try T.roundTrip(T.hex("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.2.ip6.arpa") + "00",
                        ResolveMessage(reverseLookupOf: .ipv6(v6)))
    }

    @Test func resolveWithoutNULIsAccepted() throws {
        // CTor copies up to the NUL or the end.
        try T.noncanonical(T.hex("example.com"), T.hex("example.com") + "00", ResolveMessage(hostname: "example.com"))
    }

    @Test func resolveOfNothingIsMalformed() {
        T.rejects(ResolveMessage.self, "", .malformed)
        T.rejects(ResolveMessage.self, "00", .malformed)
        T.rejects(ResolveMessage.self, "e284a200", .malformed)
    }

    // MARK: RESOLVED

    @Test func resolvedVectors() throws {
        typealias R = ResolvedMessage
        // All arti hand.
        try T.roundTrip("", R(answers: []))
        try T.roundTrip("F0 00 00000E10", R(answers: [.init(.transientError, ttl: 3600)]))
        try T.roundTrip("F1 00 00000E10", R(answers: [.init(.permanentError, ttl: 3600)]))
        try T.roundTrip("04 04 7f000001 00000E10 04 04 7f000002 00001c20",
                        R(answers: [.init(.address(.ipv4([127, 0, 0, 1])), ttl: 3600), .init(.address(.ipv4([127, 0, 0, 2])), ttl: 7200)]))
        try T.roundTrip("06 10 12340000000000000000000000005678 00000080",
                        R(answers: [.init(.address(.ipv6(T.unhex("12340000000000000000000000005678"))), ttl: 128)]))
        try T.roundTrip("00 12 7777772e746f7270726f6a6563742e6f7267 00000258",
                        R(answers: [.init(.hostname(Array("www.torproject.org".utf8)), ttl: 600)]))
        try T.roundTrip("63 12 7777772e746f7270726f6a6563742e6f7267 00000258",
                        R(answers: [.init(.unrecognized(type: 0x63, value: Array("www.torproject.org".utf8)), ttl: 600)]))
    }

    @Test func resolvedErrorContentIsIgnored() throws {
        try T.noncanonical("F0 02 abcd 00000001", "F0 00 00000001", ResolvedMessage(answers: [.init(.transientError, ttl: 1)]))
    }

    @Test func resolvedWithWrongIPv4LengthIsMalformed() {
        T.rejects(ResolvedMessage.self, "04 03 010203 00000001", .malformed)  // arti hand
    }

    @Test func resolvedWithWrongIPv6LengthIsMalformed() {
        T.rejects(ResolvedMessage.self, "06 04 01020304 00000001", .malformed)
    }

    @Test func resolvedWithEmptyHostnameIsMalformed() {
        T.rejects(ResolvedMessage.self, "00 00 00000001", .malformed)
    }

    @Test func resolvedAnswerRunningPastTheBodyIsTruncated() {
        T.rejects(ResolvedMessage.self, "04 04 7f000001 0000", .truncated)
        T.rejects(ResolvedMessage.self, "04 04 7f000001 00000001 04", .truncated)
        T.rejects(ResolvedMessage.self, "00 10 6162", .truncated)
    }

    @Test func resolvedThatCannotBeEncodedIsRefused() {
        T.expectError(.malformed) { try ResolvedMessage(answers: [.init(.hostname([]), ttl: 1)]).encodedBody() }
        T.expectError(.malformed) { try ResolvedMessage(answers: [.init(.unrecognized(type: 4, value: [1]), ttl: 1)]).encodedBody() }
        T.expectError(.malformed) { try ResolvedMessage(answers: [.init(.address(.ipv4([1, 2])), ttl: 1)]).encodedBody() }
    }
}
