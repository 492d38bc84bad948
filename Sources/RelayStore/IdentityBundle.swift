import Foundation
import GRDB
import TorCrypto
#if canImport(Glibc)
import Glibc
#endif

/// A relay's whole node database — keys, bandwidth history, health, accounting — as one sealed
/// message, for moving an identity between hosts (`relaynode identity export|import`).
///
/// Sealed layout: `RFIDBNDL` (8 bytes), version (1 byte), then `crypto_box_seal` of the
/// plaintext to the operation's public key. Plaintext: one JSON header line (identity and the
/// database's size and SHA-256), `\n`, then the SQLite database bytes (a `VACUUM INTO` copy,
/// consistent and without WAL).
public struct IdentityBundle: Sendable {
    public static let magic: [UInt8] = Array("RFIDBNDL".utf8)
    public static let version: UInt8 = 1

    public struct Header: Codable, Sendable, Equatable {
        public var rsa_fingerprint: String
        public var ed25519_identity: String
        public var created: Int64
        public var database_size: Int
        public var database_sha256: String

        public init(rsa_fingerprint: String, ed25519_identity: String, created: Int64, database_size: Int,
                    database_sha256: String) {
            self.rsa_fingerprint = rsa_fingerprint
            self.ed25519_identity = ed25519_identity
            self.created = created
            self.database_size = database_size
            self.database_sha256 = database_sha256
        }
    }

    public var header: Header
    public var database: [UInt8]

    public init(header: Header, database: [UInt8]) {
        self.header = header
        self.database = database
    }

    /// Copies the database in `dataDirectory` (the daemon must not be running: the caller holds
    /// the data directory's lock). The temporary copy lives in the data directory itself
    /// (0700), where the database already is, and is removed before returning.
    public static func snapshot(dataDirectory: String, now: Date = Date()) throws -> IdentityBundle {
        let node = try NodeDatabase(dataDirectory: dataDirectory, create: false)
        let keys = try node.loadKeys()
        let tmp = (dataDirectory as NSString).appendingPathComponent(".export-\(getpid()).sqlite3")
        unlink(tmp)
        defer { unlink(tmp) }
        do {
            try node.pool.writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM INTO ?", arguments: [tmp])
            }
        } catch {
            throw RelayStoreError(.io, "cannot copy \(node.path): \(error)")
        }
        chmod(tmp, 0o600)
        let bytes = try SecureFiles.read(tmp)
        let header = Header(rsa_fingerprint: keys.rsaFingerprint.hex, ed25519_identity: keys.masterPublic.base64,
                            created: Int64(now.timeIntervalSince1970), database_size: bytes.count,
                            database_sha256: Digest.sha256(bytes).hexString)
        return IdentityBundle(header: header, database: bytes)
    }

    public func sealed(to publicKey: [UInt8]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let head = try Array(encoder.encode(header))
        return Self.magic + [Self.version] + (try SealedBox.seal(head + [0x0A] + database, to: publicKey))
    }

    /// Opens and checks a sealed bundle: magic, version, seal, header, size and digest.
    public static func open(_ sealed: [UInt8], secretKey: [UInt8]) throws -> IdentityBundle {
        guard sealed.count > magic.count + 1, Array(sealed.prefix(magic.count)) == magic else {
            throw RelayStoreError(.corrupt, "not an identity bundle (bad magic)")
        }
        guard sealed[magic.count] == version else {
            throw RelayStoreError(.corrupt, "identity bundle version \(sealed[magic.count]) is not supported (this relaynode reads \(version))")
        }
        let plain: [UInt8]
        do {
            plain = try SealedBox.open(Array(sealed.dropFirst(magic.count + 1)), secretKey: secretKey)
        } catch let e as CryptoError {
            throw RelayStoreError(.corrupt, "identity bundle: \(e.context)")
        }
        guard let nl = plain.firstIndex(of: 0x0A),
              let header = try? JSONDecoder().decode(Header.self, from: Data(plain[..<nl])) else {
            throw RelayStoreError(.corrupt, "identity bundle has no readable header")
        }
        let db = Array(plain[(nl + 1)...])
        guard db.count == header.database_size, Digest.sha256(db).hexString == header.database_sha256 else {
            throw RelayStoreError(.corrupt, "identity bundle's database does not match its header (size or SHA-256)")
        }
        return IdentityBundle(header: header, database: db)
    }

    /// Installs the bundle as `dataDirectory`'s database. An existing database of the same
    /// identity is replaced (an interrupted import re-run); one of another identity is an error.
    /// The new file is written beside the old one, opened and checked (integrity, keys, the
    /// header's identity) before it replaces anything.
    public func install(dataDirectory: String) throws {
        try SecureFiles.ensurePrivateDirectory(dataDirectory)
        let path = (dataDirectory as NSString).appendingPathComponent(NodeDatabase.fileName)
        if FileManager.default.fileExists(atPath: path) {
            let existing = try NodeDatabase(readingDataDirectory: dataDirectory).loadKeys()
            guard existing.rsaFingerprint.hex == header.rsa_fingerprint else {
                throw RelayStoreError(.alreadyExists, "\(path) holds another relay identity (\(existing.rsaFingerprint.hex)); refusing to replace it")
            }
        }
        let staging = (dataDirectory as NSString).appendingPathComponent(".import")
        try? FileManager.default.removeItem(atPath: staging)
        try SecureFiles.ensurePrivateDirectory(staging)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let staged = (staging as NSString).appendingPathComponent(NodeDatabase.fileName)
        try SecureFiles.write(database, to: staged, replace: false)
        do {
            let check = try NodeDatabase(dataDirectory: staging, create: false)
            let keys = try check.loadKeys()
            guard keys.rsaFingerprint.hex == header.rsa_fingerprint, keys.masterPublic.base64 == header.ed25519_identity else {
                throw RelayStoreError(.corrupt, "identity bundle's database holds \(keys.rsaFingerprint.hex), not the \(header.rsa_fingerprint) its header names")
            }
            try check.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
            try check.pool.close()
        }
        for suffix in ["-wal", "-shm"] { unlink(path + suffix); unlink(staged + suffix) }
        guard rename(staged, path) == 0 else {
            throw RelayStoreError(.io, "cannot move the imported database into place: \(String(cString: strerror(errno)))")
        }
        let dfd = Glibc.open(dataDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
