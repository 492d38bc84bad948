import CSodium
import Foundation

/// The fleet vault: the relays' offline Ed25519 master identity keys, sealed at rest with a
/// passphrase. Key derivation is argon2id (libsodium `crypto_pwhash`) with its cost recorded in
/// the header; the contents are sealed with XSalsa20-Poly1305 (`crypto_secretbox_easy`).
///
/// File layout (all integers big-endian):
///
///     "RFVAULT\0"  8 bytes magic
///     version      1 byte (1)
///     opslimit     8 bytes
///     memlimit     8 bytes
///     salt         16 bytes (crypto_pwhash_SALTBYTES)
///     nonce        24 bytes (crypto_secretbox_NONCEBYTES), fresh on every save
///     box          MAC (16 bytes) + sealed JSON of `VaultContents`
///
/// A changed header changes the derived key or nonce, so tampering anywhere fails to open.
public final class Vault {
    public static let magic: [UInt8] = Array("RFVAULT".utf8) + [0]
    public static let version: UInt8 = 1
    static let headerSize = 8 + 1 + 8 + 8 + 16 + 24

    /// The argon2id cost.
    public struct KDFCost: Sendable, Equatable {
        public var opslimit: UInt64
        public var memlimit: UInt64
        public init(opslimit: UInt64, memlimit: UInt64) { self.opslimit = opslimit; self.memlimit = memlimit }
        /// libsodium's OPSLIMIT_MODERATE / MEMLIMIT_MODERATE (3 passes, 256 MiB): the default.
        public static var moderate: KDFCost { .init(opslimit: UInt64(crypto_pwhash_opslimit_moderate()), memlimit: UInt64(crypto_pwhash_memlimit_moderate())) }
        /// OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE (2 passes, 64 MiB), for small machines.
        public static var interactive: KDFCost { .init(opslimit: UInt64(crypto_pwhash_opslimit_interactive()), memlimit: UInt64(crypto_pwhash_memlimit_interactive())) }
        /// OPSLIMIT_SENSITIVE / MEMLIMIT_SENSITIVE (4 passes, 1 GiB).
        public static var sensitive: KDFCost { .init(opslimit: UInt64(crypto_pwhash_opslimit_sensitive()), memlimit: UInt64(crypto_pwhash_memlimit_sensitive())) }

        public static func named(_ name: String) -> KDFCost? {
            switch name { case "interactive": .interactive; case "moderate": .moderate; case "sensitive": .sensitive; default: nil }
        }
    }

    /// What the file says before it is opened.
    public struct Header: Sendable, Equatable {
        public var cost: KDFCost
        public var salt: [UInt8]
        public var nonce: [UInt8]

        func encoded() -> [UInt8] {
            Vault.magic + [Vault.version] + cost.opslimit.bigEndianBytes + cost.memlimit.bigEndianBytes + salt + nonce
        }

        static func decode(_ bytes: [UInt8], path: String) throws -> Header {
            guard bytes.count >= Vault.headerSize + Int(crypto_secretbox_macbytes()) else {
                throw FleetError(.vaultCorrupt, "\(path) is too short to be a fleet vault; restore it from a backup")
            }
            guard Array(bytes[0..<8]) == Vault.magic else {
                throw FleetError(.vaultCorrupt, "\(path) is not a fleet vault (wrong magic); check --vault")
            }
            guard bytes[8] == Vault.version else {
                throw FleetError(.vaultCorrupt, "\(path) is vault format \(bytes[8]); this fleetctl reads format \(Vault.version)")
            }
            let ops = UInt64(bigEndianBytes: bytes[9..<17]), mem = UInt64(bigEndianBytes: bytes[17..<25])
            guard ops >= UInt64(crypto_pwhash_opslimit_min()), ops <= 64,
                  mem >= UInt64(crypto_pwhash_memlimit_min()), mem <= 4 << 30 else {
                throw FleetError(.vaultCorrupt, "\(path) has an implausible key-derivation cost (ops \(ops), memory \(mem)); it was damaged or tampered with")
            }
            return Header(cost: KDFCost(opslimit: ops, memlimit: mem), salt: Array(bytes[25..<41]), nonce: Array(bytes[41..<65]))
        }
    }

    public let path: String
    public private(set) var header: Header
    public var contents: VaultContents
    private var key: [UInt8]

    private init(path: String, header: Header, contents: VaultContents, key: [UInt8]) {
        self.path = path
        self.header = header
        self.contents = contents
        self.key = key
    }

    deinit { wipe(&key) }

    static func ensureSodium() {
        guard sodium_init() >= 0 else { fatalError("libsodium failed to initialise") }
    }

    /// Reads only the header (no passphrase needed).
    public static func readHeader(path: String) throws -> Header {
        ensureSodium()
        return try Header.decode(PrivateFiles.read(path), path: path)
    }

    /// Creates a new, empty vault at `path` (0600); an existing file is never overwritten.
    public static func create(path: String, passphrase: [UInt8], cost: KDFCost = .moderate) throws -> Vault {
        ensureSodium()
        guard !passphrase.isEmpty else { throw FleetError(.invalid, "the vault passphrase is empty") }
        if FileManager.default.fileExists(atPath: path) {
            throw FleetError(.conflict, "\(path) already exists; the vault was left untouched")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try PrivateFiles.ensureDirectory(dir) }
        var salt = [UInt8](repeating: 0, count: Int(crypto_pwhash_saltbytes()))
        randombytes_buf(&salt, salt.count)
        let header = Header(cost: cost, salt: salt, nonce: [UInt8](repeating: 0, count: Int(crypto_secretbox_noncebytes())))
        let key = try deriveKey(passphrase, header: header)
        let v = Vault(path: path, header: header, contents: VaultContents(), key: key)
        try v.save(replace: false)
        return v
    }

    /// Opens the vault; a wrong passphrase or a changed file is one clear error.
    public static func open(path: String, passphrase: [UInt8]) throws -> Vault {
        ensureSodium()
        if !FileManager.default.fileExists(atPath: path) {
            throw FleetError(.notFound, "no vault at \(path): create one with 'fleetctl vault init' (or pass --vault)")
        }
        try PrivateFiles.checkPrivate(path)
        let bytes = try PrivateFiles.read(path)
        let header = try Header.decode(bytes, path: path)
        var key = try deriveKey(passphrase, header: header)
        let box = Array(bytes[headerSize...])
        var plain = [UInt8](repeating: 0, count: box.count - Int(crypto_secretbox_macbytes()))
        defer { wipe(&plain) }
        let rc = crypto_secretbox_open_easy(&plain, box, UInt64(box.count), header.nonce, key)
        guard rc == 0 else {
            wipe(&key)
            throw FleetError(.vaultLocked, "cannot open the vault \(path): wrong passphrase, or the file was changed since it was written; nothing was changed")
        }
        let contents: VaultContents
        do {
            contents = try JSONDecoder().decode(VaultContents.self, from: Data(plain))
        } catch {
            wipe(&key)
            throw FleetError(.vaultCorrupt, "the vault \(path) opened but its contents are not readable (\(error)); restore it from a backup")
        }
        return Vault(path: path, header: header, contents: contents, key: key)
    }

    /// Seals the contents under a fresh nonce and replaces the file atomically (0600). If another
    /// fleetctl saved the vault since this one opened it, nothing is written: the other change
    /// would be lost otherwise.
    public func save() throws {
        let onDisk = try? Header.decode(PrivateFiles.read(path), path: path)
        guard onDisk?.nonce == header.nonce else {
            throw FleetError(.conflict, "the vault \(path) was changed by another fleetctl since this one opened it; nothing was written — run the command again")
        }
        try save(replace: true)
    }

    private func save(replace: Bool) throws {
        var nonce = [UInt8](repeating: 0, count: Int(crypto_secretbox_noncebytes()))
        randombytes_buf(&nonce, nonce.count)
        var h = header
        h.nonce = nonce
        var plain = try [UInt8](JSONEncoder().encode(contents))
        defer { wipe(&plain) }
        var box = [UInt8](repeating: 0, count: plain.count + Int(crypto_secretbox_macbytes()))
        guard crypto_secretbox_easy(&box, plain, UInt64(plain.count), nonce, key) == 0 else {
            throw FleetError(.io, "sealing the vault failed")
        }
        try PrivateFiles.write(h.encoded() + box, to: path, replace: replace)
        header = h
    }

    /// Copies the sealed vault to `destination` (0600, never over an existing file) and opens the
    /// copy to prove it is complete. Returns how many master keys it holds.
    @discardableResult
    public func backup(to destination: String, passphrase: [UInt8]) throws -> Int {
        let bytes = try PrivateFiles.read(path)
        let dir = (destination as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) { try PrivateFiles.ensureDirectory(dir) }
        try PrivateFiles.write(bytes, to: destination, replace: false)
        let copy = try Vault.open(path: destination, passphrase: passphrase)
        guard Set(copy.contents.entries.keys) == Set(contents.entries.keys) else {
            throw FleetError(.io, "the backup \(destination) does not read back with the same keys; keep the original and try another place")
        }
        return copy.contents.entries.count
    }

    /// Replaces the vault at `path` with the backup at `source` after opening the backup with
    /// `passphrase`. Refused when the backup lacks any identity in `required` (the ones the
    /// inventory says are vaulted) unless `force`; the current vault is then left as it is.
    @discardableResult
    public static func restore(from source: String, to path: String, passphrase: [UInt8], required: Set<String>,
                               force: Bool = false) throws -> Vault {
        let backup = try Vault.open(path: source, passphrase: passphrase)
        let missing = required.subtracting(backup.contents.entries.keys)
        if !missing.isEmpty && !force {
            throw FleetError(.conflict, "the backup \(source) lacks the master keys of \(missing.count) relay identit\(missing.count == 1 ? "y" : "ies") in the inventory (\(missing.sorted().joined(separator: ", "))); restoring it would lose them — the vault was left as it is (--force to restore anyway)")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try PrivateFiles.ensureDirectory(dir) }
        try PrivateFiles.write(try PrivateFiles.read(source), to: path, replace: true)
        return try Vault.open(path: path, passphrase: passphrase)
    }

    static func deriveKey(_ passphrase: [UInt8], header: Header) throws -> [UInt8] {
        guard !passphrase.isEmpty else { throw FleetError(.invalid, "the vault passphrase is empty") }
        var key = [UInt8](repeating: 0, count: Int(crypto_secretbox_keybytes()))
        let rc = passphrase.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { c in
                crypto_pwhash(&key, UInt64(key.count), c.baseAddress!, UInt64(c.count), header.salt,
                              header.cost.opslimit, Int(header.cost.memlimit), crypto_pwhash_alg_argon2id13())
            }
        }
        guard rc == 0 else {
            throw FleetError(.io, "deriving the vault key needs \(header.cost.memlimit >> 20) MiB of memory, which this machine could not give")
        }
        return key
    }
}

/// What the vault holds: per relay identity, its master secret key as C tor's
/// `ed25519_master_id_secret_key` file; the keys of moves under way; the family keys.
public struct VaultContents: Codable, Sendable {
    public struct Entry: Codable, Sendable {
        public var nickname: String
        public var rsaFingerprint: String
        public var ed25519Id: String
        /// The bytes of `ed25519_master_id_secret_key` (C tor format, type0).
        public var masterSecretFile: [UInt8]
        public var storedAt: Int64

        public init(nickname: String, rsaFingerprint: String, ed25519Id: String, masterSecretFile: [UInt8], storedAt: Int64) {
            self.nickname = nickname
            self.rsaFingerprint = rsaFingerprint
            self.ed25519Id = ed25519Id
            self.masterSecretFile = masterSecretFile
            self.storedAt = storedAt
        }
    }

    public var version = 1
    /// Keyed by the Ed25519 identity (unpadded base64).
    public var entries: [String: Entry] = [:]
    /// Keys of operations in progress, such as the sealing secret of an identity move
    /// (`fleetctl migrate`), by operation. Absent from vaults written before moves existed.
    public var operations: [String: [UInt8]] {
        get { _operations ?? [:] }
        set { _operations = newValue.isEmpty ? nil : newValue }
    }
    var _operations: [String: [UInt8]]?
    /// Family keys (proposal 321) by FamilyId (unpadded base64). Absent from vaults written
    /// before families had keys.
    public var familyKeys: [String: VaultFamilyKey] {
        get { _familyKeys ?? [:] }
        set { _familyKeys = newValue.isEmpty ? nil : newValue }
    }
    var _familyKeys: [String: VaultFamilyKey]?

    enum CodingKeys: String, CodingKey {
        case version, entries
        case _operations = "operations"
        case _familyKeys = "family_keys"
    }

    public init() {}
}

func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { p in
        if let base = p.baseAddress { sodium_memzero(base, p.count) }
    }
}

extension UInt64 {
    var bigEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (56 - 8 * $0)) } }
    init(bigEndianBytes b: ArraySlice<UInt8>) { self = b.reduce(0) { $0 << 8 | UInt64($1) } }
}

/// Where the vault passphrase comes from: a file (`--passphrase-file`, 0600) or the
/// `RELAYFLEET_PASSPHRASE` environment variable — never the command line.
public enum Passphrase {
    public static let environmentVariable = "RELAYFLEET_PASSPHRASE"

    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [UInt8] {
        if let file {
            try PrivateFiles.checkPrivate(file)
            var bytes = try PrivateFiles.read(file)
            while let last = bytes.last, last == 0x0a || last == 0x0d { bytes.removeLast() }
            guard !bytes.isEmpty else { throw FleetError(.invalid, "the passphrase file \(file) is empty") }
            return bytes
        }
        if let env = environment[environmentVariable], !env.isEmpty { return Array(env.utf8) }
        throw FleetError(.vaultLocked, "the vault needs its passphrase: pass --passphrase-file FILE (mode 0600) or set \(environmentVariable)")
    }
}
