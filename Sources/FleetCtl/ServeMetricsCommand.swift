import ArgumentParser
import FleetKit
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// `fleetctl serve-metrics`: the fleet's statistics as a Prometheus scrape target. A background
/// refresh reads the relays every --refresh seconds into the fleet database's cache; each scrape
/// renders from the cache, so a scrape never waits on a host and the all-time traffic counters
/// keep growing across relay restarts, migrations and unreachable hosts.
struct ServeMetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-metrics",
        abstract: "Serve the fleet's statistics on /metrics for Prometheus (until SIGTERM or SIGINT).")
    @OptionGroup var fleet: FleetOptions
    @Option(help: "Address and port to listen on.") var listen: String = "127.0.0.1:9035"
    @Option(help: "Seconds between refreshes from the hosts (0: never; serve the cache).") var refresh: Int = 300
    @Option(help: "The period the tor_relay_fleet_*_bytes gauges cover (an age such as 24h).") var period: String = "24h"

    func run() throws {
        try reportingErrors {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
                throw FleetError(.invalid, "--listen must be ADDRESS:PORT, got '\(listen)'")
            }
            let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard refresh >= 0 else { throw FleetError(.invalid, "--refresh must be 0 or more seconds") }
            _ = try FleetStats.parseTime(period, now: Date(), option: "--period")
            let db = try fleet.openDatabase()
            let source = MetricsSource(database: db, period: period)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let channel: any Channel
            do {
                channel = try ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer { ch in
                        ch.pipeline.configureHTTPServerPipeline().flatMap { ch.pipeline.addHandler(ScrapeHandler(source: source)) }
                    }
                    .bind(host: host, port: port).wait()
            } catch {
                try? group.syncShutdownGracefully()
                throw FleetError(.io, "cannot listen on \(listen): \(error)")
            }
            let bound = channel.localAddress.map { "\($0.ipAddress ?? host):\($0.port ?? port)" } ?? listen
            // Unbuffered: whoever started us (a test, a supervisor) waits for this line.
            FileHandle.standardOutput.write(Data("fleetctl: serving http://\(bound)/metrics (refresh every \(refresh) s)\n".utf8))
            let stop = DispatchSemaphore(value: 0)
            var sources: [DispatchSourceSignal] = []
            for sig in [SIGTERM, SIGINT] {
                signal(sig, SIG_IGN)
                let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                s.setEventHandler { stop.signal() }
                s.resume()
                sources.append(s)
            }
            let refresher = refresh > 0 ? Thread {
                while true {
                    source.refresh()
                    Thread.sleep(forTimeInterval: TimeInterval(refresh))
                }
            } : nil
            refresher?.start()
            stop.wait()
            try? channel.close().wait()
            try? group.syncShutdownGracefully()
            print("fleetctl: serve-metrics stopped")
        }
    }
}

/// Renders the exposition from the cache; refreshes run on their own thread.
final class MetricsSource: Sendable {
    let database: FleetDatabase
    let period: String
    private let last = NIOLockedValueBox<[StatsCache.Outcome]>([])

    init(database: FleetDatabase, period: String) {
        self.database = database
        self.period = period
    }

    func refresh() {
        do {
            let outcomes = try StatsCache.refresh(database: database)
            last.withLockedValue { $0 = outcomes }
        } catch {
            FileHandle.standardError.write(Data("fleetctl: refresh failed: \(error)\n".utf8))
        }
    }

    func render() throws -> String {
        let now = Date()
        let stats = try FleetStats.fromCache(database: database, from: FleetStats.parseTime(period, now: now, option: "--period"), to: now,
                                             outcomes: last.withLockedValue { $0 }, now: now)
        return stats.prometheusText(now: now)
    }
}

final class ScrapeHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let source: MetricsSource

    init(source: MetricsSource) { self.source = source }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let (status, body): (HTTPResponseStatus, String)
        if head.method != .GET {
            (status, body) = (.methodNotAllowed, "only GET\n")
        } else if head.uri.split(separator: "?").first != "/metrics" {
            (status, body) = (.notFound, "see /metrics\n")
        } else {
            do { (status, body) = (.ok, try source.render()) } catch { (status, body) = (.internalServerError, "\(error)\n") }
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
