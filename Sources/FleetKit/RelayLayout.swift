/// Where a relay's files live on its host: `DATA_ROOT/NICKNAME/` (0700) holding the torrc,
/// the relay's DataDirectory, its pid file and log.
public struct RelayLayout: Sendable {
    public let directory: String
    public init(host: HostRecord, nickname: String) {
        directory = host.dataRoot.hasSuffix("/") ? host.dataRoot + nickname : host.dataRoot + "/" + nickname
    }
    public var torrc: String { directory + "/torrc" }
    public var dataDirectory: String { directory + "/data" }
    public var pidFile: String { directory + "/relaynode.pid" }
    public var logFile: String { directory + "/relaynode.log" }
    /// Where `keys offline-master` writes the master secret before fleetctl vaults and shreds it.
    public var masterOut: String { directory + "/offline-master" }
    /// Present while `relay create` has not finished; lets a re-run roll an interrupted one back.
    public var creatingMark: String { directory + "/.creating" }
    /// Where a new signing key and certificate wait to be installed.
    public var signingIn: String { directory + "/signing-new" }
}

/// The torrc fleetctl writes for a relay: the master key stays offline (in the vault).
public func relayTorrc(_ relay: RelayRecord, layout: RelayLayout, hostAddress: String, family: FamilySettings) -> String {
    var lines = [
        "# Written by fleetctl; edits are overwritten when fleetctl reconfigures this relay.",
        "Nickname \(relay.nickname)",
        "DataDirectory \(layout.dataDirectory)",
        "ORPort \(relay.orAddress):\(relay.orPort)",
        "Address \(hostAddress)",
        "OfflineMasterKey 1",
    ]
    switch relay.role {
    case .exit: lines.append("ExitRelay 1")
    case .nonExit: lines += ["ExitRelay 0", "ExitPolicy reject *:*"]
    }
    if let rate = relay.bandwidthRate { lines.append("BandwidthRate \(rate)") }
    if let burst = relay.bandwidthBurst { lines.append("BandwidthBurst \(burst)") }
    lines += family.familyIds.map { "FamilyId \($0)" }
    if !family.myFamily.isEmpty { lines.append("MyFamily " + family.myFamily.joined(separator: ",")) }
    return lines.joined(separator: "\n") + "\n"
}
