import NIOCore
import TorProtocol

/// One exit stream: a TCP connection we opened for a client's BEGIN, confined to the loop of the
/// circuit's p-link (so relay crypto and the socket share a thread).
final class ExitStream {
    enum State {
        case resolving
        case connecting
        case open(any Channel)
        /// A BEGIN_DIR stream reading its HTTP request; answered from the directory cache.
        case directory(DirectoryRequestReader)
        case closed
    }

    let streamID: UInt16
    var state: State = .resolving
    /// DATA cells we may still send on this stream.
    var packageWindow = 500
    /// DATA cells the client may still send before our next stream SENDME.
    var deliverWindow = 500
    /// Client data that arrived before the connection was up (optimistic data).
    var pendingToServer: [ByteBuffer] = []
    /// Server data read while a window was closed.
    var pendingToClient = ByteBuffer()
    var readsPaused = false
    /// The server closed; END (with this reason) follows once `pendingToClient` is delivered.
    var serverClosed: EndReason?

    init(streamID: UInt16) { self.streamID = streamID }

    var channel: (any Channel)? { if case let .open(c) = state { c } else { nil } }
}

/// The TCP side of an exit stream: hands what the server sends to the circuit, reports the end.
final class ExitConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let mux: LinkMuxRef
    let circuitID: UInt32
    let streamID: UInt16

    init(mux: LinkMuxRef, circuitID: UInt32, streamID: UInt16) {
        self.mux = mux
        self.circuitID = circuitID
        self.streamID = streamID
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        mux.bound.value.exitReceived(unwrapInboundIn(data), circuitID: circuitID, streamID: streamID)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        mux.bound.value.pump()
    }

    func channelInactive(context: ChannelHandlerContext) {
        mux.bound.value.exitClosed(circuitID: circuitID, streamID: streamID, reason: .done)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        mux.bound.value.exitClosed(circuitID: circuitID, streamID: streamID, reason: .connectionReset)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ExitConnectionHandler: Sendable {}
