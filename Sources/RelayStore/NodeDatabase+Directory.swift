import Foundation
import GRDB

/// One row of `published_descriptor`.
public struct PublishedDescriptor: Codable, FetchableRecord, MutablePersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "published_descriptor"
    public var id: Int64?
    public var publishedAt: Int64
    public var digest: String
    public var descriptor: String
    public var extraInfo: String?
    public var reason: String

    public init(publishedAt: Date, digest: String, descriptor: String, extraInfo: String?, reason: String) {
        self.publishedAt = Int64(publishedAt.timeIntervalSince1970)
        self.digest = digest
        self.descriptor = descriptor
        self.extraInfo = extraInfo
        self.reason = reason
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey {
        case id, digest, descriptor, reason
        case publishedAt = "published_at"
        case extraInfo = "extra_info"
    }
}

public enum UploadResult: String, Codable, Sendable, DatabaseValueConvertible {
    case accepted, rejected, failed
}

/// One row of `descriptor_upload`: an authority's answer to one upload.
public struct DescriptorUpload: Codable, FetchableRecord, MutablePersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "descriptor_upload"
    public var id: Int64?
    public var descriptorId: Int64?
    public var at: Int64
    public var authority: String
    public var result: UploadResult
    public var status: Int?
    public var message: String

    public init(descriptorId: Int64?, at: Date, authority: String, result: UploadResult, status: Int?, message: String) {
        self.descriptorId = descriptorId
        self.at = Int64(at.timeIntervalSince1970)
        self.authority = authority
        self.result = result
        self.status = status
        self.message = message
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey {
        case id, at, authority, result, status, message
        case descriptorId = "descriptor_id"
    }
}

public enum DirectoryDocumentKind: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case consensusMicrodesc = "consensus-microdesc"
    case consensus
    case authorityCertificates = "authority-certificates"
}

/// One row of `directory_document`.
public struct StoredDirectoryDocument: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "directory_document"
    public var kind: DirectoryDocumentKind
    public var body: Data
    public var validAfter: Int64?
    public var freshUntil: Int64?
    public var validUntil: Int64?
    public var fetchedAt: Int64

    public init(kind: DirectoryDocumentKind, body: [UInt8], validAfter: Date?, freshUntil: Date?, validUntil: Date?, fetchedAt: Date) {
        self.kind = kind
        self.body = Data(body)
        func t(_ d: Date?) -> Int64? { d.map { Int64($0.timeIntervalSince1970) } }
        self.validAfter = t(validAfter)
        self.freshUntil = t(freshUntil)
        self.validUntil = t(validUntil)
        self.fetchedAt = Int64(fetchedAt.timeIntervalSince1970)
    }

    enum CodingKeys: String, CodingKey {
        case kind, body
        case validAfter = "valid_after"
        case freshUntil = "fresh_until"
        case validUntil = "valid_until"
        case fetchedAt = "fetched_at"
    }
}

struct StoredMicrodescriptor: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "microdescriptor"
    var digest: String
    var body: Data
    var lastListed: Int64
    enum CodingKeys: String, CodingKey {
        case digest, body
        case lastListed = "last_listed"
    }
}

public struct ConsensusListing: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "consensus_listing"
    public var validAfter: Int64
    public var listed: Bool
    public var flags: String

    public init(validAfter: Date, listed: Bool, flags: [String]) {
        self.validAfter = Int64(validAfter.timeIntervalSince1970)
        self.listed = listed
        self.flags = flags.joined(separator: " ")
    }

    enum CodingKeys: String, CodingKey {
        case listed, flags
        case validAfter = "valid_after"
    }
}

extension NodeDatabase {
    /// Stores a descriptor we are about to publish; returns its row id.
    @discardableResult
    public func savePublishedDescriptor(_ d: PublishedDescriptor) throws -> Int64 {
        var row = d
        try pool.write { db in try row.insert(db) }
        return row.id!
    }

    public func latestPublishedDescriptor() throws -> PublishedDescriptor? {
        try pool.read { db in try PublishedDescriptor.order(Column("id").desc).fetchOne(db) }
    }

    public func recordUpload(_ u: DescriptorUpload) throws {
        var row = u
        try pool.write { db in try row.insert(db) }
    }

    /// Upload answers, newest first.
    public func recentUploads(limit: Int = 50) throws -> [DescriptorUpload] {
        try pool.read { db in try DescriptorUpload.order(Column("id").desc).limit(limit).fetchAll(db) }
    }

    public func saveDirectoryDocument(_ d: StoredDirectoryDocument) throws {
        try pool.write { db in try d.save(db) }
    }

    public func directoryDocument(_ kind: DirectoryDocumentKind) throws -> StoredDirectoryDocument? {
        try pool.read { db in try StoredDirectoryDocument.fetchOne(db, key: kind.rawValue) }
    }

    /// Adds microdescriptors and marks every digest in `listed` as listed at `now`; forgets
    /// those not listed for a week (CTor's cache keeps them about that long).
    public func updateMicrodescriptors(adding new: [(digest: String, body: [UInt8])], listed: [String], now: Date) throws {
        let t = Int64(now.timeIntervalSince1970)
        try pool.write { db in
            for m in new {
                try StoredMicrodescriptor(digest: m.digest, body: Data(m.body), lastListed: t).save(db)
            }
            for chunk in stride(from: 0, to: listed.count, by: 500) {
                let part = Array(listed[chunk..<min(chunk + 500, listed.count)])
                try StoredMicrodescriptor.filter(part.contains(Column("digest"))).updateAll(db, Column("last_listed").set(to: t))
            }
            try StoredMicrodescriptor.filter(Column("last_listed") < t - 7 * 86_400).deleteAll(db)
        }
    }

    public func microdescriptors() throws -> [String: [UInt8]] {
        try pool.read { db in
            var out = [String: [UInt8]]()
            for row in try StoredMicrodescriptor.fetchAll(db) { out[row.digest] = Array(row.body) }
            return out
        }
    }

    public func recordConsensusListing(_ l: ConsensusListing) throws {
        try pool.write { db in try l.save(db) }
    }

    /// How the latest consensuses listed us, newest first.
    public func consensusListings(limit: Int = 20) throws -> [ConsensusListing] {
        try pool.read { db in try ConsensusListing.order(Column("valid_after").desc).limit(limit).fetchAll(db) }
    }
}
