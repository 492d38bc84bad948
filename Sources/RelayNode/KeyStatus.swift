import Foundation
import TorCrypto
import TorProtocol

/// What `keys show` reports. The JSON field names are an interface: fleetctl and scripts read
/// `rsa_fingerprint` and `ed25519_identity`.
struct KeyStatus: Encodable {
    var nickname: String
    var rsa_fingerprint: String
    var rsa_fingerprint_spaced: String
    var hashed_fingerprint: String
    var ed25519_identity: String
    var master_key: String
    var signing_key: String
    var signing_cert_expires: String
    var signing_cert_expires_unix: Int64
    var signing_cert_expired: Bool
    var ntor_onion_key: String
    var onion_key_created: String
    var onion_key_rotation_due: String
    var previous_ntor_onion_key: String?
    var previous_onion_key_expires: String?
    var family_keys: [String: String]

    init(keys: RelayKeys, now: Date, nickname: String, lifetimes: KeyLifetimes = KeyLifetimes()) {
        self.nickname = nickname
        rsa_fingerprint = keys.rsaFingerprint.hex
        rsa_fingerprint_spaced = keys.rsaFingerprint.spaced
        hashed_fingerprint = keys.rsaFingerprint.hashed.hex
        ed25519_identity = keys.masterPublic.base64
        master_key = keys.masterSecret == nil ? "offline" : "online"
        signing_key = keys.signingKey.publicKey.base64
        signing_cert_expires = iso(keys.signingCertExpiration)
        signing_cert_expires_unix = Int64(keys.signingCertExpiration.timeIntervalSince1970)
        signing_cert_expired = keys.signingCertExpiration < now
        ntor_onion_key = keys.onionCurrent.ntor.publicKey.bytes.base64Unpadded
        onion_key_created = iso(keys.onionCurrent.createdAt)
        onion_key_rotation_due = iso(keys.onionCurrent.createdAt + lifetimes.onionKeyRotation)
        previous_ntor_onion_key = keys.onionPrevious?.ntor.publicKey.bytes.base64Unpadded
        previous_onion_key_expires = keys.onionPreviousExpires.map(iso)
        family_keys = Dictionary(uniqueKeysWithValues: keys.family.map { ($0.name, $0.key.publicKey.base64) })
    }
}

func printStatus(_ s: KeyStatus, json: Bool) throws {
    if json {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        print(String(decoding: try e.encode(s), as: UTF8.self))
        return
    }
    var rows: [(String, String)] = [
        ("nickname", s.nickname),
        ("rsa fingerprint", s.rsa_fingerprint_spaced),
        ("ed25519 identity", s.ed25519_identity),
        ("master key", s.master_key),
        ("signing cert expires", s.signing_cert_expires + (s.signing_cert_expired ? "  EXPIRED" : "")),
        ("ntor onion key", s.ntor_onion_key),
        ("onion key rotation due", s.onion_key_rotation_due),
    ]
    if let p = s.previous_ntor_onion_key, let e = s.previous_onion_key_expires {
        rows.append(("previous onion key", "\(p) (until \(e))"))
    }
    for (name, key) in s.family_keys.sorted(by: { $0.key < $1.key }) { rows.append(("family key \(name)", key)) }
    let width = rows.map(\.0.count).max() ?? 0
    for (k, v) in rows { print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
}
