import NIOCore
import TorCrypto
import TorProtocol

extension LinkMux {
    /// A relay cell whose digest matched at this hop.
    func handleRelayMessage(_ p: PCircuit, _ cell: Cell, early: Bool) {
        let b = cell.body, at = b.readerIndex
        let command = b.getInteger(at: at, as: UInt8.self)!
        let streamID = b.getInteger(at: at + 3, as: UInt16.self)!
        let length = Int(b.getInteger(at: at + 9, as: UInt16.self)!)
        guard length <= RelayMessageLimits.maxData else {
            destroyP(p, reason: .protocolViolation, why: "relay_length")
            return
        }
        let data = b.getBytes(at: at + 11, length: length)!
        if case .extending = p.next {
            // Nothing may come before EXTENDED2.
            destroyP(p, reason: .protocolViolation, why: "cell_while_extending")
            return
        }
        switch command {
        case RelayCommand.extend2.rawValue:
            guard early else {
                destroyP(p, reason: .protocolViolation, why: "extend2_not_relay_early")
                return
            }
            extend(p, data)
        case RelayCommand.extend.rawValue:
            destroyP(p, reason: .protocolViolation, why: "legacy_extend")
        case RelayCommand.drop.rawValue:
            return
        case RelayCommand.truncate.rawValue:
            if case let .extended(next) = p.next {
                p.next = .extending  // the edge comes back with nextGone, after TRUNCATED
                send(.truncate(circuitID: next.circuitID), to: next.mux)
            } else {
                originateBackward(p, command: RelayCommand.truncated.rawValue, streamID: 0, data: [DestroyReason.requested.rawValue])
            }
        case RelayCommand.begin.rawValue:
            handleBegin(p, streamID: streamID, data: data)
        case RelayCommand.resolve.rawValue:
            // Name lookups without a stream are not offered yet: refuse as a reject-all exit does.
            originateBackward(p, command: RelayCommand.end.rawValue, streamID: streamID, data: [EndReason.exitPolicy.rawValue])
        case RelayCommand.beginDir.rawValue:
            handleBeginDir(p, streamID: streamID)
        case RelayCommand.data.rawValue:
            handleData(p, streamID: streamID, data: data)
        case RelayCommand.end.rawValue:
            handleEnd(p, streamID: streamID)
        case RelayCommand.sendme.rawValue:
            handleSendme(p, streamID: streamID, data: data)
        default:
            return  // unknown relay commands are dropped, as CTor does
        }
    }

    /// Sends a relay message from us toward the client, with whichever loop owns the backward crypto.
    func originateBackward(_ p: PCircuit, command: UInt8, streamID: UInt16, data: [UInt8]) {
        switch p.next {
        case .edge:
            guard let ref else { return }
            let cell = originate(crypto: p.crypto, circuitID: p.circuitID, command: command, streamID: streamID, data: data)
            send(.output(cell), to: ref)
        case let .extended(next):
            send(.originateBackward(circuitID: next.circuitID, command: command, streamID: streamID, data: data), to: next.mux)
        case .extending:
            break
        }
    }

    // MARK: EXTEND2

    func extend(_ p: PCircuit, _ data: [UInt8]) {
        guard case .edge = p.next else {
            destroyP(p, reason: .protocolViolation, why: "extend_twice")
            return
        }
        let request: Extend2Request
        do { request = try Extend2Request(parsingBody: data) } catch {
            destroyP(p, reason: .protocolViolation, why: "extend2_malformed")
            return
        }
        if let previous = linkPeer?.peer?.rsaFingerprint, previous == request.rsaIdentity {
            destroyP(p, reason: .protocolViolation, why: "extend_to_previous_hop")
            return
        }
        guard request.rsaIdentity != relay.ourIdentity else {
            destroyP(p, reason: .protocolViolation, why: "extend_to_self")
            return
        }
        guard let ref, let loop = eventLoop else { return }
        p.next = .extending
        let create = request.create2Cell(circuitID: 0)
        let previous = CircuitPeer(mux: ref, circuitID: p.circuitID)
        let handoff = Handoff(value: p.crypto)
        let circuitID = p.circuitID
        if let existing = relay.registry.link(to: request.rsaIdentity), let mux = existing.mux,
           request.ed25519Identity == nil || existing.established.peer?.ed25519.bytes == request.ed25519Identity {
            send(.beginExtension(create: create, crypto: handoff, previous: previous), to: mux)
            return
        }
        guard let connector = relay.connector.withLockedValue({ $0 }) else {
            destroyP(p, reason: .internal, why: "no_connector")
            return
        }
        let expected = InitiatorHandshake.ExpectedPeer(rsaFingerprint: request.rsaIdentity,
                                                      ed25519: request.ed25519Identity.flatMap { try? Ed25519PublicKey(bytes: $0) })
        let bound = NIOLoopBound(self, eventLoop: loop)
        let target = request.preferredORPort
        connector.connect(host: target.host, port: Int(target.port), expected: expected, authenticate: true)
            .flatMap { channel, _ in
                channel.eventLoop.submit { () -> LinkMuxRef? in
                    try? channel.pipeline.syncOperations.handler(type: LinkMux.self).ref
                }
            }
            .hop(to: loop)
            .whenComplete { result in
                let mux = bound.value
                guard case let .p(current)? = mux.circuitTable[circuitID], current === p, case .extending = p.next else { return }
                switch result {
                case let .success(next?):
                    mux.send(.beginExtension(create: create, crypto: handoff, previous: previous), to: next)
                    mux.flushOutbox()
                case .success(nil), .failure:
                    mux.relay.stats.update { $0.extendsFailed += 1 }
                    mux.destroyP(p, reason: .connectFailed, why: "extend_connect_failed")
                }
            }
    }

    /// On the next hop's link: allocate a circuit ID, remember the circuit, send CREATE2.
    func beginExtension(create: Cell, crypto: HopCrypto, previous: CircuitPeer) {
        guard let ref, let id = allocateCircuitID() else {
            send(.extendFailed(circuitID: previous.circuitID, reason: .resourceLimit), to: previous.mux)
            return
        }
        let n = NCircuit(circuitID: id, crypto: crypto, previous: previous)
        n.sequence = nextSequence()
        circuitTable[id] = .n(n)
        var cell = create
        cell.circuitID = id
        enqueue(cell, circuit: id, priority: true)
        send(.attached(circuitID: previous.circuitID, next: CircuitPeer(mux: ref, circuitID: id)), to: previous.mux)
        pump()
    }
}
