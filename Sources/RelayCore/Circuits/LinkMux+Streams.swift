import Foundation
import NIOCore
import NIOPosix
import TorProtocol

/// Exit streams and end-to-end flow control on circuits whose edge we are.
extension LinkMux {
    static let circuitWindow = 1000, circuitIncrement = 100
    static let streamWindow = 500, streamIncrement = 50
    static let maxDataPerCell = 498
    /// DNS answers in CONNECTED are clipped to this TTL (CTor 0.4.9's cache-oracle mitigation).
    static let maxTTL: UInt32 = 60

    // MARK: BEGIN

    func handleBegin(_ p: PCircuit, streamID: UInt16, data: [UInt8]) {
        guard streamID != 0 else {
            destroyP(p, reason: .protocolViolation, why: "begin_stream_zero")
            return
        }
        guard p.streams[streamID] == nil else { return }
        guard relay.exitPolicy.isExit else {
            return refuseStream(p, streamID, .exitPolicy, "not_an_exit")
        }
        guard case .edge = p.next else {
            return refuseStream(p, streamID, .misc, "begin_not_at_edge")
        }
        // Clients must not use a relay as a one-hop proxy (CTor refuses too).
        guard let previous = linkPeer?.peer else {
            return refuseStream(p, streamID, .torProtocol, "begin_on_first_hop")
        }
        // Nor may relays the network doesn't know (CTor's RefuseUnknownExits): only judged
        // once we hold a consensus.
        if relay.directory?.isKnownRelay(previous.rsaFingerprint.bytes) == false {
            return refuseStream(p, streamID, .misc, "begin_from_unknown_relay")
        }
        let begin: BeginMessage
        do { begin = try BeginMessage(parsingBody: data) } catch {
            destroyP(p, reason: .protocolViolation, why: "begin_malformed")
            return
        }
        let stream = ExitStream(streamID: streamID)
        p.streams[streamID] = stream
        let host = begin.unbracketedHost, port = Int(begin.port)
        if let literal = Self.ipLiteral(host) {
            connectExit(p, stream, address: literal, port: port)
            return
        }
        guard let loop = eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let circuitID = p.circuitID
        relay.resolver.runIfActive(eventLoop: loop) { () -> [UInt8]? in Self.resolve(host) }
            .whenComplete { result in
                let mux = bound.value
                guard case let .p(current)? = mux.circuitTable[circuitID], current.streams[streamID] === stream else { return }
                if case let .success(address?) = result {
                    mux.connectExit(current, stream, address: address, port: port)
                } else {
                    mux.refuseStream(current, streamID, .resolveFailed, "resolve_failed")
                }
                mux.pump()
            }
    }

    func connectExit(_ p: PCircuit, _ stream: ExitStream, address: [UInt8], port: Int) {
        guard relay.exitPolicy.allows(address: address, port: port) else {
            return refuseStream(p, stream.streamID, .exitPolicy, "exit_policy")
        }
        guard let loop = eventLoop, let ref else { return }
        stream.state = .connecting
        let socketAddress: SocketAddress
        do {
            socketAddress = address.count == 4
                ? try SocketAddress(ipAddress: address.map(String.init).joined(separator: "."), port: port)
                : try SocketAddress(packedIPAddress: ByteBuffer(bytes: address), port: port)
        } catch {
            return refuseStream(p, stream.streamID, .internal, "bad_address")
        }
        let circuitID = p.circuitID, streamID = stream.streamID
        let bound = NIOLoopBound(self, eventLoop: loop)
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ExitConnectionHandler(mux: ref, circuitID: circuitID, streamID: streamID))
                }
            }
            .connect(to: socketAddress)
            .whenComplete { result in
                let mux = bound.value
                guard case let .p(current)? = mux.circuitTable[circuitID], current.streams[streamID] === stream else {
                    if case let .success(ch) = result { ch.close(promise: nil) }
                    return
                }
                switch result {
                case let .success(ch):
                    stream.state = .open(ch)
                    mux.relay.stats.update { $0.streamsOpened += 1 }
                    let ip: RelayIPAddress = address.count == 4 ? .ipv4(address) : .ipv6(address)
                    let connected = (try? ConnectedMessage(address: ip, ttl: Self.maxTTL).encodedBody()) ?? []
                    mux.originateBackward(current, command: RelayCommand.connected.rawValue, streamID: streamID, data: connected)
                    for chunk in stream.pendingToServer { mux.writeToServer(current, stream, chunk) }
                    stream.pendingToServer.removeAll()
                case let .failure(error):
                    let reason: EndReason = (error as? ChannelError).map { if case .connectTimeout = $0 { .timeout } else { .connectRefused } } ?? .connectRefused
                    mux.refuseStream(current, streamID, reason, "connect_failed")
                }
                mux.pump()
            }
    }

    func refuseStream(_ p: PCircuit, _ streamID: UInt16, _ reason: EndReason, _ why: String) {
        relay.stats.update { $0.streamsRefused[why, default: 0] += 1 }
        closeStream(p, streamID, sendEnd: reason)
    }

    func closeStream(_ p: PCircuit, _ streamID: UInt16, sendEnd reason: EndReason?) {
        if let s = p.streams.removeValue(forKey: streamID) {
            s.state = .closed
            s.pendingToServer.removeAll()
        }
        if let reason {
            originateBackward(p, command: RelayCommand.end.rawValue, streamID: streamID, data: [reason.rawValue])
        }
    }

    // MARK: RESOLVE

    /// A name lookup for the client (RESOLVE → RESOLVED), on the resolver pool; answers are
    /// clipped to a 60 s TTL as for CONNECTED. Only exits resolve, and not on a first hop.
    func handleResolve(_ p: PCircuit, streamID: UInt16, data: [UInt8]) {
        guard streamID != 0 else {
            destroyP(p, reason: .protocolViolation, why: "resolve_stream_zero")
            return
        }
        guard relay.exitPolicy.isExit, case .edge = p.next else {
            return refuseStream(p, streamID, .exitPolicy, "resolve_not_an_exit")
        }
        guard linkPeer?.peer != nil else {
            return refuseStream(p, streamID, .torProtocol, "resolve_on_first_hop")
        }
        let request: ResolveMessage
        do { request = try ResolveMessage(parsingBody: ByteBuffer(bytes: data)) } catch {
            destroyP(p, reason: .protocolViolation, why: "resolve_malformed")
            return
        }
        guard let loop = eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let circuitID = p.circuitID
        let name = request.hostname
        relay.resolver.runIfActive(eventLoop: loop) { () -> [ResolvedMessage.Answer] in Self.resolveAll(name) }
            .whenComplete { result in
                let mux = bound.value
                guard case let .p(current)? = mux.circuitTable[circuitID] else { return }
                var answers = (try? result.get()) ?? []
                if answers.isEmpty { answers = [.init(.permanentError, ttl: 0)] }
                let body = (try? ResolvedMessage(answers: answers).encodedBody()) ?? []
                mux.relay.stats.update { $0.resolves += 1 }
                mux.originateBackward(current, command: RelayCommand.resolved.rawValue, streamID: streamID, data: body)
                mux.pump()
            }
    }

    /// Every address for `name` (IPv4 first), or the name of a reverse-lookup address
    /// (`d.c.b.a.in-addr.arpa`).
    static func resolveAll(_ name: String) -> [ResolvedMessage.Answer] {
        if name.lowercased().hasSuffix(".in-addr.arpa") {
            let octets = name.dropLast(".in-addr.arpa".count).split(separator: ".").reversed().joined(separator: ".")
            guard let bytes = IPv4Address.bytes(octets) else { return [] }
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            withUnsafeMutableBytes(of: &sa.sin_addr) { $0.copyBytes(from: bytes) }
            var host = [CChar](repeating: 0, count: 1025)
            let rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getnameinfo($0, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NAMEREQD)
                }
            }
            guard rc == 0 else { return [] }
            let text = Array(String(cString: host).utf8.prefix(255))
            return text.isEmpty ? [] : [.init(.hostname(text), ttl: maxTTL)]
        }
        if let literal = ipLiteral(name) {
            return [.init(.address(literal.count == 4 ? .ipv4(literal) : .ipv6(literal)), ttl: maxTTL)]
        }
        return addresses(of: name).map { .init(.address($0.count == 4 ? .ipv4($0) : .ipv6($0)), ttl: maxTTL) }
    }

    // MARK: BEGIN_DIR

    /// A tunnelled directory request: CONNECTED at once, then the HTTP request arrives in
    /// DATA cells and the answer goes back like exit data, under the same windows.
    func handleBeginDir(_ p: PCircuit, streamID: UInt16) {
        guard streamID != 0 else {
            destroyP(p, reason: .protocolViolation, why: "begin_dir_stream_zero")
            return
        }
        guard p.streams[streamID] == nil else { return }
        guard relay.directory != nil else {
            return refuseStream(p, streamID, .notDirectory, "not_a_directory")
        }
        guard case .edge = p.next else {
            return refuseStream(p, streamID, .misc, "begin_dir_not_at_edge")
        }
        let stream = ExitStream(streamID: streamID)
        stream.state = .directory(DirectoryRequestReader())
        p.streams[streamID] = stream
        relay.stats.update { $0.directoryStreams += 1 }
        originateBackward(p, command: RelayCommand.connected.rawValue, streamID: streamID, data: [])
    }

    func directoryData(_ p: PCircuit, _ stream: ExitStream, _ reader: DirectoryRequestReader, _ data: [UInt8]) {
        guard let cache = relay.directory else { return }
        switch reader.feed(data) {
        case .needMore:
            return
        case let .invalid(why):
            refuseStream(p, stream.streamID, .torProtocol, "dir_\(why)")
        case let .request(request):
            let now = Date()
            let response = request.method == .GET
                ? cache.respond(path: request.uri, ifModifiedSince: request.ifModifiedSince, now: now)
                : DirectoryCache.Response(status: 405, reason: "Method not allowed", body: [])
            let bytes = reader.encode(response, now: now)
            cache.noteTransfer(read: reader.bytesReceived, written: bytes.count)
            stream.state = .closed
            stream.pendingToClient.writeBytes(bytes)
            stream.serverClosed = .done
            packageToClient(p, stream)
        }
    }

    // MARK: client → server

    func handleData(_ p: PCircuit, streamID: UInt16, data: [UInt8]) {
        p.deliverWindow -= 1
        guard p.deliverWindow >= 0 else {
            destroyP(p, reason: .protocolViolation, why: "data_beyond_circuit_window")
            return
        }
        if p.deliverWindow <= Self.circuitWindow - Self.circuitIncrement {
            // Authenticated SENDME v1: the tag is our digest right after the cell that made it due.
            p.deliverWindow += Self.circuitIncrement
            let tag = p.crypto.lastForwardDigest
            originateBackward(p, command: RelayCommand.sendme.rawValue, streamID: 0,
                              data: (try? SendmeMessage(tag: tag).encodedBody()) ?? [])
        }
        guard let stream = p.streams[streamID] else { return }  // unknown or closed stream: dropped
        stream.deliverWindow -= 1
        guard stream.deliverWindow >= 0 else {
            destroyP(p, reason: .protocolViolation, why: "data_beyond_stream_window")
            return
        }
        let chunk = ByteBuffer(bytes: data)
        switch stream.state {
        case .resolving, .connecting:
            stream.pendingToServer.append(chunk)
        case .open:
            writeToServer(p, stream, chunk)
        case let .directory(reader):
            directoryData(p, stream, reader, data)
        case .closed:
            break
        }
    }

    /// Writes to the server; the stream SENDME goes out once the bytes left us, so a slow
    /// server holds the client back instead of filling our memory.
    func writeToServer(_ p: PCircuit, _ stream: ExitStream, _ chunk: ByteBuffer) {
        guard let ch = stream.channel, let loop = eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let circuitID = p.circuitID
        ch.writeAndFlush(chunk).whenSuccess {
            let mux = bound.value
            guard case let .p(current)? = mux.circuitTable[circuitID], current.streams[stream.streamID] === stream else { return }
            if stream.deliverWindow <= Self.streamWindow - Self.streamIncrement {
                stream.deliverWindow += Self.streamIncrement
                mux.originateBackward(current, command: RelayCommand.sendme.rawValue, streamID: stream.streamID, data: [])
                mux.pump()
            }
        }
    }

    func handleEnd(_ p: PCircuit, streamID: UInt16) {
        guard let stream = p.streams.removeValue(forKey: streamID) else { return }
        let connection = stream.channel
        stream.state = .closed
        guard let ch = connection else { return }
        // As C tor: what the client sent is delivered, then the connection is closed, not half
        // closed (a server still sending to a stream nobody reads would hold it open for ever);
        // a server that does not take the rest within 15 s is cut off.
        let cutOff = ch.eventLoop.scheduleTask(in: .seconds(15)) { ch.close(promise: nil) }
        ch.writeAndFlush(ch.allocator.buffer(capacity: 0)).whenComplete { _ in
            cutOff.cancel()
            ch.close(promise: nil)
        }
    }

    func handleSendme(_ p: PCircuit, streamID: UInt16, data: [UInt8]) {
        if streamID == 0 {
            guard let expected = p.expectedSendmeTags.popFirst() else {
                destroyP(p, reason: .protocolViolation, why: "unexpected_sendme")
                return
            }
            guard case let .v1(tag)? = try? SendmeMessage(parsingBody: data), tag == expected else {
                destroyP(p, reason: .protocolViolation, why: "sendme_bad_digest")
                return
            }
            p.packageWindow += Self.circuitIncrement
            for s in p.streams.values { resumeReading(p, s) }
        } else {
            guard let stream = p.streams[streamID] else { return }
            guard stream.packageWindow + Self.streamIncrement <= Self.streamWindow else {
                destroyP(p, reason: .protocolViolation, why: "stream_sendme_overflow")
                return
            }
            stream.packageWindow += Self.streamIncrement
            resumeReading(p, stream)
        }
    }

    // MARK: server → client

    func exitReceived(_ buffer: ByteBuffer, circuitID: UInt32, streamID: UInt16) {
        guard case let .p(p)? = circuitTable[circuitID], let stream = p.streams[streamID] else { return }
        var buffer = buffer
        stream.pendingToClient.writeBuffer(&buffer)
        packageToClient(p, stream)
    }

    /// Sends as much server data as both windows allow; pauses reading the server when either closes.
    func packageToClient(_ p: PCircuit, _ stream: ExitStream) {
        while stream.pendingToClient.readableBytes > 0 && p.packageWindow > 0 && stream.packageWindow > 0 {
            let n = min(Self.maxDataPerCell, stream.pendingToClient.readableBytes)
            let bytes = stream.pendingToClient.readBytes(length: n)!
            guard case .edge = p.next else { return }
            let cell = originate(crypto: p.crypto, circuitID: p.circuitID, command: RelayCommand.data.rawValue,
                                 streamID: stream.streamID, data: bytes)
            p.packageWindow -= 1
            stream.packageWindow -= 1
            if p.packageWindow % Self.circuitIncrement == 0 {
                p.expectedSendmeTags.append(p.crypto.lastBackwardDigest)
            }
            enqueue(cell, circuit: p.circuitID, priority: false)
            // Queue accounting may have shed this circuit: stop if it is gone.
            guard case let .p(current)? = circuitTable[p.circuitID], current === p, p.streams[stream.streamID] === stream else { return }
        }
        stream.pendingToClient.discardReadBytes()
        if let reason = stream.serverClosed, stream.pendingToClient.readableBytes == 0 {
            closeStream(p, stream.streamID, sendEnd: reason)
            return
        }
        let blocked = p.packageWindow <= 0 || stream.packageWindow <= 0
        if blocked && !stream.readsPaused, let ch = stream.channel {
            stream.readsPaused = true
            ch.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
    }

    func resumeReading(_ p: PCircuit, _ stream: ExitStream) {
        packageToClient(p, stream)
        if stream.readsPaused, p.packageWindow > 0, stream.packageWindow > 0, let ch = stream.channel {
            stream.readsPaused = false
            ch.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            ch.read()
        }
        pump()
    }

    func exitClosed(circuitID: UInt32, streamID: UInt16, reason: EndReason) {
        guard case let .p(p)? = circuitTable[circuitID], let stream = p.streams[streamID], stream.serverClosed == nil else { return }
        // What is buffered goes first (it waits for windows like any data), then END.
        stream.serverClosed = reason
        packageToClient(p, stream)
        pump()
    }

    /// Closes every exit connection of a circuit that is going away.
    func closeAllStreams(_ p: PCircuit) {
        // Forget the streams before closing their connections: a close can report the
        // connection gone at once (same loop), and a stream still listed would then send the
        // client an END ahead of the circuit's DESTROY.
        let streams = Array(p.streams.values)
        p.streams.removeAll()
        for s in streams {
            let connection = s.channel  // read before the state changes: `.closed` has none
            s.state = .closed
            connection?.close(promise: nil)
        }
    }

    // MARK: addresses

    static func ipLiteral(_ host: String) -> [UInt8]? {
        if let v4 = IPv4Address.bytes(host) { return v4 }
        var a6 = in6_addr()
        if inet_pton(AF_INET6, host, &a6) == 1 { return withUnsafeBytes(of: &a6) { Array($0) } }
        return nil
    }

    /// getaddrinfo, on the resolver pool. The first IPv4 answer, else the first IPv6 one.
    static func resolve(_ host: String) -> [UInt8]? {
        addresses(of: host).first
    }

    /// Every address getaddrinfo gives for `name` (at most 16), IPv4 ones first, without repeats.
    static func addresses(of name: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &res) == 0, let first = res else { return [] }
        defer { freeaddrinfo(first) }
        var v4 = [[UInt8]](), v6 = [[UInt8]]()
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p, v4.count + v6.count < 16 {
            if ai.pointee.ai_family == AF_INET, let sa = ai.pointee.ai_addr {
                let b = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) } }
                if !v4.contains(b) { v4.append(b) }
            } else if ai.pointee.ai_family == AF_INET6, let sa = ai.pointee.ai_addr {
                let b = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) } }
                if !v6.contains(b) { v6.append(b) }
            }
            p = ai.pointee.ai_next
        }
        return v4 + v6
    }
}
