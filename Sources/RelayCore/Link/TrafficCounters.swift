import NIOConcurrencyHelpers
import NIOCore
import TorProtocol

/// Every byte read from and written to the relay's TCP connections, below TLS — what CTor's
/// bandwidth accounting counts (`record_num_bytes_transferred_impl` in connection.c notes the
/// raw socket bytes of OR connections, with an IPv6 flag from the socket's family).
///
/// The data path only adds to plain integers owned by its event loop: one slot per loop of
/// the group given at init, touched by that loop alone, so counting takes no lock and no
/// atomic. `snapshot()` folds the slots by visiting each loop. A connection on a loop this
/// object was not built for (tools, tests using another group) counts into a locked slot.
///
/// Unlike CTor with its default `CountPrivateBandwidth 0`, connections from private and
/// loopback addresses are counted too (as CTor does in test networks, where that option is 1).
public final class TrafficCounters: Sendable {
    /// The counters of one event loop. Only that loop reads or writes them (handlers on it, and
    /// `snapshot()` through `submit`), which is why sharing the reference is sound.
    final class LoopSlot: @unchecked Sendable {
        var read: UInt64 = 0
        var written: UInt64 = 0
        var ipv6Read: UInt64 = 0
        var ipv6Written: UInt64 = 0
    }

    private let slots: [ObjectIdentifier: LoopSlot]
    private let loops: [any EventLoop]
    private let elsewhere = NIOLockedValueBox(TrafficTotals())
    private let directory = NIOLockedValueBox((read: UInt64(0), written: UInt64(0)))

    /// Counters with a lock-free slot for every loop of `group` (nil: all counting is locked,
    /// fine for tools that open a handful of links).
    public init(group: (any EventLoopGroup)? = nil) {
        var slots = [ObjectIdentifier: LoopSlot]()
        var loops = [any EventLoop]()
        for loop in group?.makeIterator() ?? EventLoopIterator([]) {
            slots[ObjectIdentifier(loop)] = LoopSlot()
            loops.append(loop)
        }
        self.slots = slots
        self.loops = loops
    }

    /// Bytes of directory requests this relay answered (CTor's `dirreq-` history counts
    /// `DIR_PURPOSE_SERVER` connections, tunnelled or not). These bytes are also link bytes
    /// when they came over BEGIN_DIR, so they are kept apart and never added to the totals.
    /// Callable from any thread.
    public func addDirectory(read: Int, written: Int) {
        directory.withLockedValue {
            $0.read &+= UInt64(max(0, read))
            $0.written &+= UInt64(max(0, written))
        }
    }

    /// Totals since this object was made. Visits every loop once; completes when each loop
    /// has run the read (a shut-down loop contributes nothing).
    public func snapshot() async -> TrafficTotals {
        var total = elsewhere.withLockedValue { $0 }
        for loop in loops {
            guard let s = slots[ObjectIdentifier(loop)] else { continue }
            let part = try? await loop.submit { () -> TrafficTotals in
                TrafficTotals(read: s.read, written: s.written, ipv6Read: s.ipv6Read, ipv6Written: s.ipv6Written)
            }.get()
            if let part { total = total + part }
        }
        let dir = directory.withLockedValue { $0 }
        total.dirRead = dir.read
        total.dirWritten = dir.written
        return total
    }

    /// A handler that counts the raw bytes of `channel`; put it first in the pipeline (below TLS).
    public func makeHandler() -> TrafficCountingHandler {
        TrafficCountingHandler(counters: self)
    }

    /// The lock-free slot of `loop`, if this object has one (call on that loop).
    func slot(on loop: any EventLoop) -> LoopSlot? {
        loop.preconditionInEventLoop()
        return slots[ObjectIdentifier(loop)]
    }

    func countElsewhere(read: Int, written: Int, ipv6: Bool) {
        elsewhere.withLockedValue {
            $0.read &+= UInt64(read)
            $0.written &+= UInt64(written)
            if ipv6 {
                $0.ipv6Read &+= UInt64(read)
                $0.ipv6Written &+= UInt64(written)
            }
        }
    }
}

/// Counts every `ByteBuffer` read from or written to the socket into `TrafficCounters`.
/// Sits at the head of a link's pipeline, under the TLS handler; one add per socket read or
/// write, none per cell.
public final class TrafficCountingHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let counters: TrafficCounters
    private var slot: TrafficCounters.LoopSlot?
    private var ipv6 = false

    init(counters: TrafficCounters) {
        self.counters = counters
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        slot = counters.slot(on: context.eventLoop)
        ipv6 = context.channel.remoteAddress?.protocol == .inet6
    }

    public func channelActive(context: ChannelHandlerContext) {
        // An outbound connection learns its peer address only once connected.
        ipv6 = context.channel.remoteAddress?.protocol == .inet6
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count(read: unwrapInboundIn(data).readableBytes, written: 0)
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        count(read: 0, written: unwrapOutboundIn(data).readableBytes)
        context.write(data, promise: promise)
    }

    @inline(__always)
    private func count(read: Int, written: Int) {
        guard let slot else {
            counters.countElsewhere(read: read, written: written, ipv6: ipv6)
            return
        }
        slot.read &+= UInt64(read)
        slot.written &+= UInt64(written)
        if ipv6 {
            slot.ipv6Read &+= UInt64(read)
            slot.ipv6Written &+= UInt64(written)
        }
    }
}

@available(*, unavailable)
extension TrafficCountingHandler: Sendable {}
