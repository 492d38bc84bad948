import Foundation
import GRDB

/// One accounting interval's counts (migration 0004).
public struct AccountingRecord: Sendable, Equatable {
    public var intervalStart: Int64
    public var intervalEnd: Int64
    public var read: UInt64
    public var written: UInt64
    public var softLimitAt: Int64?
    public var bytesAtSoft: UInt64?

    public init(intervalStart: Int64, intervalEnd: Int64, read: UInt64 = 0, written: UInt64 = 0,
                softLimitAt: Int64? = nil, bytesAtSoft: UInt64? = nil) {
        self.intervalStart = intervalStart
        self.intervalEnd = intervalEnd
        self.read = read
        self.written = written
        self.softLimitAt = softLimitAt
        self.bytesAtSoft = bytesAtSoft
    }
}

extension NodeDatabase {
    /// The interval starting at `start`, if counted.
    public func accounting(intervalStart start: Int64) throws -> AccountingRecord? {
        try reading("read accounting") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM accounting_interval WHERE interval_start = ?", arguments: [start]).map(Self.record)
        }
    }

    /// The latest interval before `start` (for the expected rate).
    public func accounting(before start: Int64) throws -> AccountingRecord? {
        try reading("read accounting") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM accounting_interval WHERE interval_start < ? ORDER BY interval_start DESC LIMIT 1",
                             arguments: [start]).map(Self.record)
        }
    }

    public func saveAccounting(_ r: AccountingRecord, now: Date = Date()) throws {
        try writing("record accounting") { db in
            try db.execute(sql: """
                INSERT INTO accounting_interval (interval_start, interval_end, read, written, soft_limit_at, bytes_at_soft, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (interval_start) DO UPDATE SET read = excluded.read, written = excluded.written,
                    soft_limit_at = excluded.soft_limit_at, bytes_at_soft = excluded.bytes_at_soft, updated_at = excluded.updated_at
                """, arguments: [r.intervalStart, r.intervalEnd, Int64(clamping: r.read), Int64(clamping: r.written), r.softLimitAt,
                                 r.bytesAtSoft.map { Int64(clamping: $0) }, Int64(now.timeIntervalSince1970)])
        }
    }

    static func record(_ row: Row) -> AccountingRecord {
        let bytesAtSoft: Int64? = row["bytes_at_soft"]
        return AccountingRecord(intervalStart: row["interval_start"], intervalEnd: row["interval_end"],
                                read: UInt64(row["read"] as Int64), written: UInt64(row["written"] as Int64),
                                softLimitAt: row["soft_limit_at"], bytesAtSoft: bytesAtSoft.map { UInt64($0) })
    }
}
