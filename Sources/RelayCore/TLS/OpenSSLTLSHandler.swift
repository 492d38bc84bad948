import COpenSSL
import NIOCore

/// TLS for one link, OpenSSL over memory BIOs: ciphertext from the channel goes into `rbio`,
/// OpenSSL's output comes out of `wbio` and is written to the channel after every operation.
///
/// - Handshake: starts when the channel becomes active (or in `handlerAdded` if it already is:
///   add the handlers after this one first); application writes issued before it
///   finishes are buffered and sent after it. On success fires `TLSHandshakeCompleted`.
/// - Reads: decrypted bytes are passed on in chunks of up to 16 KiB (`SSL_read_ex` straight into
///   a reused `ByteBuffer`), several records per chunk when they are available.
/// - Writes: queued until `flush()`, then gathered into TLS records of up to 16 KiB of
///   plaintext and one channel write (and flush) for all the resulting ciphertext.
/// - Close: `close(.all)` sends close_notify and closes when the peer answers with its own, ends
///   TCP, or `shutdownTimeout` passes (input meanwhile is discarded); `close(.output)` sends
///   close_notify and half-closes TCP. A peer's close_notify closes the link after ours is
///   written, or, with `allowRemoteHalfClosure`, fires `ChannelEvent.inputClosed`. A peer that
///   ends TCP without close_notify gets `TLSError.uncleanShutdown`.
/// - Any TLS failure fires a `TLSError` and closes the channel.
public final class OpenSSLTLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        /// The channel is not active yet.
        case idle
        case handshaking
        case active
        /// The peer sent close_notify and half-closure is allowed: we may still write.
        case inputClosed
        /// We sent close_notify (`close(mode: .output)`): we may still read.
        case outputClosed
        /// `close(mode: .all)` sent our close_notify; input is discarded until the peer's
        /// close_notify, its EOF, or the shutdown timeout.
        case closeNotifySent
        /// Closing the channel; nothing more is read or written.
        case closing
        case closed
    }

    static let readChunkSize = 16 * 1024

    private let tlsContext: TLSContext
    private let ssl: OpaquePointer  // SSL; owns rbio and wbio
    private var rbio: OpaquePointer
    private var wbio: OpaquePointer
    private var state: State = .idle
    private var eventLoop: (any EventLoop)?

    /// Plaintext written but not yet encrypted; the mark is the last flushed element.
    private var bufferedWrites = MarkedCircularBuffer<(data: ByteBuffer, promise: EventLoopPromise<Void>?)>(initialCapacity: 8)
    /// Completed when the ciphertext of everything encrypted so far has been written.
    private var ciphertextPromise: EventLoopPromise<Void>?
    private var readBuffer: ByteBuffer?
    private var firedReadInBatch = false
    private var downstreamWantsRead = false
    private var closePromise: EventLoopPromise<Void>?
    private var shutdownTimer: Scheduled<Void>?

    public init(context tlsContext: TLSContext) throws {
        guard let ssl = SSL_new(tlsContext.ctx) else { throw TLSError.openssl(.configuration, "SSL_new") }
        guard let rbio = BIO_new(BIO_s_mem()), let wbio = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.openssl(.configuration, "BIO_new")
        }
        // An empty rbio must read as "retry later", not EOF.
        _ = shim_BIO_set_mem_eof_return(rbio, -1)
        SSL_set_bio(ssl, rbio, wbio)
        self.tlsContext = tlsContext
        self.ssl = ssl
        self.rbio = rbio
        self.wbio = wbio
        switch tlsContext.configuration.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client(let serverName):
            SSL_set_connect_state(ssl)
            if let serverName, shim_SSL_set_tlsext_host_name(ssl, serverName) != 1 {
                throw TLSError.openssl(.configuration, "setting SNI")
            }
        }
    }

    deinit { SSL_free(ssl) }

    /// The RFC 5705 / RFC 8446 §7.5 keying-material exporter (with a context value), e.g. Tor's
    /// AUTH0003 `TLSSECRETS` with label "EXPORTER FOR TOR TLS CLIENT BINDING AUTH0003".
    /// Call on the channel's event loop after `TLSHandshakeCompleted`.
    public func exportKeyingMaterial(label: String, context: [UInt8], length: Int) throws -> [UInt8] {
        eventLoop?.preconditionInEventLoop()
        guard SSL_is_init_finished(ssl) == 1 else {
            throw TLSError(.handshakeNotComplete, "keying-material exporter called before the TLS handshake finished")
        }
        guard length > 0 else { throw TLSError(.exporterFailed, "exporter length must be positive, got \(length)") }
        var out = [UInt8](repeating: 0, count: length)
        ERR_clear_error()
        let rc = out.withUnsafeMutableBufferPointer { o in
            context.withUnsafeBufferPointer { c in
                SSL_export_keying_material(ssl, o.baseAddress, o.count, label, label.utf8.count, c.baseAddress, c.count, 1)
            }
        }
        guard rc == 1 else { throw TLSError.openssl(.exporterFailed, "SSL_export_keying_material") }
        return out
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        eventLoop = context.eventLoop
        readBuffer = nil
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        shutdownTimer?.cancel()
        shutdownTimer = nil
        failPendingWrites(ChannelError.ioOnClosedChannel)
    }

    public func channelActive(context: ChannelHandlerContext) {
        // Fired first so that a handshake failure's channelInactive follows channelActive downstream.
        context.fireChannelActive()
        startHandshake(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let previous = state
        state = .closed
        shutdownTimer?.cancel()
        shutdownTimer = nil
        failPendingWrites(ChannelError.ioOnClosedChannel)
        closePromise?.succeed(())
        closePromise = nil
        switch previous {
        case .handshaking, .active, .outputClosed:
            context.fireErrorCaught(TLSError(.uncleanShutdown, "connection closed without TLS close_notify"))
        case .idle, .inputClosed, .closeNotifySent, .closing, .closed:
            break
        }
        context.fireChannelInactive()
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        switch state {
        case .idle, .handshaking, .active, .outputClosed, .closeNotifySent:
            break
        case .inputClosed, .closing, .closed:
            return  // nothing more is read after the peer's close_notify or once closing
        }
        let written = bytes.withUnsafeReadableBytes { BIO_write(rbio, $0.baseAddress, Int32($0.count)) }
        guard written == bytes.readableBytes || bytes.readableBytes == 0 else {
            fail(context: context, TLSError.openssl(.protocolFailure, "buffering received ciphertext"))
            return
        }
        switch state {
        case .handshaking: doHandshakeStep(context: context)
        case .active, .outputClosed, .closeNotifySent: readPlaintext(context: context)
        case .idle, .inputClosed, .closing, .closed: break
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if firedReadInBatch {
            firedReadInBatch = false
            context.fireChannelReadComplete()
        } else if downstreamWantsRead {
            // All we got was TLS overhead: ask for more so a reader without autoRead is not stalled.
            context.read()
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // TCP input ended (only delivered with allowRemoteHalfClosure).
        switch state {
        case .idle:
            context.fireUserInboundEventTriggered(event)
        case .handshaking, .active, .outputClosed:
            fail(context: context, TLSError(.uncleanShutdown, "peer ended TCP without TLS close_notify"))
        case .closeNotifySent:
            closeChannel(context: context)  // the peer is gone; our side was closing anyway
        case .inputClosed, .closing, .closed:
            break  // already reported with the close_notify, or closing anyway
        }
    }

    // MARK: - Outbound

    public func read(context: ChannelHandlerContext) {
        downstreamWantsRead = true
        context.read()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch state {
        case .idle, .handshaking, .active, .inputClosed:
            bufferedWrites.append((unwrapOutboundIn(data), promise))
        case .outputClosed:
            promise?.fail(ChannelError.outputClosed)
        case .closeNotifySent, .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        bufferedWrites.mark()
        switch state {
        case .active, .inputClosed:
            encryptFlushedWrites(context: context)
        case .idle, .handshaking, .outputClosed, .closeNotifySent, .closing, .closed:
            break  // before the handshake: sent once it finishes
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (mode, state) {
        case (.input, _):
            context.close(mode: .input, promise: promise)
        case (_, .closed):
            promise?.fail(ChannelError.alreadyClosed)
        case (_, .closeNotifySent), (_, .closing):
            if let closePromise {
                if let promise { closePromise.futureResult.cascade(to: promise) }
            } else {
                context.close(mode: .all, promise: promise)
            }
        case (.output, .active):
            failPendingWrites(ChannelError.outputClosed)  // unflushed: flushed ones are encrypted already
            state = .outputClosed
            sendCloseNotify(context: context) {
                if case .outputClosed = self.state {
                    context.close(mode: .output, promise: promise)
                } else {
                    promise?.succeed(())  // the whole channel closed meanwhile (peer's close_notify)
                }
            }
        case (.output, .outputClosed):
            promise?.fail(ChannelError.outputClosed)
        case (.all, .active):
            failPendingWrites(ChannelError.ioOnClosedChannel)
            state = .closeNotifySent
            closePromise = promise
            sendCloseNotify(context: context, then: nil)
        case (.all, .inputClosed), (.output, .inputClosed):
            // The peer already sent its close_notify: answer it and close once ours is out.
            failPendingWrites(ChannelError.ioOnClosedChannel)
            state = .closing
            closePromise = promise
            sendCloseNotify(context: context) { self.closeChannel(context: context) }
        case (.all, .outputClosed):
            state = .closing
            closePromise = promise
            closeChannel(context: context)
        case (_, .idle), (_, .handshaking):
            state = .closing
            failPendingWrites(ChannelError.ioOnClosedChannel)
            closePromise = promise
            closeChannel(context: context)
        }
    }

    // MARK: - Handshake

    private func startHandshake(context: ChannelHandlerContext) {
        guard case .idle = state else { return }
        state = .handshaking
        doHandshakeStep(context: context)
    }

    private func doHandshakeStep(context: ChannelHandlerContext) {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        guard rc == 1 else {
            switch SSL_get_error(ssl, rc) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                writeCiphertext(context: context)
                context.read()  // a handshake must progress even without autoRead
            default:
                fail(context: context, TLSError.openssl(.handshakeFailed, "TLS handshake"))
            }
            return
        }
        state = .active
        writeCiphertext(context: context)  // our last flight, if any
        releaseHandshakeBuffers()
        context.fireUserInboundEventTriggered(handshakeCompleted())
        guard case .active = state else { return }  // closed from the event
        if bufferedWrites.hasMark { encryptFlushedWrites(context: context) }
        // Application data may have arrived together with the peer's last flight.
        if case .active = state { readPlaintext(context: context) }
    }

    /// Memory BIOs keep the capacity they grew to; the handshake (certificate chains) grows them
    /// most. Once both are drained, fresh ones replace them, so an idle link does not hold
    /// handshake-sized buffers (SSL_set0_* frees the old BIOs).
    private func releaseHandshakeBuffers() {
        guard BIO_ctrl_pending(rbio) == 0, BIO_ctrl_pending(wbio) == 0,
              let r = BIO_new(BIO_s_mem()), let w = BIO_new(BIO_s_mem()) else { return }
        _ = shim_BIO_set_mem_eof_return(r, -1)
        SSL_set0_rbio(ssl, r)
        SSL_set0_wbio(ssl, w)
        rbio = r
        wbio = w
    }

    private func handshakeCompleted() -> TLSHandshakeCompleted {
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "unknown"
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "unknown"
        var peerDER: [UInt8]?
        if let peer = SSL_get1_peer_certificate(ssl) {
            peerDER = Self.der(of: peer)
            X509_free(peer)
        }
        let localDER = SSL_get_certificate(ssl).flatMap { Self.der(of: $0) }
        return TLSHandshakeCompleted(protocolVersion: version, cipherSuite: cipher,
                                     peerCertificateDER: peerDER, localCertificateDER: localDER)
    }

    private static func der(of x509: OpaquePointer) -> [UInt8]? {
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_X509(x509, &out)
        guard n > 0, let out else {
            ERR_clear_error()
            return nil
        }
        defer { shim_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    // MARK: - Application data

    /// Decrypts everything `rbio` holds, passing plaintext on in chunks of up to 16 KiB.
    private func readPlaintext(context: ChannelHandlerContext) {
        // Sized to the ciphertext waiting (plaintext is never larger) and not kept afterwards:
        // an idle link holds no read buffer (a kept 16 KiB buffer per link dominated idle memory).
        let waiting = Int(BIO_ctrl_pending(rbio)) + Int(SSL_pending(ssl))
        var buffer = context.channel.allocator.buffer(capacity: min(Self.readChunkSize, max(512, waiting)))
        readBuffer = nil
        defer {
            if buffer.readableBytes > 0, !isClosing { firePlaintext(context: context, &buffer) }
        }
        while true {
            switch state {
            case .active, .outputClosed: break
            case .closeNotifySent: buffer.clear()  // closing: input is only read to find close_notify
            case .idle, .handshaking, .inputClosed, .closing, .closed: return
            }
            if buffer.writableBytes == 0 { firePlaintext(context: context, &buffer) }
            ERR_clear_error()
            var rc: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { space in
                var n = 0
                rc = SSL_read_ex(ssl, space.baseAddress, space.count, &n)
                return rc == 1 ? n : 0
            }
            if rc == 1 { continue }
            switch SSL_get_error(ssl, rc) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                writeCiphertext(context: context)  // e.g. a KeyUpdate answer
                return
            case SSL_ERROR_ZERO_RETURN:
                if buffer.readableBytes > 0, !isClosing { firePlaintext(context: context, &buffer) }
                peerSentCloseNotify(context: context)
                return
            default:
                let error = TLSError.openssl(.protocolFailure, "TLS read")
                if case .closeNotifySent = state {
                    closeChannel(context: context)  // we were closing anyway; nothing to report
                    return
                }
                if buffer.readableBytes > 0 { firePlaintext(context: context, &buffer) }
                fail(context: context, error)
                return
            }
        }
    }

    private func firePlaintext(context: ChannelHandlerContext, _ buffer: inout ByteBuffer) {
        firedReadInBatch = true
        downstreamWantsRead = false
        context.fireChannelRead(wrapInboundOut(buffer))
        // Reuses the storage if the reader let go of it; otherwise allocates fresh storage now,
        // so the reader's copy is never shared with us (no copy-on-write on its side).
        buffer.clear()
    }

    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        switch state {
        case .active:
            let halfClosureAllowed = (try? context.channel.syncOptions?.getOption(ChannelOptions.allowRemoteHalfClosure)) ?? false
            if halfClosureAllowed {
                state = .inputClosed
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            } else {
                // Answer with our own close_notify, then close.
                failPendingWrites(ChannelError.ioOnClosedChannel)
                state = .closing
                sendCloseNotify(context: context) { self.closeChannel(context: context) }
            }
        case .outputClosed, .closeNotifySent:
            // Both directions are now closed cleanly.
            closeChannel(context: context)
        case .idle, .handshaking, .inputClosed, .closing, .closed:
            break
        }
    }

    /// Plaintext is staged so that TLS records are up to 16 KiB instead of one per cell: a
    /// record per 514-byte cell costs both ends a record's worth of AEAD setup and framing
    /// (measured: the C tor peer spent ~75% more CPU per byte with one record per cell).
    static let recordPlaintext = 16 * 1024

    private func encryptFlushedWrites(context: ChannelHandlerContext) {
        var stage: ByteBuffer?
        func sslWrite(_ data: ByteBuffer) -> Bool {
            ERR_clear_error()
            var written = 0
            let rc = data.withUnsafeReadableBytes { SSL_write_ex(ssl, $0.baseAddress, $0.count, &written) }
            return rc == 1 && written == data.readableBytes
        }
        func failWrite(_ promise: EventLoopPromise<Void>?) {
            let error = TLSError.openssl(.protocolFailure, "TLS write")
            promise?.fail(error)
            fail(context: context, error)
        }
        while bufferedWrites.hasMark {
            var (data, promise) = bufferedWrites.removeFirst()
            if data.readableBytes > 0 {
                if stage == nil && !bufferedWrites.hasMark {
                    // A lone buffer goes straight in (no copy).
                    guard sslWrite(data) else { return failWrite(promise) }
                } else {
                    if stage == nil { stage = context.channel.allocator.buffer(capacity: Self.recordPlaintext) }
                    stage!.writeBuffer(&data)
                    if stage!.readableBytes >= Self.recordPlaintext {
                        guard sslWrite(stage!) else { return failWrite(promise) }
                        stage!.clear()
                    }
                }
            }
            if let promise { chainCiphertextPromise(promise) }
        }
        if let stage, stage.readableBytes > 0 {
            guard sslWrite(stage) else { return failWrite(nil) }
        }
        writeCiphertext(context: context)
    }

    private func chainCiphertextPromise(_ promise: EventLoopPromise<Void>) {
        if let ciphertextPromise {
            ciphertextPromise.futureResult.cascade(to: promise)
        } else {
            ciphertextPromise = promise
        }
    }

    /// Moves everything in `wbio` to the channel as one write and flushes it.
    private func writeCiphertext(context: ChannelHandlerContext) {
        let promise = ciphertextPromise
        ciphertextPromise = nil
        let pending = Int(BIO_ctrl_pending(wbio))
        guard pending > 0 || promise != nil else { return }
        var out = context.channel.allocator.buffer(capacity: pending)
        while BIO_ctrl_pending(wbio) > 0 {
            let chunk = Int(min(BIO_ctrl_pending(wbio), Int(Int32.max)))
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) { space in
                Int(max(0, BIO_read(wbio, space.baseAddress, Int32(chunk))))
            }
        }
        context.write(wrapOutboundOut(out), promise: promise)
        context.flush()
    }

    // MARK: - Closing

    private var isClosing: Bool {
        switch state {
        case .closeNotifySent, .closing, .closed: return true
        case .idle, .handshaking, .active, .inputClosed, .outputClosed: return false
        }
    }

    /// Queues our close_notify and writes it. Then runs `then` once it is written (or failed to
    /// be); with no `then`, closes the channel when the shutdown timeout passes (unless the
    /// peer's close_notify or EOF closes it first).
    private func sendCloseNotify(context: ChannelHandlerContext, then: (() -> Void)?) {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)  // 0: sent, peer's not yet received; 1: both; <0: cannot send
        ERR_clear_error()
        var done = false
        let finish = {
            guard !done else { return }
            done = true
            self.shutdownTimer?.cancel()
            self.shutdownTimer = nil
            if let then { then() } else { self.closeChannel(context: context) }
        }
        shutdownTimer = context.eventLoop.assumeIsolated().scheduleTask(in: tlsContext.configuration.shutdownTimeout) { finish() }
        if then != nil {
            let written = context.eventLoop.makePromise(of: Void.self)
            chainCiphertextPromise(written)
            written.futureResult.assumeIsolated().whenComplete { _ in finish() }
        }
        writeCiphertext(context: context)
    }

    private func closeChannel(context: ChannelHandlerContext) {
        switch state {
        case .closed: return
        case .idle, .handshaking, .active, .inputClosed, .outputClosed, .closeNotifySent, .closing: break
        }
        state = .closing
        shutdownTimer?.cancel()
        shutdownTimer = nil
        let promise = closePromise
        closePromise = nil
        context.close(mode: .all, promise: promise)
    }

    /// A TLS failure: send OpenSSL's alert if it made one, report the error, close.
    private func fail(context: ChannelHandlerContext, _ error: TLSError) {
        guard !isClosing else { return }
        state = .closing
        writeCiphertext(context: context)
        failPendingWrites(error)
        context.fireErrorCaught(error)
        closeChannel(context: context)
    }

    private func failPendingWrites(_ error: any Error) {
        while let (_, promise) = bufferedWrites.popFirst() { promise?.fail(error) }
        ciphertextPromise?.fail(error)
        ciphertextPromise = nil
    }
}

@available(*, unavailable)
extension OpenSSLTLSHandler: Sendable {}
