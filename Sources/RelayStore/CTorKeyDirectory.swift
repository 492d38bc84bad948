import Foundation
import TorCrypto
import TorProtocol

/// Reads and writes a CTor `DataDirectory/keys` directory byte-compatibly, so an identity can
/// move between relaynode and C tor in either direction (reference/tor-relay-checklist.md §2.5).
public enum CTorKeyDirectory {
    public static let rsaIdentity = "secret_id_key"
    public static let masterSecret = "ed25519_master_id_secret_key"
    public static let masterPublic = "ed25519_master_id_public_key"
    public static let signingSecret = "ed25519_signing_secret_key"
    public static let signingCert = "ed25519_signing_cert"
    public static let ntor = "secret_onion_key_ntor"
    public static let tap = "secret_onion_key"
    public static let familySuffix = ".secret_family_key"

    /// What an import found besides the keys themselves, for the operator.
    public struct ImportReport: Sendable {
        public var notes: [String] = []
    }

    /// `path` may be a CTor DataDirectory (containing `keys/`) or the keys directory itself.
    public static func keysDirectory(for path: String) -> String {
        let k = (path as NSString).appendingPathComponent("keys")
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: k, isDirectory: &isDir), isDir.boolValue { return k }
        return path
    }

    public static func read(from path: String, now: Date, lifetimes: KeyLifetimes,
                            using rng: inout some RandomSource) throws -> (RelayKeys, ImportReport) {
        let dir = keysDirectory(for: path)
        var report = ImportReport()
        func file(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
        func secretBytes(_ name: String) throws -> [UInt8] {
            try SecureFiles.checkPrivateFile(file(name))
            return try SecureFiles.read(file(name))
        }
        func mtime(_ name: String) -> Date {
            (try? FileManager.default.attributesOfItem(atPath: file(name))[.modificationDate] as? Date) ?? now
        }
        func wrap<T>(_ name: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch let e as TorProtocolError {
                throw RelayStoreError(.invalidKey, e.context)
            } catch let e as CryptoError {
                throw RelayStoreError(.invalidKey, "\(file(name)): \(e)")
            }
        }

        guard exists(rsaIdentity) else {
            throw RelayStoreError(.notFound, "\(dir) has no \(rsaIdentity): not a tor keys directory")
        }
        let rsaText = try secretBytes(rsaIdentity)
        let rsa: RSAPrivateKey = try wrap(rsaIdentity) {
            guard let text = String(bytes: rsaText, encoding: .utf8) else {
                throw TorProtocolError(.malformed, "\(file(rsaIdentity)): not a PEM text file")
            }
            return try RSAPrivateKey(pem: text)
        }

        var masterSecretKey: Ed25519SecretKey?
        if exists(masterSecret) {
            let bytes = try secretBytes(masterSecret)
            masterSecretKey = try wrap(masterSecret) {
                try CTorKeyFile.decodeEd25519Secret(bytes, tag: "type0", source: file(masterSecret))
            }
        }
        let masterPub: Ed25519PublicKey
        if exists(masterPublic) {
            let bytes = try SecureFiles.read(file(masterPublic))
            masterPub = try wrap(masterPublic) {
                try CTorKeyFile.decodeEd25519Public(bytes, tag: "type0", source: file(masterPublic))
            }
            if let s = masterSecretKey, s.publicKey != masterPub {
                throw RelayStoreError(.invalidKey, "\(file(masterSecret)) does not belong to \(file(masterPublic)): they are keys of different relays")
            }
        } else if let s = masterSecretKey {
            masterPub = s.publicKey
            report.notes.append("\(masterPublic) was missing; derived it from the master secret key")
        } else {
            throw RelayStoreError(.notFound, "\(dir) has neither \(masterSecret) nor \(masterPublic): no Ed25519 identity to import")
        }
        if masterSecretKey == nil {
            report.notes.append("the master identity secret key is not in \(dir) (offline master key); signing certificates must be issued where it is kept")
        }

        var signing: Ed25519SecretKey
        var cert: UncheckedEd25519Cert
        var signingCreated = mtime(signingCert)
        if exists(signingSecret) && exists(signingCert) {
            let keyBytes = try secretBytes(signingSecret)
            signing = try wrap(signingSecret) { try CTorKeyFile.decodeEd25519Secret(keyBytes, tag: "type4", source: file(signingSecret)) }
            let certBytes = try SecureFiles.read(file(signingCert))
            cert = try wrap(signingCert) { try CTorKeyFile.decodeCert(certBytes, tag: "type4", source: file(signingCert)) }
        } else if let m = masterSecretKey {
            let (k, c) = try wrap(signingSecret) {
                try RelayKeys.issueSigningKey(master: m, now: now, lifetime: lifetimes.signingKey, using: &rng)
            }
            signing = k
            cert = c.unchecked
            signingCreated = now
            report.notes.append("no signing key in \(dir); issued a new one from the master key")
        } else {
            throw RelayStoreError(.notFound, "\(dir) has no \(signingSecret)/\(signingCert) and no master secret to issue them")
        }
        if cert.expiration < now {
            report.notes.append("the signing certificate expired at \(cert.expiration); renew it before running the relay")
        }

        func readOnion(_ suffix: String) throws -> OnionKeys? {
            guard exists(ntor + suffix) else { return nil }
            let nb = try secretBytes(ntor + suffix)
            let n = try wrap(ntor + suffix) { try CTorKeyFile.decodeCurve25519(nb, source: file(ntor + suffix)) }
            let tapKey: RSAPrivateKey
            if exists(tap + suffix) {
                let tb = try secretBytes(tap + suffix)
                tapKey = try wrap(tap + suffix) {
                    guard let text = String(bytes: tb, encoding: .utf8) else {
                        throw TorProtocolError(.malformed, "\(file(tap + suffix)): not a PEM text file")
                    }
                    return try RSAPrivateKey(pem: text)
                }
            } else {
                tapKey = try wrap(tap + suffix) { try RSAPrivateKey.generate(bits: 1024) }
                report.notes.append("\(tap + suffix) was missing; generated a new TAP key (only published, never used for handshakes)")
            }
            return OnionKeys(ntor: n, tap: tapKey, createdAt: mtime(ntor + suffix))
        }
        var current = try readOnion("")
        if current == nil {
            current = try wrap(ntor) { try OnionKeys.generate(now: now, using: &rng) }
            report.notes.append("no \(ntor) in \(dir); generated new onion keys")
        }
        let previous = try readOnion(".old")

        var family = [FamilyKey]()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names.sorted() where name.hasSuffix(familySuffix) {
            let bytes = try secretBytes(name)
            let key = try wrap(name) { try CTorKeyFile.decodeEd25519Secret(bytes, tag: "fmly-id", source: file(name)) }
            family.append(FamilyKey(name: String(name.dropLast(familySuffix.count)), key: key, createdAt: mtime(name)))
        }

        let keys = try wrap(signingCert) {
            try RelayKeys(
                rsaIdentity: rsa, rsaIdentityCreated: mtime(rsaIdentity),
                masterPublic: masterPub, masterSecret: masterSecretKey, masterCreated: mtime(masterPublic),
                signingKey: signing, signingCert: cert, signingCreated: signingCreated,
                onionCurrent: current!, onionPrevious: previous,
                onionPreviousExpires: previous.map { _ in current!.createdAt + lifetimes.onionKeyGrace },
                family: family)
        }
        return (keys, report)
    }

    /// Writes `keys` as CTor key files into `path/keys` (or `path` if it is named `keys`).
    /// Refuses to overwrite any existing file; returns the files written.
    @discardableResult
    public static func write(_ keys: RelayKeys, to path: String) throws -> [String] {
        let dir = (path as NSString).lastPathComponent == "keys" ? path : (path as NSString).appendingPathComponent("keys")
        try SecureFiles.ensurePrivateDirectory(path)
        try SecureFiles.ensurePrivateDirectory(dir)
        var files: [(String, [UInt8])] = [
            (rsaIdentity, Array(keys.rsaIdentity.dangerouslyExportPEM().utf8)),
            (masterPublic, CTorKeyFile.encodeEd25519Public(keys.masterPublic, tag: "type0")),
            (signingSecret, CTorKeyFile.encodeEd25519Secret(keys.signingKey, tag: "type4")),
            (signingCert, CTorKeyFile.encode(.ed25519Cert, tag: "type4", body: keys.signingCert.encoded)),
            (ntor, CTorKeyFile.encodeCurve25519(keys.onionCurrent.ntor)),
            (tap, Array(keys.onionCurrent.tap.dangerouslyExportPEM().utf8)),
        ]
        if let m = keys.masterSecret { files.append((masterSecret, CTorKeyFile.encodeEd25519Secret(m, tag: "type0"))) }
        if let p = keys.onionPrevious {
            files.append((ntor + ".old", CTorKeyFile.encodeCurve25519(p.ntor)))
            files.append((tap + ".old", Array(p.tap.dangerouslyExportPEM().utf8)))
        }
        for f in keys.family {
            files.append((f.name + familySuffix, CTorKeyFile.encodeEd25519Secret(f.key, tag: "fmly-id")))
        }
        // Check first so that a refusal writes nothing.
        for (name, _) in files where FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(name)) {
            throw RelayStoreError(.alreadyExists, "\((dir as NSString).appendingPathComponent(name)) already exists; export into an empty directory")
        }
        var written = [String]()
        for (name, bytes) in files {
            let p = (dir as NSString).appendingPathComponent(name)
            try SecureFiles.write(bytes, to: p, replace: false)
            written.append(p)
        }
        return written
    }
}
