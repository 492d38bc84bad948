import Foundation
import GRDB

extension NodeDatabase {
    /// How long health samples are kept; events are kept a year.
    public static let healthSampleRetention: TimeInterval = 90 * 86_400
    public static let healthEventRetention: TimeInterval = 365 * 86_400

    /// Records one health event (start/stop from `run`; descriptor uploads, consensus flags,
    /// reachability and clock skew from the directory code). Never put a client address or a
    /// secret in `detail`.
    public func recordHealthEvent(_ kind: HealthEventKind, at: Date = Date(), ok: Bool? = nil,
                                  pid: Int32? = nil, detail: String = "") throws {
        var e = HealthEvent(at: at, kind: kind, ok: ok, pid: pid, detail: detail)
        try writing("record a health event") { try e.insert($0) }
    }

    /// Events at or after `since`, newest first, at most `limit`.
    public func healthEvents(since: Date = .distantPast, kinds: [HealthEventKind]? = nil, limit: Int = 100) throws -> [HealthEvent] {
        try reading("read health events") { db in
            var q = HealthEvent.filter(Column("at") >= Int64(since.timeIntervalSince1970))
            if let kinds { q = q.filter(kinds.map(\.rawValue).contains(Column("kind"))) }
            return try q.order(Column("at").desc, Column("id").desc).limit(limit).fetchAll(db)
        }
    }

    /// The most recent start or stop event.
    public func lastStartOrStop() throws -> HealthEvent? {
        try healthEvents(kinds: [.start, .stop], limit: 1).first
    }

    public func recordHealthSample(_ sample: HealthSample) throws {
        try writing("record a health sample") { try sample.upsert($0) }
    }

    /// Samples at or after `since`, oldest first.
    public func healthSamples(since: Date) throws -> [HealthSample] {
        try reading("read health samples") { db in
            try HealthSample.filter(Column("at") >= Int64(since.timeIntervalSince1970)).order(Column("at")).fetchAll(db)
        }
    }

    public func latestHealthSample() throws -> HealthSample? {
        try reading("read health samples") { try HealthSample.order(Column("at").desc).limit(1).fetchOne($0) }
    }

    /// Deletes health samples and events older than their retention.
    public func pruneHealth(now: Date) throws {
        let samples = Int64(now.timeIntervalSince1970 - Self.healthSampleRetention)
        let events = Int64(now.timeIntervalSince1970 - Self.healthEventRetention)
        try writing("prune health records") { db in
            try HealthSample.filter(Column("at") < samples).deleteAll(db)
            try HealthEvent.filter(Column("at") < events).deleteAll(db)
        }
    }
}
