/// The fleet library: inventory, provisioning, key vault, migration, statistics.
public enum FleetKit {
    public static let version = "0.1.0"
}
