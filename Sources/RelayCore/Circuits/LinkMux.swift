import Logging
import NIOCore
import TorCrypto
import TorProtocol

/// A Sendable handle on a link's mux, for other loops: every use hops onto its event loop.
public struct LinkMuxRef: Sendable {
    let bound: NIOLoopBound<LinkMux>
    public let eventLoop: any EventLoop
    let id: ObjectIdentifier
}

/// Messages between muxes of different links (possibly on different loops).
enum MuxMessage {
    /// A cell ready to write on the receiving link (circuit ID already that link's).
    case output(Cell)
    /// The circuit `circuitID` on this link was extended: its next hop is `next`.
    case attached(circuitID: UInt32, next: CircuitPeer)
    /// Extending circuit `circuitID` failed before a next hop existed.
    case extendFailed(circuitID: UInt32, reason: DestroyReason)
    /// The next hop of `circuitID` went away (TRUNCATED was already sent); we are its edge again.
    case nextGone(circuitID: UInt32)
    /// The next hop's side of `circuitID` is gone (a DESTROY from ahead, its link closed, or we
    /// killed it): destroy the circuit backward with `reason`, as CTor closes the whole circuit.
    case nextDestroyed(circuitID: UInt32, reason: DestroyReason)
    /// The previous hop of n-circuit `circuitID` went away: destroy it toward the next hop.
    case previousGone(circuitID: UInt32, reason: DestroyReason)
    /// Start the n-side of an extension on this link.
    case beginExtension(create: Cell, crypto: Handoff<HopCrypto>, previous: CircuitPeer)
    /// Write a relay message backward on n-circuit `circuitID` (whose backward crypto we own).
    case originateBackward(circuitID: UInt32, command: UInt8, streamID: UInt16, data: [UInt8])
    /// The client asked to truncate at the previous hop: destroy n-circuit `circuitID` and
    /// answer TRUNCATED.
    case truncate(circuitID: UInt32)
}

/// The circuit switch of one link, confined to its channel's event loop. It owns the link's
/// circuit-ID table, runs the forward relay crypto of circuits whose previous hop is this link
/// (and the backward crypto of circuits extended onto it), hands cells to other links in
/// batches, and writes this link's output round-robin across circuits while it is writable.
public final class LinkMux: ChannelDuplexHandler {
    public typealias InboundIn = Cell
    public typealias OutboundIn = Cell
    public typealias OutboundOut = Cell

    let relay: RelayContext
    private var context: ChannelHandlerContext?
    private var established: LinkEstablished?
    /// We opened this link (our circuit IDs have the high bit set).
    private var weInitiated = false
    private var circuits: [UInt32: CircuitHalf] = [:]
    /// CREATEs being answered by a worker.
    private var pendingCreates: Set<UInt32> = []
    private var nextCircuitID: UInt32 = 1
    // Output: per-circuit queues served round-robin.
    private var queues: [UInt32: CircularBuffer<Cell>] = [:]
    private var ring = CircularBuffer<UInt32>()
    private var queued = 0
    /// Change in `queued` not yet reported to `relay.queued`.
    private var unreported = 0
    private var sequence = 0
    // Cross-loop batches, flushed at the end of each read burst.
    private var outbox: [ObjectIdentifier: (LinkMuxRef, [MuxMessage])] = [:]
    private var rng = SystemRandom()
    /// Closes the link once it has had no circuit for `idleLimit` (checked every few seconds).
    private var idleCheck: RepeatedTask?
    private var idleSince: NIODeadline?
    private var idleLimit: TimeAmount = .zero
    private(set) var ref: LinkMuxRef?
    /// The channel went inactive: cells that other links still hand us are dropped, not queued
    /// (nobody would write them, and they would stay in the relay-wide queue total).
    private var isClosed = false
    private var logger: Logger

    public init(relay: RelayContext) {
        self.relay = relay
        logger = relay.logger
        relay.stats.update { $0.linkMuxesAlive += 1 }
    }

    deinit {
        relay.stats.update { $0.linkMuxesAlive -= 1 }
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        ref = LinkMuxRef(bound: NIOLoopBound(self, eventLoop: context.eventLoop), eventLoop: context.eventLoop,
                         id: ObjectIdentifier(self))
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
        self.context = nil
        // `ref` holds this mux strongly (other loops reach it through it): dropping it breaks the
        // cycle, so the mux is freed once no circuit elsewhere still names it. Messages that
        // arrive later find no context and are dropped.
        ref = nil
        flushOutbox()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let opened = event as? LinkOpened {
            established = opened.established
            weInitiated = opened.outbound
            if let ref, opened.established.peer != nil {
                relay.registry.register(.init(channel: context.channel, established: opened.established,
                                              outbound: opened.outbound, mux: ref))
            }
            armIdleCheck(context, relayPeer: opened.established.peer != nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// CTor closes a channel some minutes after its last circuit is gone (sooner for clients), so
    /// links nobody uses do not hold descriptors and memory for ever.
    private func armIdleCheck(_ context: ChannelHandlerContext, relayPeer: Bool) {
        let base = relayPeer ? relay.limits.idleRelayLinkSeconds : relay.limits.idleClientLinkSeconds
        let fraction = Double.random(in: 0..<1)  // spreads closes out; not a secret
        let seconds = relayPeer ? base * (0.75 + 0.5 * fraction) : base * (1 + 0.5 * fraction)
        idleLimit = .nanoseconds(Int64(seconds * 1e9))
        idleSince = .now()
        let every = TimeAmount.nanoseconds(max(50_000_000, min(10_000_000_000, Int64(seconds * 1e8))))
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: every, delay: every) { _ in
            bound.value.checkIdle()
        }
    }

    private func checkIdle() {
        guard let context else { return }
        guard circuits.isEmpty, pendingCreates.isEmpty else {
            idleSince = nil
            return
        }
        let now = NIODeadline.now()
        guard let since = idleSince else {
            idleSince = now
            return
        }
        guard now - since >= idleLimit else { return }
        idleCheck?.cancel()
        idleCheck = nil
        relay.stats.update { $0.idleLinksClosed += 1 }
        logger.debug("closing a link that had no circuit for \(idleLimit.nanoseconds / 1_000_000_000) s")
        context.close(promise: nil)
    }

    // MARK: inbound cells

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let cell = unwrapInboundIn(data)
        switch cell.command {
        case .create2, .createFast, .create:
            handleCreate(cell)
        case .created2, .createdFast, .created:
            handleCreated(cell)
        case .relay, .relayEarly:
            handleRelay(cell)
        case .destroy:
            handleDestroy(cell)
        default:
            break  // padding and unknown commands are ignored on an open link
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flushOutbox()
        pump()
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump() }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        // Tear down every circuit on this link, telling the other side of each.
        for (id, half) in circuits {
            switch half {
            case let .p(p):
                closeAllStreams(p)
                relay.stats.update { $0.circuitsOpen -= 1 }
                if case let .extended(next) = p.next {
                    send(.previousGone(circuitID: next.circuitID, reason: .channelClosed), to: next.mux)
                }
            case let .n(n):
                destroyBackward(n, reason: .channelClosed)
            }
            countDestroyed("link_closed")
            _ = id
        }
        circuits.removeAll()
        account(-queued)
        if unreported != 0 { _ = relay.queued.adjust(by: unreported); unreported = 0 }
        queues.removeAll()
        ring.removeAll()
        queued = 0
        if let peer = established?.peer, let ref { relay.registry.unregister(ref, peer: peer) }
        flushOutbox()
        context.fireChannelInactive()
    }

    // MARK: CREATE

    private func handleCreate(_ cell: Cell) {
        let id = cell.circuitID
        // Link v4+: the connection's initiator sets the high bit of the IDs it picks.
        let peerSetsHighBit = !weInitiated
        guard id != 0, (id & 0x8000_0000 != 0) == peerSetsHighBit else {
            refuse(id, .protocolViolation, "create_bad_circuit_id")
            return
        }
        guard circuits[id] == nil, !pendingCreates.contains(id) else { return }  // duplicate: drop, as CTor does
        guard circuits.count + pendingCreates.count < relay.limits.maxCircuitsPerLink else {
            refuse(id, .resourceLimit, "too_many_circuits")
            return
        }
        guard relay.hibernation == .awake else {
            refuse(id, .hibernating, "hibernating")
            return
        }
        guard cell.command != .create, let kind = relay.handshakes.kind(of: cell) else {
            refuse(id, .protocolViolation, "unsupported_handshake")
            return
        }
        // Clients (unauthenticated links) are rate limited per address; relays are not.
        if established?.peer == nil, let address = context?.remoteAddress?.ipAddress,
           !relay.createLimiter.admit(address) {
            refuse(id, .resourceLimit, "create_rate_limited")
            return
        }
        let responder = relay.handshakes
        guard let context, let future = relay.workers.submit(kind, on: context.eventLoop, {
            Handoff(value: try responder.respond(to: cell))
        }) else {
            refuse(id, .resourceLimit, "onionskin_queue_full")
            return
        }
        pendingCreates.insert(id)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        future.whenComplete { result in
            let mux = bound.value
            guard mux.pendingCreates.remove(id) != nil, mux.context != nil else { return }  // destroyed meanwhile
            switch result {
            case let .success(handoff):
                let p = PCircuit(circuitID: id, crypto: handoff.value.crypto)
                mux.sequence += 1
                p.sequence = mux.sequence
                mux.circuits[id] = .p(p)
                var reply = handoff.value.reply
                reply.circuitID = id
                mux.enqueue(reply, circuit: id, priority: true)
                mux.relay.stats.update { $0.circuitsCreated += 1; $0.circuitsOpen += 1 }
            case .failure:
                mux.refuse(id, .protocolViolation, "handshake_failed")
            }
            mux.pump()
        }
    }

    private func refuse(_ id: UInt32, _ reason: DestroyReason, _ why: String) {
        relay.stats.update { $0.createsRefused[why, default: 0] += 1 }
        guard id != 0 else { return }
        enqueue(Self.destroyCell(id, reason), circuit: id, priority: true)
        pump()
    }

    // MARK: CREATED (our extension's next hop answered)

    private func handleCreated(_ cell: Cell) {
        guard case let .n(n)? = circuits[cell.circuitID], n.awaitingCreated, cell.command == .created2 else {
            return  // unexpected CREATED: ignore, as CTor does
        }
        n.awaitingCreated = false
        var hlen = cell.body.getInteger(at: cell.body.readerIndex, as: UInt16.self) ?? 0
        if Int(hlen) > RelayMessageLimits.maxCreated2Length { hlen = 0 }
        guard let hdata = cell.body.getBytes(at: cell.body.readerIndex + 2, length: Int(hlen)), hlen > 0 else {
            destroyN(n, reason: .protocolViolation, tellPrevious: true)
            return
        }
        // EXTENDED2 carries the CREATED2 reply back to the client, from us (its edge until now).
        var data = [UInt8]()
        data.reserveCapacity(2 + hdata.count)
        data.append(UInt8(hlen >> 8))
        data.append(UInt8(hlen & 0xff))
        data += hdata
        let reply = originate(crypto: n.crypto, circuitID: n.previous.circuitID, command: RelayCommand.extended2.rawValue, streamID: 0, data: data)
        send(.output(reply), to: n.previous.mux)
        relay.stats.update { $0.extends += 1 }
    }

    // MARK: RELAY

    private func handleRelay(_ cell: Cell) {
        guard let half = circuits[cell.circuitID] else { return }  // unknown circuit: dropped
        guard cell.body.readableBytes == Cell.fixedBodyLength else { return }
        var cell = cell
        switch half {
        case let .p(p):
            if cell.command == .relayEarly {
                p.relayEarlyReceived += 1
                if p.relayEarlyReceived > 8 {
                    destroyP(p, reason: .protocolViolation, why: "too_many_relay_early")
                    return
                }
            }
            let mine = cell.body.withUnsafeMutableReadableBytes { p.crypto.decryptForward($0) }
            if mine {
                handleRelayMessage(p, cell, early: cell.command == .relayEarly)
                return
            }
            guard case let .extended(next) = p.next else {
                destroyP(p, reason: .protocolViolation, why: "unrecognized_at_edge")
                return
            }
            cell.circuitID = next.circuitID
            send(.output(cell), to: next.mux)
        case let .n(n):
            guard cell.command == .relay, !n.awaitingCreated else {
                destroyN(n, reason: .protocolViolation, tellPrevious: true)
                return
            }
            cell.body.withUnsafeMutableReadableBytes { n.crypto.encryptBackward($0, originating: false) }
            cell.circuitID = n.previous.circuitID
            send(.output(cell), to: n.previous.mux)
        }
    }

    // MARK: DESTROY

    private func handleDestroy(_ cell: Cell) {
        // The peer's reason is not passed on either way (CTor: DESTROYED to the other side).
        if pendingCreates.remove(cell.circuitID) != nil { return }
        switch circuits[cell.circuitID] {
        case let .p(p)?:
            removeP(p, toNext: .destroyed)
            countDestroyed("destroy_from_previous")
        case let .n(n)?:
            // CTor (0.4.7 and later) closes the circuit and sends DESTROY backward with reason
            // DESTROYED: the remote reason could be a side channel.
            circuits[n.circuitID] = nil
            dropQueue(n.circuitID)
            destroyBackward(n, reason: .destroyed)
            countDestroyed("destroy_from_next")
        case nil:
            break
        }
    }

    // MARK: cross-loop messages

    func receive(_ message: MuxMessage) {
        switch message {
        case let .output(cell):
            enqueue(cell, circuit: cell.circuitID, priority: false)
        case let .attached(circuitID, next):
            if case let .p(p)? = circuits[circuitID], case .extending = p.next {
                p.next = .extended(next)
            } else {
                // The circuit died while extending: undo the n-side.
                send(.previousGone(circuitID: next.circuitID, reason: .destroyed), to: next.mux)
            }
        case let .extendFailed(circuitID, reason):
            if case let .p(p)? = circuits[circuitID] {
                relay.stats.update { $0.extendsFailed += 1 }
                destroyP(p, reason: reason, why: "extend_failed")
            }
        case let .nextGone(circuitID):
            if case let .p(p)? = circuits[circuitID] { p.next = .edge }
        case let .nextDestroyed(circuitID, reason):
            if case let .p(p)? = circuits[circuitID] {
                p.next = .edge  // the next side is already gone: nothing to tell it
                removeP(p, toNext: reason)
                enqueue(Self.destroyCell(p.circuitID, reason), circuit: p.circuitID, priority: true)
                pump()
            }
        case let .previousGone(circuitID, reason):
            if case .n? = circuits[circuitID] {
                circuits[circuitID] = nil
                dropQueue(circuitID)
                enqueue(Self.destroyCell(circuitID, reason), circuit: circuitID, priority: true)
                countDestroyed("destroy_propagated")
            }
        case let .beginExtension(create, crypto, previous):
            beginExtension(create: create, crypto: crypto.value, previous: previous)
        case let .originateBackward(circuitID, command, streamID, data):
            if case let .n(n)? = circuits[circuitID] {
                send(.output(originate(crypto: n.crypto, circuitID: n.previous.circuitID, command: command,
                                       streamID: streamID, data: data)), to: n.previous.mux)
            }
        case let .truncate(circuitID):
            if case let .n(n)? = circuits[circuitID] {
                circuits[circuitID] = nil
                dropQueue(circuitID)
                enqueue(Self.destroyCell(circuitID, .requested), circuit: circuitID, priority: true)
                sendTruncated(for: n, reason: .requested)
            }
        }
    }

    /// Runs `message` on `target`'s loop: at once if it is ours, else batched until the end of
    /// this read burst.
    func send(_ message: MuxMessage, to target: LinkMuxRef) {
        if target.eventLoop.inEventLoop {
            target.bound.value.receive(message)
            if target.id != ObjectIdentifier(self) { target.bound.value.pump() }
            return
        }
        outbox[target.id, default: (target, [])].1.append(message)
    }

    func flushOutbox() {
        guard !outbox.isEmpty else { return }
        let batches = outbox
        outbox.removeAll(keepingCapacity: true)
        for (_, (target, messages)) in batches {
            let sendable = Handoff(value: messages)
            target.eventLoop.execute {
                let mux = target.bound.value
                for m in sendable.value { mux.receive(m) }
                mux.flushOutbox()
                mux.pump()
            }
        }
    }

    // MARK: output

    /// Drops a circuit's queued output (the circuit is going away).
    func dropQueue(_ circuit: UInt32) {
        if let q = queues.removeValue(forKey: circuit) {
            queued -= q.count
            account(-q.count)
        }
    }

    /// Reports queue growth to the relay-wide total in batches; over the limit, sheds the
    /// oldest circuit on this link that has output waiting.
    private func account(_ delta: Int) {
        unreported += delta
        guard unreported >= 32 || unreported <= -32 else { return }
        let total = relay.queued.adjust(by: unreported)
        unreported = 0
        if total > relay.limits.maxQueuedCellsTotal { shedOldestCircuit() }
    }

    private func shedOldestCircuit() {
        var oldest: (Int, CircuitHalf)?
        for id in queues.keys {
            guard let half = circuits[id] else { continue }
            let seq: Int
            switch half {
            case let .p(p): seq = p.sequence
            case let .n(n): seq = n.sequence
            }
            if oldest == nil || seq < oldest!.0 { oldest = (seq, half) }
        }
        guard let (_, half) = oldest else { return }
        relay.stats.update { $0.killedForMemory += 1 }
        switch half {
        case let .p(p): destroyP(p, reason: .resourceLimit, why: "queue_memory")
        case let .n(n): destroyN(n, reason: .resourceLimit, tellPrevious: true)
        }
    }

    func enqueue(_ cell: Cell, circuit: UInt32, priority: Bool) {
        guard !isClosed else { return }
        if queues[circuit] == nil {
            queues[circuit] = CircularBuffer(initialCapacity: 8)
            if priority { ring.prepend(circuit) } else { ring.append(circuit) }
        }
        queues[circuit]!.append(cell)
        queued += 1
        let depth = queues[circuit]!.count
        // Accounting may shed circuits, this one included: touch nothing of it afterwards.
        account(1)
        guard depth > relay.limits.maxQueuedCellsPerCircuit else { return }
        // Either direction: a client ignoring its windows fills the queue toward the next hop.
        switch circuits[circuit] {
        case let .p(p)?: destroyP(p, reason: .resourceLimit, why: "queue_overflow")
        case let .n(n)?:
            countDestroyed("queue_overflow")
            destroyN(n, reason: .resourceLimit, tellPrevious: true)
        case nil: break
        }
    }

    /// Writes queued cells round-robin, one per circuit per turn, while the channel accepts them.
    func pump() {
        guard let context else { return }
        var wrote = false
        while !ring.isEmpty && context.channel.isWritable {
            let id = ring.removeFirst()
            guard var q = queues[id], let cell = q.popFirst() else { queues[id] = nil; continue }
            queued -= 1
            account(-1)
            context.write(wrapOutboundOut(cell), promise: nil)
            wrote = true
            if q.isEmpty { queues[id] = nil } else { queues[id] = q; ring.append(id) }
        }
        if wrote { context.flush() }
    }

    // MARK: circuit teardown

    func destroyP(_ p: PCircuit, reason: DestroyReason, why: String) {
        removeP(p, toNext: .destroyed)
        enqueue(Self.destroyCell(p.circuitID, reason), circuit: p.circuitID, priority: true)
        countDestroyed(why)
        pump()
    }

    private func removeP(_ p: PCircuit, toNext reason: DestroyReason) {
        closeAllStreams(p)
        circuits[p.circuitID] = nil
        dropQueue(p.circuitID)
        if case let .extended(next) = p.next {
            send(.previousGone(circuitID: next.circuitID, reason: reason), to: next.mux)
        }
        relay.stats.update { $0.circuitsOpen -= 1 }
    }

    private func destroyN(_ n: NCircuit, reason: DestroyReason, tellPrevious: Bool) {
        circuits[n.circuitID] = nil
        dropQueue(n.circuitID)
        enqueue(Self.destroyCell(n.circuitID, reason), circuit: n.circuitID, priority: true)
        if tellPrevious { destroyBackward(n, reason: reason) }
        pump()
    }

    /// The n-side of a circuit is gone: its previous link destroys the rest with `reason`.
    private func destroyBackward(_ n: NCircuit, reason: DestroyReason) {
        send(.nextDestroyed(circuitID: n.previous.circuitID, reason: reason), to: n.previous.mux)
    }

    /// The client asked to truncate here: tell it with TRUNCATED (we own the backward crypto),
    /// and hand the circuit's edge back to the previous link.
    private func sendTruncated(for n: NCircuit, reason: DestroyReason) {
        let cell = originate(crypto: n.crypto, circuitID: n.previous.circuitID, command: RelayCommand.truncated.rawValue,
                             streamID: 0, data: [reason.rawValue])
        send(.output(cell), to: n.previous.mux)
        send(.nextGone(circuitID: n.previous.circuitID), to: n.previous.mux)
    }

    private func countDestroyed(_ why: String) {
        relay.stats.update { $0.circuitsDestroyed[why, default: 0] += 1 }
    }

    static func destroyCell(_ id: UInt32, _ reason: DestroyReason) -> Cell {
        var body = ByteBuffer()
        body.writeInteger(reason.rawValue)
        body.writeRepeatingByte(0, count: Cell.fixedBodyLength - 1)
        return Cell(circuitID: id, command: .destroy, body: body)
    }

    // MARK: originating relay cells

    /// A backward relay cell we write as the circuit's edge: header, data, 4 zero bytes, random
    /// padding (tor-spec relay cell format), digest and encryption by `crypto`.
    func originate(crypto: HopCrypto, circuitID: UInt32, command: UInt8, streamID: UInt16, data: [UInt8]) -> Cell {
        precondition(data.count <= RelayMessageLimits.maxData)
        var body = ByteBuffer()
        body.reserveCapacity(Cell.fixedBodyLength)
        body.writeInteger(command)
        body.writeInteger(UInt16(0))       // recognized
        body.writeInteger(streamID)
        body.writeInteger(UInt32(0))       // digest, set by the crypto
        body.writeInteger(UInt16(data.count))
        body.writeBytes(data)
        let padStart = 11 + data.count
        if padStart < Cell.fixedBodyLength {
            let zeros = min(4, Cell.fixedBodyLength - padStart)
            body.writeRepeatingByte(0, count: zeros)
            body.writeBytes(rng.bytes(Cell.fixedBodyLength - padStart - zeros))
        }
        body.withUnsafeMutableReadableBytes { crypto.encryptBackward($0, originating: true) }
        return Cell(circuitID: circuitID, command: .relay, body: body)
    }

    /// Allocates an unused circuit ID on this link for a circuit we create (high bit set when
    /// we initiated the link).
    func allocateCircuitID() -> UInt32? {
        let highBit: UInt32 = weInitiated ? 0x8000_0000 : 0
        for _ in 0..<1024 {
            let candidate = (nextCircuitID & 0x7fff_ffff) | highBit
            nextCircuitID &+= 1
            if candidate & 0x7fff_ffff != 0, circuits[candidate] == nil { return candidate }
        }
        return nil
    }

    // MARK: hooks for extensions (LinkMux+Extend.swift)

    var circuitTable: [UInt32: CircuitHalf] {
        get { circuits }
        set { circuits = newValue }
    }
    var linkPeer: LinkEstablished? { established }
    func nextSequence() -> Int {
        sequence += 1
        return sequence
    }
    var eventLoop: (any EventLoop)? { context?.eventLoop }
}

@available(*, unavailable)
extension LinkMux: Sendable {}

/// Fired by `LinkHandler` when the handshake completes.
public struct LinkOpened: Sendable {
    public let established: LinkEstablished
    public let outbound: Bool
}

/// Relay-layer constants the mux needs.
enum RelayMessageLimits {
    static let maxData = 498
    static let maxCreated2Length = 507 - 2
}
