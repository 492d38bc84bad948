import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TorCrypto
import TorProtocol

/// Limits against abuse (CTor's DoS subsystem and MaxMemInQueues in spirit).
public struct CircuitLimits: Sendable {
    /// Circuits one link may hold.
    public var maxCircuitsPerLink = 8192
    /// Cells queued for output on one circuit before it is killed (a sender ignoring windows).
    public var maxQueuedCellsPerCircuit = 2048
    /// Cells queued for output on all links together (about `n × 514` bytes) before the
    /// oldest circuits are killed.
    public var maxQueuedCellsTotal = 512 * 1024
    /// A link to a client that has had no circuit for this long, plus a random part of up to half
    /// of it, is closed (CTor: 180 s + up to 90 s for client and non-canonical channels).
    public var idleClientLinkSeconds: Double = 180
    /// A link to a relay that has had no circuit for 75 % to 125 % of this is closed (CTor: the
    /// consensus's nf_conntimeout_relays, 3600 s by default).
    public var idleRelayLinkSeconds: Double = 3600
    public init() {}
}

/// Counters of the circuit layer, shared by all loops; touched per circuit event, not per cell.
public final class CircuitStats: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var circuitsCreated = 0
        public var circuitsOpen = 0
        public var circuitsDestroyed: [String: Int] = [:]
        public var createsRefused: [String: Int] = [:]
        public var extends = 0
        public var extendsFailed = 0
        public var killedForMemory = 0
        /// Links closed after having had no circuit for their idle time.
        public var idleLinksClosed = 0
        /// Link muxes still in memory (links open, or closed and not yet freed): after links
        /// close this falls back, so a retain cycle shows as growth here.
        public var linkMuxesAlive = 0
        public var streamsOpened = 0
        public var streamsRefused: [String: Int] = [:]
        public var directoryStreams = 0
        public var resolves = 0
    }
    private let box = NIOLockedValueBox(Snapshot())
    public init() {}
    public var snapshot: Snapshot { box.withLockedValue { $0 } }
    func update(_ body: (inout Snapshot) -> Void) { box.withLockedValue(body) }
}

/// Cells queued for output across all links, against `CircuitLimits.maxQueuedCellsTotal`
/// (CTor's MaxMemInQueues in cells). Muxes report in batches, so this lock is taken about once
/// per 32 cells, not per cell.
public final class QueueAccounting: Sendable {
    private let total = NIOLockedValueBox(0)
    public init() {}
    public var current: Int { total.withLockedValue { $0 } }
    func adjust(by delta: Int) -> Int { total.withLockedValue { $0 += delta; return $0 } }
}

/// What every link's circuit switch shares.
public struct RelayContext: Sendable {
    public let handshakes: any CircuitHandshakeResponder
    public let workers: OnionskinWorkers
    public let registry: LinkRegistry
    public let stats: CircuitStats
    public let limits: CircuitLimits
    /// Our own identity, to refuse extending to ourselves.
    public let ourIdentity: RSAFingerprint
    /// Opens links to next hops. Set after construction (the connector needs the environment).
    public let connector: NIOLockedValueBox<LinkConnector?>
    public let logger: Logger
    /// Which streams this relay opens as an exit (reject-all for a non-exit); a configuration
    /// reload may replace it (read when a stream opens, never per cell).
    public var exitPolicy: ExitPolicy { exitPolicyBox.withLockedValue { $0 } }
    private let exitPolicyBox: NIOLockedValueBox<ExitPolicy>
    /// AccountingMax: while not awake, new connections and circuits are refused.
    public var hibernation: AccountingConfig.State { hibernationBox.withLockedValue { $0 } }
    private let hibernationBox = NIOLockedValueBox(AccountingConfig.State.awake)
    private let resolverStarted: NIOLockedValueBox<Bool>
    /// Name resolution for exit streams, off the I/O loops (getaddrinfo blocks).
    public let resolver: NIOThreadPool
    /// Output queued on all links together.
    public let queued = QueueAccounting()
    /// CREATE rate per client address.
    public let createLimiter: CreateRateLimiter
    /// The directory cache BEGIN_DIR streams are answered from (nil: refuse them), which
    /// also tells which relays the consensus lists.
    public let directory: DirectoryCache?

    public init(handshakes: any CircuitHandshakeResponder, workers: OnionskinWorkers, registry: LinkRegistry,
                stats: CircuitStats, limits: CircuitLimits, ourIdentity: RSAFingerprint, logger: Logger,
                exitPolicy: ExitPolicy = .rejectAll, createRate: CreateRateLimiter.Settings = .init(),
                directory: DirectoryCache? = nil) {
        self.exitPolicyBox = NIOLockedValueBox(exitPolicy)
        self.resolverStarted = NIOLockedValueBox(exitPolicy.isExit)
        self.directory = directory
        self.createLimiter = CreateRateLimiter(settings: createRate)
        // Only an exit resolves names; a non-exit never submits work, so no thread is started.
        self.resolver = NIOThreadPool(numberOfThreads: 2)
        if exitPolicy.isExit { self.resolver.start() }
        self.handshakes = handshakes
        self.workers = workers
        self.registry = registry
        self.stats = stats
        self.limits = limits
        self.ourIdentity = ourIdentity
        self.connector = NIOLockedValueBox(nil)
        self.logger = logger
    }
}

extension RelayContext {
    /// Enters or leaves hibernation; hard hibernation closes every link.
    public func setHibernation(_ state: AccountingConfig.State) {
        hibernationBox.withLockedValue { $0 = state }
        if state == .hard { registry.closeAll() }
    }

    /// Replaces the exit policy (SIGHUP); the resolver threads start when the relay becomes an exit.
    public func setExitPolicy(_ policy: ExitPolicy) {
        exitPolicyBox.withLockedValue { $0 = policy }
        if policy.isExit, resolverStarted.withLockedValue({ started in defer { started = true }; return !started }) {
            resolver.start()
        }
    }

    /// Stops the resolver threads, if the relay was ever an exit (at the end of `run`).
    public func shutdown() async {
        guard resolverStarted.withLockedValue({ $0 }) else { return }
        try? await resolver.shutdownGracefully()
    }

    /// A context for tools that open links but carry no circuits (link-probe, benchmarks):
    /// every CREATE is refused.
    public static func linksOnly(ourIdentity: RSAFingerprint, registry: LinkRegistry = LinkRegistry(), logger: Logger) -> RelayContext {
        RelayContext(handshakes: RefuseAllHandshakes(), workers: OnionskinWorkers(threads: 1, maxPending: 0),
                     registry: registry, stats: CircuitStats(), limits: CircuitLimits(), ourIdentity: ourIdentity, logger: logger)
    }
}

struct RefuseAllHandshakes: CircuitHandshakeResponder {
    func kind(of cell: Cell) -> String? { nil }
    func respond(to cell: Cell) throws -> CreateResult {
        throw TorProtocolError(.unsupported, "this endpoint carries no circuits")
    }
}
