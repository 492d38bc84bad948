import Foundation
import GRDB

/// How fleetctl reaches a host.
public enum TransportKind: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case local, ssh
}

/// The container engine relays on a host run under (`none`: plain processes).
public enum ContainerEngine: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case none, podman, docker
}

public enum RelayRole: String, Codable, Sendable, DatabaseValueConvertible {
    case exit
    case nonExit = "non-exit"
}

public enum DesiredState: String, Codable, Sendable, DatabaseValueConvertible {
    case running, stopped, retired
}

public enum FleetEventKind: String, Codable, Sendable, DatabaseValueConvertible {
    case hostAdded = "host_added", hostRemoved = "host_removed"
    case relayCreated = "relay_created", relayCreateFailed = "relay_create_failed"
    case masterVaulted = "master_vaulted", relayStarted = "relay_started", relayVerified = "relay_verified"
    case certRenewed = "cert_renewed", vaultInitialized = "vault_initialized"
    case hostUpdated = "host_updated", relayReconfigured = "relay_reconfigured"
    case relayStopped = "relay_stopped", applied = "applied"
    case migrationStarted = "migration_started", relayMigrated = "relay_migrated", sourceErased = "source_erased"
    case migrationRolledBack = "migration_rolled_back", relayRetired = "relay_retired"
    case familyKeyCreated = "family_key_created", familyKeyRetired = "family_key_retired"
    case familySynced = "family_synced", familySyncFailed = "family_sync_failed"
}

/// A row of `host`.
public struct HostRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "host"
    public var id: Int64?
    public var name: String
    public var transport: TransportKind
    public var sshTarget: String?
    public var sshConfig: String?
    public var address: String
    public var containerEngine: ContainerEngine
    public var dataRoot: String
    public var relaynodePath: String
    /// With a container engine: the image relaynode runs from (`containers/Containerfile`).
    public var containerImage: String?
    public var createdAt: Int64

    enum CodingKeys: String, CodingKey {
        case id, name, transport, address
        case sshTarget = "ssh_target", sshConfig = "ssh_config", containerEngine = "container_engine"
        case dataRoot = "data_root", relaynodePath = "relaynode_path", createdAt = "created_at"
        case containerImage = "container_image"
    }

    public init(name: String, transport: TransportKind, sshTarget: String? = nil, sshConfig: String? = nil,
                address: String, containerEngine: ContainerEngine = .none, dataRoot: String,
                relaynodePath: String = "relaynode", containerImage: String? = nil, createdAt: Date = Date()) {
        self.name = name
        self.transport = transport
        self.sshTarget = sshTarget
        self.sshConfig = sshConfig
        self.address = address
        self.containerEngine = containerEngine
        self.dataRoot = dataRoot
        self.relaynodePath = relaynodePath
        self.containerImage = containerImage
        self.createdAt = Int64(createdAt.timeIntervalSince1970)
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// How the host is reached, for tables and messages: `local` or `ssh TARGET`.
    public var transportLabel: String { transport == .ssh ? "ssh \(sshTarget ?? address)" : "local" }
}

/// A row of `relay`.
public struct RelayRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "relay"
    public var id: Int64?
    public var nickname: String
    public var hostId: Int64
    public var orAddress: String
    public var orPort: Int
    public var role: RelayRole
    public var desiredState: DesiredState
    public var family: String?
    public var createdAt: Int64
    /// `BandwidthRate`/`BandwidthBurst` for the relay's torrc, as the operator wrote them.
    public var bandwidthRate: String?
    public var bandwidthBurst: String?

    enum CodingKeys: String, CodingKey {
        case id, nickname, role, family
        case hostId = "host_id", orAddress = "or_address", orPort = "or_port"
        case desiredState = "desired_state", createdAt = "created_at"
        case bandwidthRate = "bandwidth_rate", bandwidthBurst = "bandwidth_burst"
    }

    /// What `fleetctl apply` compares with the fleet file.
    public var settings: RelaySettings {
        RelaySettings(orAddress: orAddress, orPort: orPort, role: role, family: family, bandwidthRate: bandwidthRate,
                      bandwidthBurst: bandwidthBurst)
    }

    public init(nickname: String, hostId: Int64, orAddress: String, orPort: Int, role: RelayRole,
                desiredState: DesiredState = .running, family: String? = nil, createdAt: Date = Date()) {
        self.nickname = nickname
        self.hostId = hostId
        self.orAddress = orAddress
        self.orPort = orPort
        self.role = role
        self.desiredState = desiredState
        self.family = family
        self.createdAt = Int64(createdAt.timeIntervalSince1970)
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A row of `identity`: the fingerprints a relay proves, where it is live, and its epoch.
public struct IdentityRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "identity"
    public var id: Int64?
    public var relayId: Int64
    public var rsaFingerprint: String
    public var ed25519Id: String
    public var liveHostId: Int64?
    public var epoch: Int64
    public var masterInVault: Bool
    public var signingExpires: Int64?

    enum CodingKeys: String, CodingKey {
        case id, epoch
        case relayId = "relay_id", rsaFingerprint = "rsa_fingerprint", ed25519Id = "ed25519_id"
        case liveHostId = "live_host_id", masterInVault = "master_in_vault", signingExpires = "signing_expires"
    }

    public init(relayId: Int64, rsaFingerprint: String, ed25519Id: String, liveHostId: Int64?, epoch: Int64 = 1,
                masterInVault: Bool = false, signingExpires: Int64? = nil) {
        self.relayId = relayId
        self.rsaFingerprint = rsaFingerprint
        self.ed25519Id = ed25519Id
        self.liveHostId = liveHostId
        self.epoch = epoch
        self.masterInVault = masterInVault
        self.signingExpires = signingExpires
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A row of `event`.
public struct FleetEvent: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "event"
    public var id: Int64?
    public var at: Int64
    public var kind: FleetEventKind
    public var hostId: Int64?
    public var relayId: Int64?
    public var detail: String

    enum CodingKeys: String, CodingKey {
        case id, at, kind, detail
        case hostId = "host_id", relayId = "relay_id"
    }

    public init(kind: FleetEventKind, hostId: Int64? = nil, relayId: Int64? = nil, detail: String = "", at: Date = Date()) {
        self.at = Int64(at.timeIntervalSince1970)
        self.kind = kind
        self.hostId = hostId
        self.relayId = relayId
        self.detail = detail
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A relay with its host and identity, as `relay list|show` prints it.
public struct RelayView: Sendable, Equatable {
    public var relay: RelayRecord
    public var host: HostRecord
    public var identity: IdentityRecord?
    public var liveHostName: String?
}
