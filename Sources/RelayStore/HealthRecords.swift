import Foundation
import GRDB

/// What a `health_event` records. The raw values are the schema's CHECK list.
public enum HealthEventKind: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case start, stop
    /// At start: the previous run ended without a stop event (killed or crashed).
    case crashRecovered = "crash_recovered"
    case onionRotated = "onion_rotated"
    case signingRenewed = "signing_renewed"
    case overloadRateLimits = "overload_ratelimits"
    case overloadOnionskin = "overload_onionskin"
    case overloadMemory = "overload_memory"
    case overloadFD = "overload_fd"
    /// A reachability self-test result (`ok`).
    case reachability
    /// A descriptor upload to one authority (`ok`; `detail` names the authority and status).
    case descriptorUpload = "descriptor_upload"
    /// The flags the consensus lists for this relay (`detail`, e.g. "Fast Running Stable Valid").
    case consensusFlags = "consensus_flags"
    /// Clock skew a peer reported (`detail`, e.g. "+42 s from $FINGERPRINT").
    case clockSkew = "clock_skew"
    /// AccountingMax: hibernation state changed (`detail`: awake, soft or hard, and why).
    case hibernation
    /// SIGHUP re-read the configuration (`ok`; `detail`: what changed or the error).
    case configReload = "config_reload"
}

/// One row of `health_event`.
public struct HealthEvent: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "health_event"
    public var id: Int64?
    /// Unix seconds.
    public var at: Int64
    public var kind: HealthEventKind
    /// The outcome, for kinds that have one.
    public var ok: Bool?
    /// The daemon's process ID, for start and stop.
    public var pid: Int32?
    public var detail: String

    public init(at: Date, kind: HealthEventKind, ok: Bool? = nil, pid: Int32? = nil, detail: String = "") {
        self.at = Int64(at.timeIntervalSince1970)
        self.kind = kind
        self.ok = ok
        self.pid = pid
        self.detail = detail
    }
}

/// One row of `health_sample`: the relay's state at one moment.
public struct HealthSample: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "health_sample"
    /// Unix seconds.
    public var at: Int64
    public var linksOpen: Int
    public var circuitsOpen: Int
    public var queuedCells: Int
    /// CREATE cells dropped because the onionskin queue was full, since the daemon started.
    public var onionskinDrops: Int
    public var rssBytes: Int?
    public var openFDs: Int?

    enum CodingKeys: String, CodingKey {
        case at
        case linksOpen = "links_open", circuitsOpen = "circuits_open", queuedCells = "queued_cells"
        case onionskinDrops = "onionskin_drops", rssBytes = "rss_bytes", openFDs = "open_fds"
    }

    public init(at: Date, linksOpen: Int, circuitsOpen: Int, queuedCells: Int, onionskinDrops: Int,
                rssBytes: Int?, openFDs: Int?) {
        self.at = Int64(at.timeIntervalSince1970)
        self.linksOpen = linksOpen
        self.circuitsOpen = circuitsOpen
        self.queuedCells = queuedCells
        self.onionskinDrops = onionskinDrops
        self.rssBytes = rssBytes
        self.openFDs = openFDs
    }
}
