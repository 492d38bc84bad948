import Foundation
import GRDB
import TorCrypto
import TorProtocol

extension NodeDatabase {
    public func hasIdentity() throws -> Bool {
        try pool.read { db in
            try StoredKey.filter(Column("role") == KeyRole.rsaIdentity.rawValue).fetchCount(db) > 0
        }
    }

    /// Stores `keys` as the relay's whole key set, replacing what was there, and records
    /// `events` — in one transaction. With `requireEmpty`, an existing identity is an error
    /// and nothing is changed.
    public func saveKeys(_ keys: RelayKeys, events: [KeyEvent], requireEmpty: Bool = false) throws {
        let rows = Self.rows(for: keys)
        try pool.write { db in
            if requireEmpty, try StoredKey.fetchCount(db) > 0 {
                throw RelayStoreError(.alreadyExists, "\(path) already holds a relay identity; refusing to replace it")
            }
            try StoredKey.deleteAll(db)
            for var row in rows { try row.insert(db) }
            for var e in events { try e.insert(db) }
        }
    }

    public func loadKeys() throws -> RelayKeys {
        let rows = try pool.read { try StoredKey.fetchAll($0) }
        guard !rows.isEmpty else {
            throw RelayStoreError(.notFound, "\(path) holds no relay identity: run 'relaynode keys generate' or 'relaynode keys import-ctor'")
        }
        func one(_ role: KeyRole, _ slot: KeySlot = .current) throws -> StoredKey {
            guard let r = rows.first(where: { $0.role == role && $0.slot == slot }) else {
                throw RelayStoreError(.corrupt, "\(path) lacks the \(slot) \(role.rawValue) key")
            }
            return r
        }
        func date(_ t: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(t)) }
        func secret(_ r: StoredKey) throws -> [UInt8] {
            guard let s = r.secretKey else { throw RelayStoreError(.corrupt, "\(path): \(r.role.rawValue) key has no secret") }
            return Array(s)
        }
        func onion(_ slot: KeySlot) throws -> OnionKeys {
            let n = try one(.ntorOnion, slot), t = try one(.tapOnion, slot)
            let ntor = try Curve25519SecretKey(bytes: secret(n))
            guard ntor.publicKey.bytes == Array(n.publicKey) else {
                throw RelayStoreError(.corrupt, "\(path): \(slot) ntor onion key's public half does not match its secret")
            }
            return OnionKeys(ntor: ntor, tap: try RSAPrivateKey(pkcs1DER: secret(t)), createdAt: date(n.createdAt))
        }
        do {
            let rsa = try one(.rsaIdentity), master = try one(.ed25519Master), signing = try one(.ed25519Signing)
            let hasPrevious = rows.contains { $0.role == .ntorOnion && $0.slot == .previous }
            let previous = hasPrevious ? try one(.ntorOnion, .previous) : nil
            let masterPublic = try Ed25519PublicKey(bytes: Array(master.publicKey))
            return try RelayKeys(
                rsaIdentity: RSAPrivateKey(pkcs1DER: secret(rsa)), rsaIdentityCreated: date(rsa.createdAt),
                masterPublic: masterPublic,
                masterSecret: try master.secretKey.map { try Ed25519SecretKey(expanded: Array($0)) },
                masterCreated: date(master.createdAt),
                signingKey: try Ed25519SecretKey(expanded: secret(signing)),
                signingCert: try UncheckedEd25519Cert(parsing: Array(signing.certificate ?? Data())),
                signingCreated: date(signing.createdAt),
                onionCurrent: try onion(.current),
                onionPrevious: hasPrevious ? try onion(.previous) : nil,
                onionPreviousExpires: previous?.expiresAt.map(date),
                family: try rows.filter { $0.role == .family }.map {
                    FamilyKey(name: $0.label, key: try Ed25519SecretKey(expanded: secret($0)), createdAt: date($0.createdAt))
                })
        } catch let e as RelayStoreError {
            throw e
        } catch {
            throw RelayStoreError(.corrupt, "\(path): stored keys are inconsistent: \(error)")
        }
    }

    /// Adds one family key, touching no other key row (a running relay may be rotating its
    /// onion keys at the same moment). Returns false when this very key is already installed;
    /// another key under the same name is refused, never replaced.
    @discardableResult
    public func installFamilyKey(_ key: FamilyKey, at now: Date = Date()) throws -> Bool {
        guard !key.name.isEmpty else { throw RelayStoreError(.invalidKey, "a family key needs a name") }
        let id = key.key.publicKey.base64
        return try pool.write { db in
            guard try StoredKey.filter(Column("role") == KeyRole.rsaIdentity.rawValue).fetchCount(db) > 0 else {
                throw RelayStoreError(.notFound, "\(path) holds no relay identity; a family key belongs to a relay")
            }
            let family = try StoredKey.filter(Column("role") == KeyRole.family.rawValue).fetchAll(db)
            if family.contains(where: { $0.publicKey == Data(key.key.publicKey.bytes) }) { return false }
            if family.contains(where: { $0.label == key.name }) {
                throw RelayStoreError(.alreadyExists, "\(path) already holds another family key named '\(key.name)'; remove it first or choose another name")
            }
            let row = StoredKey(role: .family, slot: .current, label: key.name, publicKey: Data(key.key.publicKey.bytes),
                                secretKey: Data(key.key.dangerouslyExportExpanded()), createdAt: Int64(key.createdAt.timeIntervalSince1970))
            try row.insert(db)
            let e = KeyEvent(at: now, kind: .installed, role: KeyRole.family.rawValue, detail: "\(key.name) FamilyId \(id)")
            try e.insert(db)
            return true
        }
    }

    /// Removes the family key whose public id (unpadded base64) is `familyId`, shredding nothing
    /// else. Returns false when no such key is installed.
    @discardableResult
    public func removeFamilyKey(familyId: String, at now: Date = Date()) throws -> Bool {
        guard let pub = try? Ed25519PublicKey(base64: familyId) else {
            throw RelayStoreError(.invalidKey, "'\(familyId)' is not a FamilyId (43 characters of base64)")
        }
        return try pool.write { db in
            let rows = try StoredKey.filter(Column("role") == KeyRole.family.rawValue).fetchAll(db)
                .filter { $0.publicKey == Data(pub.bytes) }
            guard !rows.isEmpty else { return false }
            for r in rows { _ = try r.delete(db) }
            let e = KeyEvent(at: now, kind: .rotated, role: KeyRole.family.rawValue, detail: "removed \(rows.map(\.label).joined(separator: ",")) FamilyId \(familyId)")
            try e.insert(db)
            return true
        }
    }

    public func keyEvents() throws -> [KeyEvent] {
        try pool.read { try KeyEvent.order(Column("id")).fetchAll($0) }
    }

    static func rows(for k: RelayKeys) -> [StoredKey] {
        func t(_ d: Date) -> Int64 { Int64(d.timeIntervalSince1970) }
        var rows = [
            StoredKey(role: .rsaIdentity, slot: .current, label: "", publicKey: Data(k.rsaIdentity.publicKey.pkcs1DER),
                      secretKey: Data(k.rsaIdentity.dangerouslyExportPKCS1DER()), createdAt: t(k.rsaIdentityCreated)),
            StoredKey(role: .ed25519Master, slot: .current, label: "", publicKey: Data(k.masterPublic.bytes),
                      secretKey: k.masterSecret.map { Data($0.dangerouslyExportExpanded()) }, createdAt: t(k.masterCreated)),
            StoredKey(role: .ed25519Signing, slot: .current, label: "", publicKey: Data(k.signingKey.publicKey.bytes),
                      secretKey: Data(k.signingKey.dangerouslyExportExpanded()), certificate: Data(k.signingCert.encoded),
                      createdAt: t(k.signingCreated), expiresAt: t(k.signingCert.expiration)),
        ]
        func onionRows(_ o: OnionKeys, _ slot: KeySlot, _ expires: Date?) -> [StoredKey] {
            [StoredKey(role: .ntorOnion, slot: slot, label: "", publicKey: Data(o.ntor.publicKey.bytes),
                       secretKey: Data(o.ntor.dangerouslyExportSecret()), createdAt: t(o.createdAt), expiresAt: expires.map(t)),
             StoredKey(role: .tapOnion, slot: slot, label: "", publicKey: Data(o.tap.publicKey.pkcs1DER),
                       secretKey: Data(o.tap.dangerouslyExportPKCS1DER()), createdAt: t(o.createdAt), expiresAt: expires.map(t))]
        }
        rows += onionRows(k.onionCurrent, .current, nil)
        if let p = k.onionPrevious { rows += onionRows(p, .previous, k.onionPreviousExpires) }
        for f in k.family {
            rows.append(StoredKey(role: .family, slot: .current, label: f.name, publicKey: Data(f.key.publicKey.bytes),
                                  secretKey: Data(f.key.dangerouslyExportExpanded()), createdAt: t(f.createdAt)))
        }
        return rows
    }
}

extension StoredKey {
    init(role: KeyRole, slot: KeySlot, label: String, publicKey: Data, secretKey: Data?, certificate: Data? = nil, createdAt: Int64, expiresAt: Int64? = nil) {
        self.init(id: nil, role: role, slot: slot, label: label, publicKey: publicKey, secretKey: secretKey,
                  certificate: certificate, createdAt: createdAt, expiresAt: expiresAt)
    }
}
