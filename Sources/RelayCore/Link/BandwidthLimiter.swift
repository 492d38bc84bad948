import NIOConcurrencyHelpers
import NIOCore

/// `BandwidthRate` / `BandwidthBurst`: one token bucket for reading and one for writing,
/// shared by every link on every loop (CTor's global buckets). Refilled every 100 ms (CTor's
/// TokenBucketRefillInterval). Links take tokens per socket read or write, never per cell;
/// a link that finds a bucket empty stops reading (or holds its flush) until the next refill.
public final class BandwidthLimiter: Sendable {
    public static let refillInterval = TimeAmount.milliseconds(100)

    struct Bucket {
        var tokens: Int
        var waiters: [@Sendable () -> Void] = []
    }

    private let rates: NIOLockedValueBox<(rate: Int, burst: Int)>
    public var rate: Int { rates.withLockedValue { $0.rate } }
    public var burst: Int { rates.withLockedValue { $0.burst } }
    private let read: NIOLockedValueBox<Bucket>
    private let write: NIOLockedValueBox<Bucket>
    private let counters = NIOLockedValueBox((readStalls: 0, writeStalls: 0))

    public init(rate: Int, burst: Int) {
        let r = max(1, rate), b = max(r, burst)
        rates = NIOLockedValueBox((r, b))
        read = NIOLockedValueBox(Bucket(tokens: b))
        write = NIOLockedValueBox(Bucket(tokens: b))
    }

    /// New limits (a configuration reload): the next refills use them; tokens above the new
    /// burst are dropped.
    public func setLimits(rate: Int, burst: Int) {
        let r = max(1, rate), b = max(r, burst)
        rates.withLockedValue { $0 = (r, b) }
        for bucket in [read, write] { bucket.withLockedValue { $0.tokens = min($0.tokens, b) } }
    }

    /// Starts the refill timer on `loop`; cancel the returned task to stop it.
    public func start(on loop: any EventLoop) -> RepeatedTask {
        loop.scheduleRepeatedTask(initialDelay: Self.refillInterval, delay: Self.refillInterval) { [self] _ in self.refill() }
    }

    /// Adds a tick's worth of tokens and runs whoever was waiting for them.
    func refill() {
        let (rate, burst) = rates.withLockedValue { $0 }
        let perTick = max(1, rate / 10)
        for bucket in [read, write] {
            let wake: [@Sendable () -> Void] = bucket.withLockedValue { b in
                b.tokens = min(burst, b.tokens + perTick)
                guard b.tokens > 0 else { return [] }
                defer { b.waiters.removeAll() }
                return b.waiters
            }
            for w in wake { w() }
        }
    }

    /// Takes `bytes` (the bucket may go into debt: a read that already happened is paid for).
    func consume(read bytes: Int) { read.withLockedValue { $0.tokens -= bytes } }
    func consume(written bytes: Int) { write.withLockedValue { $0.tokens -= bytes } }

    /// True when the bucket has tokens (go ahead now); otherwise `later` runs after a refill
    /// that leaves some, and false is returned.
    func mayRead(orLater later: @escaping @Sendable () -> Void) -> Bool { check(read, later, stall: \.readStalls) }
    func mayWrite(orLater later: @escaping @Sendable () -> Void) -> Bool { check(write, later, stall: \.writeStalls) }

    private func check(_ bucket: NIOLockedValueBox<Bucket>, _ later: @escaping @Sendable () -> Void,
                       stall: WritableKeyPath<(readStalls: Int, writeStalls: Int), Int>) -> Bool {
        let now: Bool = bucket.withLockedValue { b in
            if b.tokens > 0 { return true }
            b.waiters.append(later)
            return false
        }
        if !now { counters.withLockedValue { $0[keyPath: stall] += 1 } }
        return now
    }

    /// Times a link had to wait for read or write tokens (CTor's "rate limits hit" overload signal).
    public var stalls: (read: Int, write: Int) { counters.withLockedValue { ($0.readStalls, $0.writeStalls) } }
}

/// Applies a `BandwidthLimiter` to one link: under the TLS handler, it counts raw bytes
/// against the buckets, defers `read()` while the read bucket is empty and holds `flush()`
/// while the write bucket is empty (the link's writability then pushes back on its circuits).
public final class BandwidthLimitHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let limiter: BandwidthLimiter
    private var readWaiting = false
    private var flushWaiting = false
    private var removed = false

    public init(limiter: BandwidthLimiter) { self.limiter = limiter }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        limiter.consume(read: unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
    }

    public func read(context: ChannelHandlerContext) {
        guard !readWaiting else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        if limiter.mayRead(orLater: {
            loop.execute {
                let (handler, ctx) = bound.value
                handler.readWaiting = false
                if !handler.removed { ctx.read() }
            }
        }) {
            context.read()
        } else {
            readWaiting = true
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        limiter.consume(written: unwrapOutboundIn(data).readableBytes)
        context.write(data, promise: promise)
    }

    public func flush(context: ChannelHandlerContext) {
        guard !flushWaiting else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        if limiter.mayWrite(orLater: {
            loop.execute {
                let (handler, ctx) = bound.value
                handler.flushWaiting = false
                if !handler.removed { ctx.flush() }
            }
        }) {
            context.flush()
        } else {
            flushWaiting = true
        }
    }
}

@available(*, unavailable)
extension BandwidthLimitHandler: Sendable {}
