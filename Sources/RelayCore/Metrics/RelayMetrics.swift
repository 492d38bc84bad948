import Foundation
import Metrics
import Prometheus
import TorProtocol

/// The relay's metrics in Prometheus text format, under CTor 0.4.9's MetricsPort names and
/// labels (`src/feature/relay/relay_metrics.c`; fleet-anchors.md §4) so existing dashboards
/// and alert rules keep working, plus `relaynode_*` ones of our own.
///
/// Values are read from the relay's counters when scraped (no work on the data path): gauges
/// are set, counters advance by what changed since the previous scrape. The registry comes
/// from swift-prometheus, and every metric carries help text (promtool's lint asks for it);
/// `factory` puts swift-metrics' API over the same registry for code that records through it.
public actor RelayMetrics {
    /// What is measured; everything is optional so tools and tests can pass what they have.
    public struct Sources: Sendable {
        public var traffic: TrafficCounters
        public var links: LinkStats
        public var relay: RelayContext
        /// `KP_relaysign_ed`'s certificate expiry (`tor_relay_signing_cert_expiry_timestamp`).
        public var signingCertExpiry: @Sendable () -> Date?
        public var eventLoops: Int

        public init(traffic: TrafficCounters, links: LinkStats, relay: RelayContext, eventLoops: Int,
                    signingCertExpiry: @escaping @Sendable () -> Date?) {
            self.traffic = traffic
            self.links = links
            self.relay = relay
            self.eventLoops = eventLoops
            self.signingCertExpiry = signingCertExpiry
        }
    }

    public let registry = PrometheusCollectorRegistry()
    private let sources: Sources
    private var counters: [String: (Prometheus.Counter, Int64)] = [:]
    private var gauges: [String: Prometheus.Gauge] = [:]
    private let factory: PrometheusMetricsFactory

    public init(sources: Sources) {
        self.sources = sources
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// Reads every source and returns the exposition text.
    public func render() async -> String {
        let traffic = await sources.traffic.snapshot()
        count("tor_relay_traffic_bytes", [("direction", "read")], traffic.read, "Traffic related counters")
        count("tor_relay_traffic_bytes", [("direction", "written")], traffic.written, "Traffic related counters")

        let links = sources.links.snapshot
        for outbound in [false, true] {
            for ipv6 in [false, true] {
                let kind = LinkStats.Kind(outbound: outbound, ipv6: ipv6)
                let labels = [("type", "OR"), ("direction", outbound ? "initiated" : "received")]
                let family = ("family", ipv6 ? "ipv6" : "ipv4")
                gauge("tor_relay_connections", labels + [("state", "opened"), family], links.openByKind[kind] ?? 0,
                      "Connections currently opened")
                count("tor_relay_connections_total", labels + [("state", "created"), family], links.createdByKind[kind] ?? 0,
                      "Total number of connections")
                if !outbound {
                    count("tor_relay_connections_total", labels + [("state", "rejected"), family], links.refusedByKind[kind] ?? 0,
                          "Total number of connections")
                }
            }
        }

        let circuits = sources.relay.stats.snapshot
        gauge("tor_relay_circuits_total", [("state", "opened")], circuits.circuitsOpen, "Total number of circuits")
        let onionskins = sources.relay.workers.counterSnapshot
        for type in ["tap", "fast", "ntor", "ntor_v3"] {
            count("tor_relay_load_onionskins_total", [("type", type), ("action", "processed")], onionskins.processed[type] ?? 0,
                  "Total number of onionskins handled")
            count("tor_relay_load_onionskins_total", [("type", type), ("action", "dropped")], onionskins.dropped[type] ?? 0,
                  "Total number of onionskins handled")
        }
        if let expiry = sources.signingCertExpiry() {
            gauge("tor_relay_signing_cert_expiry_timestamp", [], Int(expiry.timeIntervalSince1970),
                  "Timestamp at which the current online keys will expire")
        }

        count("relaynode_link_handshakes_total", [("result", "completed")], links.handshakesCompleted, "Link handshakes")
        count("relaynode_link_handshakes_total", [("result", "failed")], links.handshakesFailed, "Link handshakes")
        count("relaynode_circuits_killed_for_memory_total", [], circuits.killedForMemory,
              "Circuits destroyed because queued cells on all links exceeded the limit")
        gauge("relaynode_queued_cells", [], max(0, sources.relay.queued.current), "Relay cells queued on all links, waiting to be written")
        gauge("relaynode_link_muxes", [], circuits.linkMuxesAlive,
              "Link circuit switches in memory: open links, and closed ones not yet freed (should track open links)")
        count("relaynode_idle_links_closed_total", [], circuits.idleLinksClosed, "Links closed after having no circuit for their idle time")
        gauge("relaynode_event_loops", [], sources.eventLoops, "Event loops (threads) serving links")
        return registry.emitToString()
    }

    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Advances a counter to `value` (counters never go back; a smaller value is ignored).
    private func count(_ name: String, _ labels: [(String, String)], _ value: some BinaryInteger, _ help: String) {
        let key = name + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let v = Int64(clamping: value)
        let (counter, last) = counters[key] ?? (registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels), 0)
        if v > last { counter.increment(by: v - last) }
        counters[key] = (counter, max(v, last))
    }

    private func gauge(_ name: String, _ labels: [(String, String)], _ value: some BinaryInteger, _ help: String) {
        let key = name + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let g = gauges[key] ?? registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
        gauges[key] = g
        g.set(Double(value))
    }
}
