import Foundation
import TorCrypto

/// A signed extra-info document (dir-spec extra-info-document-format.md): the relay's
/// bandwidth history, published beside the server descriptor, which carries its digest.
public struct ExtraInfoDocument: Sendable {
    public let text: String
    /// SHA-1 of the RSA-signed part (hex, upper case) and SHA-256 of the whole document
    /// (base64 without padding): the two values of the descriptor's `extra-info-digest`.
    public let sha1Hex: String
    public let sha256Base64: String

    /// `historyLines` are complete lines such as `write-history 2026-11-22 00:00:00 (86400 s) 1024,2048`
    /// (without newlines), in the order they should appear.
    public init(nickname: String, keys: RelayKeys, published: Date, historyLines: [String]) throws {
        guard RelayConfig.isValidNickname(nickname) else {
            throw TorProtocolError(.malformed, "nickname '\(nickname)' must be 1-19 letters or digits")
        }
        guard historyLines.allSatisfy({ !$0.contains("\n") && !$0.isEmpty }) else {
            throw TorProtocolError(.malformed, "extra-info lines must be single non-empty lines")
        }
        var d = "extra-info \(nickname) \(keys.rsaFingerprint.hex)\n"
        d += "identity-ed25519\n" + NetDoc.armour(keys.signingCert.encoded, label: "ED25519 CERT")
        d += "published \(NetDoc.formatTime(published))\n"
        for line in historyLines { d += line + "\n" }
        d += "router-sig-ed25519 "
        let edSig = keys.signingKey.sign(Digest.sha256(ServerDescriptor.ed25519SignaturePrefix + Array(d.utf8)))
        d += edSig.base64Unpadded + "\n"
        d += "router-signature\n"
        let digest = Digest.sha1(Array(d.utf8))
        d += NetDoc.armour(try keys.rsaIdentity.signRaw(digest), label: "SIGNATURE")
        text = d
        sha1Hex = digest.upperHexString
        sha256Base64 = Digest.sha256(Array(d.utf8)).base64Unpadded
    }
}
