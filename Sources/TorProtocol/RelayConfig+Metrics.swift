/// `MetricsPort [ADDR:]PORT [prometheus]` (repeatable) and `MetricsPortPolicy accept|reject
/// ADDR[/MASK][,...]`, as in CTor's manual: a bare port listens on 127.0.0.1; without an
/// `accept` rule nobody may scrape (every request is refused).
public struct MetricsPortConfig: Sendable, Equatable {
    public var listeners: [ORPortConfig] = []
    public var policyLines: [String] = []

    public init() {}

    /// Who may scrape: the configured rules, then reject everything.
    public func policy() throws -> ExitPolicy {
        var rules = [ExitPolicy.Rule]()
        for line in policyLines { rules += try ExitPolicy.parse(line, here: "MetricsPortPolicy") }
        return ExitPolicy(rules: rules + ExitPolicy.rejectAll.rules)
    }

    mutating func parse(_ option: String, _ value: String, _ here: String) throws {
        switch option {
        case "MetricsPort":
            let words = value.split(separator: " ", omittingEmptySubsequences: true)
            guard let spec = words.first, words.count <= 2, words.count == 1 || words[1].lowercased() == "prometheus" else {
                throw TorProtocolError(.malformed, "\(here): MetricsPort must be [ADDRESS:]PORT with an optional 'prometheus', got '\(value)'")
            }
            var l = try ORPortConfig(parsing: String(spec), here)
            if !spec.contains(":") { l.host = "127.0.0.1" }
            guard l.port != 0 else { throw TorProtocolError(.malformed, "\(here): MetricsPort needs a port from 1 to 65535") }
            listeners.append(l)
        case "MetricsPortPolicy":
            for rule in try ExitPolicy.parse(value, here: here) where rule.ports != 1...65535 {
                throw TorProtocolError(.malformed, "\(here): MetricsPortPolicy takes addresses only (no ports), got '\(rule)'")
            }
            policyLines.append(value)
        default:
            preconditionFailure("not a MetricsPort option: \(option)")
        }
    }
}

extension RelayConfig {
    static let metricsOptions = ["MetricsPort", "MetricsPortPolicy"]
}
