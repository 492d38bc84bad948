import Foundation
import GRDB

public enum KeyRole: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case rsaIdentity = "rsa_identity"
    case ed25519Master = "ed25519_master"
    case ed25519Signing = "ed25519_signing"
    case ntorOnion = "ntor_onion"
    case tapOnion = "tap_onion"
    case family
}

public enum KeySlot: String, Codable, Sendable, DatabaseValueConvertible {
    case current, previous
}

/// One row of `relay_key`.
struct StoredKey: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "relay_key"
    var id: Int64?
    var role: KeyRole
    var slot: KeySlot
    var label: String
    var publicKey: Data
    var secretKey: Data?
    var certificate: Data?
    var createdAt: Int64
    var expiresAt: Int64?

    enum CodingKeys: String, CodingKey {
        case id, role, slot, label
        case publicKey = "public_key"
        case secretKey = "secret_key"
        case certificate
        case createdAt = "created_at"
        case expiresAt = "expires_at"
    }
}

public enum KeyEventKind: String, Codable, Sendable, DatabaseValueConvertible {
    case generated, imported, exported, rotated, installed, renewed
    case masterOffline = "master_offline"
}

/// One row of `key_event`: what happened to which key, never the key itself.
public struct KeyEvent: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "key_event"
    public var id: Int64?
    public var at: Int64
    public var kind: KeyEventKind
    public var role: String
    public var detail: String

    public init(at: Date, kind: KeyEventKind, role: String, detail: String = "") {
        self.at = Int64(at.timeIntervalSince1970)
        self.kind = kind
        self.role = role
        self.detail = detail
    }
}
