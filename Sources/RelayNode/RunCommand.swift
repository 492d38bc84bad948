import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import RelayCore
import RelayStore
import ServiceLifecycle
import TorCrypto
import TorProtocol
import UnixSignals

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the relay: open the ORPort and serve links until SIGTERM.")

    @OptionGroup var node: NodeOptions
    @OptionGroup var operations: OperationsOptions
    @Option(help: "Log level: debug, info, notice, warning, error (default: notice, or what the config's Log lines say).") var logLevel: String?
    @Flag(help: "Log peer addresses (like SafeLogging 0). Off by default: addresses are scrubbed.") var unsafeLogging = false

    func run() async throws {
        var override: Logger.Level?
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
                fail("--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
            override = level
        }
        // The Log lines decide where logs go, so the configuration is read once before anything logs.
        let logger: Logger
        do {
            logger = try LogSetup.bootstrap(try node.relayConfig().operations.logs, override: override)
        } catch let e as TorProtocolError { fail(e.context) }
        catch let e as CLIError { fail(e.description) }
        // One daemon per data directory: an exclusive lock held for the process's life (the
        // kernel drops it when the process dies, so kill -9 leaves no stale lock).
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock.acquire(try node.resolvedDataDirectory())
        } catch let e as CLIError { fail(e.description) }
        defer { lock.release() }
        // A fenced identity has moved to another host: running it here too would put one
        // identity on the network twice.
        if let dir = try? node.resolvedDataDirectory(), let fence = IdentityCommand.FenceRecord.read(dir) {
            fail("\(dir) is fenced at epoch \(fence.epoch) (\(fence.reason)): this identity has moved away and must not run here")
        }
        let prepared: PreparedRelay
        do {
            prepared = try PreparedRelay.load(node: node, logger: logger)
        } catch let e as RelayStoreError { fail(e.context) }
        catch let e as TorProtocolError { fail(e.context) }
        catch let e as CryptoError { fail(e.description) }
        catch let e as CLIError { fail(e.description) }

        var linkConfig = LinkHandler.Configuration()
        linkConfig.safeLog = SafeLog(scrubAddresses: !unsafeLogging && prepared.config.operations.safeLogging)
        let threads = prepared.config.numCPUs == 0 ? System.coreCount : prepared.config.numCPUs
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let keys = prepared.keys
        let live = LiveKeys(keys)
        let handshakes = TorCircuitHandshakes(identity: keys.rsaFingerprint, ed25519: keys.masterPublic,
                                              onionKeys: [keys.onionCurrent.ntor] + (keys.onionPrevious.map { [$0.ntor] } ?? []))
        let workers = OnionskinWorkers(threads: threads)
        let config = prepared.config
        let traffic = TrafficCounters(group: group)
        let directory = DirectoryCache(ourIdentity: keys.rsaFingerprint, traffic: traffic)
        let relay = RelayContext(handshakes: handshakes, workers: workers, registry: LinkRegistry(), stats: CircuitStats(),
                                 limits: CircuitLimits(), ourIdentity: keys.rsaFingerprint, logger: logger,
                                 exitPolicy: prepared.exitPolicy, directory: directory)
        // CTor's default rate (1 GByte/s) is no limit in practice: only a configured one is enforced.
        let limited = config.effectiveBandwidthRate < RelayConfig().bandwidthRate || config.effectiveBandwidthBurst < RelayConfig().bandwidthBurst
        let limiter = limited ? BandwidthLimiter(rate: config.effectiveBandwidthRate, burst: max(config.effectiveBandwidthBurst, config.effectiveBandwidthRate)) : nil
        let refill = limiter?.start(on: group.next())
        defer { refill?.cancel() }
        if let limiter { logger.notice("bandwidth limited", metadata: ["rate": "\(limiter.rate)", "burst": "\(limiter.burst)"]) }
        let env = LinkEnvironment(credentials: prepared.credentialStore, relay: relay, stats: LinkStats(),
                                  ourAddresses: prepared.advertisedAddresses, configuration: linkConfig, logger: logger,
                                  traffic: traffic, limiter: limiter)
        relay.connector.withLockedValue { $0 = LinkConnector(environment: env, group: group) }

        // Bind first: the descriptor publishes the port actually bound.
        var listeners = [ORListener]()
        do {
            for p in config.orPorts {
                listeners.append(try await ORListener.bind(host: p.host, port: p.port, group: group, environment: env))
            }
        } catch {
            for l in listeners { try? await l.close() }
            try? await group.shutdownGracefully()
            fail("cannot listen on the ORPort: \(error)")
        }
        // Shut down in reverse order: the ORPort first, the statistics recorders last (their
        // final flush sees every byte).
        var services: [ServiceGroupConfiguration.ServiceConfiguration]
        do { services = try operations.services(prepared, env, group, logger) } catch let e as TorProtocolError { fail(e.context) }
        services += [
            .init(service: ORPortService(listeners: listeners, keys: live, environment: env, logger: logger),
                  successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        let liveConfig = LiveConfig(config)
        let sighup = await SighupFanout(subscribers: 2)
        services.append(.init(service: sighup))
        services.append(.init(service: ConfigReloader(load: { [node] in try node.relayConfig() }, live: liveConfig, relay: relay,
                                                      limiter: limiter, logger: logger, sighups: sighup.streams[0])))
        let accounting = AccountingStatus()
        services.append(.init(service: AccountingService(
            config: config.operations.accounting, database: prepared.database, traffic: traffic, relay: relay,
            identity: keys.rsaFingerprint.bytes, status: accounting, tick: config.testingTorNetwork ? 1 : 5, logger: logger)))
        let heartbeat = Heartbeat(env: env, started: Date(), logger: logger)
        if config.operations.heartbeatPeriod > 0 {
            services.append(.init(service: HeartbeatService(heartbeat: heartbeat, period: config.operations.heartbeatPeriod)))
        }
        if config.control.enabled {
            let orAddresses = listeners.compactMap { l -> String? in
                guard let a = l.localAddress, let ip = a.ipAddress, let port = a.port else { return nil }
                return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
            }
            services.append(.init(service: ControlPortService(
                config: config, live: liveConfig, configFile: node.config, dataDirectory: (try? node.resolvedDataDirectory()) ?? config.dataDirectory ?? ".",
                keys: live, env: env, directory: directory, database: prepared.database, orListeners: orAddresses, group: group,
                heartbeat: heartbeat, accounting: accounting, logger: logger)))
        }
        services.append(.init(service: KeyMaintenance(
            database: prepared.database, lifetimes: try node.lifetimes(), live: live, handshakes: handshakes,
            credentials: prepared.credentialStore, interval: config.testingTorNetwork ? .seconds(30) : .seconds(600), logger: logger,
            sighups: sighup.streams[1])))
        if config.dirAuthorities.isEmpty {
            logger.notice("no DirAuthority configured: not publishing a descriptor or fetching the consensus")
        } else {
            let retry: TimeInterval = config.testingTorNetwork ? 2 : 30
            services.append(.init(service: ConsensusFetcher(authorities: config.dirAuthorities, database: prepared.database, cache: directory,
                                                            group: group, ourIdentity: keys.rsaFingerprint, retryInterval: retry, logger: logger)))
            if !config.publishServerDescriptor {
                logger.notice("PublishServerDescriptor 0: not publishing a descriptor")
            } else if let address = DescriptorMaker.publishedAddress(config),
                      let port = listeners.compactMap({ $0.localAddress?.protocol == .inet ? $0.localAddress?.port : nil }).first {
                var maker = DescriptorMaker(live: liveConfig, keys: live, orPort: port, address: address, startedAt: Date())
                maker.hibernating = { relay.hibernation != .awake }
                let uploader = DescriptorUploader(authorities: config.dirAuthorities, database: prepared.database, group: group, logger: logger)
                services.append(.init(service: DescriptorPublisher(
                    maker: maker, uploader: uploader, cache: directory,
                    checkInterval: config.testingTorNetwork ? .seconds(10) : .seconds(60),
                    observedBandwidth: { [db = prepared.database, testing = config.testingTorNetwork] in
                        (try? db.observedBandwidth(now: Date(), includeCurrentInterval: testing)) ?? 0 },
                    historyLines: { [db = prepared.database] now in (try? db.extraInfoHistoryLines(now: now)) ?? [] },
                    logger: logger)))
                let host = address.map(String.init).joined(separator: ".")
                services.append(.init(service: ReachabilitySelfTest(
                    ourself: { let k = live.current
                        return CircuitHopTarget(host: host, port: port, rsa: k.rsaFingerprint, ed25519: k.masterPublic,
                                                ntor: k.onionCurrent.ntor.publicKey) }, cache: directory, connector: { relay.connector.withLockedValue { $0 } },
                    retryAfterFailure: config.testingTorNetwork ? .seconds(10) : .seconds(60),
                    repeatAfterSuccess: config.testingTorNetwork ? .seconds(120) : .seconds(20 * 60),
                    record: { [db = prepared.database] ok, detail in try? db.recordHealthEvent(.reachability, ok: ok, detail: detail) },
                    logger: logger)))
            } else {
                logger.warning("not publishing a descriptor: set Address (an IPv4 address) and an IPv4 ORPort")
            }
        }
        // The first SIGTERM/SIGINT stops gracefully (listeners closed, links closed, statistics
        // flushed); a second one during that exits at once. The watcher is the first service, so
        // it is the last asked to stop and still listens while the others drain.
        services.insert(.init(service: SecondSignalExit(logger: logger)), at: 0)
        let serviceGroup = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await serviceGroup.run()
        } catch {
            try? await group.shutdownGracefully()
            fail("\(error)")
        }
        try? await workers.shutdown()
        await relay.shutdown()
        try await group.shutdownGracefully()
    }
}

/// Exits at once on a second SIGTERM or SIGINT (the first starts the graceful stop).
struct SecondSignalExit: Service {
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { g in
            g.addTask {
                var seen = 0
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    seen += 1
                    if seen >= 2 {
                        logger.warning("second signal: exiting at once", metadata: ["signal": "\(signal)"])
                        _exit(1)
                    }
                }
            }
            g.addTask { try? await gracefulShutdown() }
            await g.next()
            g.cancelAll()
        }
    }
}

/// Configuration, keys and link credentials, loaded and checked before any socket opens.
struct PreparedRelay {
    let config: RelayConfig
    let keys: RelayKeys
    let credentialStore: LinkCredentialStore
    let advertisedAddresses: [NetinfoAddress]
    let exitPolicy: ExitPolicy
    let database: NodeDatabase

    static func load(node: NodeOptions, logger: Logger) throws -> PreparedRelay {
        let config = try node.relayConfig()
        guard !config.orPorts.isEmpty else {
            throw CLIError("no ORPort configured: add e.g. 'ORPort 9001' to the --config file")
        }
        let db = try node.openDatabase(create: false)
        var keys = try db.loadKeys()
        // As C tor: a FamilyId without its key is a configuration error, not a silent omission.
        let missing = keys.missingFamilyKeys(config.familyIds)
        guard missing.isEmpty else {
            throw CLIError("FamilyId \(missing.joined(separator: ", ")): no such family key in \(db.path); install it with 'relaynode keys family-install FILE'")
        }
        let now = Date()
        let lifetimes = try node.lifetimes()
        var rng = SystemRandom()
        let events = try KeyMaintenance.maintain(&keys, now: now, lifetimes: lifetimes, context: "at start", logger: logger)
        if !events.isEmpty {
            try db.saveKeys(keys, events: events)
            try db.recordKeyHealthEvents(events)
        }
        let credentials = try LinkCredentials.generate(keys: keys, now: now, using: &rng)
        var addresses = [NetinfoAddress]()
        if let a = config.address, let b = IPv4Address.bytes(a) { addresses.append(.ipv4(b)) }
        for p in config.orPorts where addresses.isEmpty {
            if let b = IPv4Address.bytes(p.host), b != [0, 0, 0, 0] { addresses.append(.ipv4(b)) }
        }
        return PreparedRelay(config: config, keys: keys, credentialStore: try LinkCredentialStore(credentials),
                             advertisedAddresses: addresses, exitPolicy: try config.effectiveExitPolicy(), database: db)
    }
}

/// Listens on every configured ORPort; rotates link credentials every 2 hours; closes the
/// listeners on graceful shutdown.
struct ORPortService: Service {
    let listeners: [ORListener]
    let keys: LiveKeys
    let environment: LinkEnvironment
    let logger: Logger

    func run() async throws {
        for l in listeners {
            logger.notice("ORPort listening", metadata: [
                "address": "\(l.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?")",
                "fingerprint": "\(keys.current.rsaFingerprint.hex)",
                "ed25519": "\(keys.current.masterPublic.base64)",
            ])
        }
        // Rotate the TLS key and link certificates (CTor does every 2 hours).
        let rotation = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(LinkCredentials.tlsContextLifetime))
                var rng = SystemRandom()
                let fresh = try LinkCredentials.generate(keys: keys.current, now: Date(), using: &rng)
                try environment.credentials.replace(with: fresh)
                logger.info("rotated TLS link key and link certificates")
            }
        }
        try? await gracefulShutdown()
        rotation.cancel()
        logger.notice("shutting down: closing ORPort listeners")
        for l in listeners { try? await l.close() }
        let s = environment.stats.snapshot
        logger.notice("stopped", metadata: ["links_completed": "\(s.handshakesCompleted)", "links_failed": "\(s.handshakesFailed)"])
    }
}
