import ServiceLifecycle
import UnixSignals

/// The one SIGHUP trap of `relaynode run`, installed before any service starts (so before
/// "ORPort listening" is logged), handing each SIGHUP to every service that reacts to it: the
/// configuration reload and the key check. Each service trapping SIGHUP itself, when its task
/// happened to start, lost a SIGHUP sent early to the services that were not there yet (found
/// under ThreadSanitizer's slowdown: the configuration was reloaded, the keys not checked).
/// A SIGHUP that arrives before the services read their streams waits in them (the newest one).
final class SighupFanout: Service, Sendable {
    private let signals: UnixSignalsSequence
    private let continuations: [AsyncStream<Void>.Continuation]
    /// One stream per subscriber, in the order asked for.
    let streams: [AsyncStream<Void>]

    init(subscribers: Int) async {
        signals = await UnixSignalsSequence(trapping: .sighup)
        var streams = [AsyncStream<Void>](), continuations = [AsyncStream<Void>.Continuation]()
        for _ in 0..<subscribers {
            let (s, c) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            streams.append(s)
            continuations.append(c)
        }
        self.streams = streams
        self.continuations = continuations
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in self.signals {
                for c in self.continuations { c.yield() }
            }
        }
        for c in continuations { c.finish() }
    }
}
