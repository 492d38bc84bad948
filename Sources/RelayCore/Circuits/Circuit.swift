import NIOCore
import TorProtocol

/// The far end of a circuit half: another link's mux (possibly on another loop) and the
/// circuit ID used there.
struct CircuitPeer {
    let mux: LinkMuxRef
    let circuitID: UInt32
}

/// Our half of a circuit on the link it arrived on (toward the client).
final class PCircuit {
    let circuitID: UInt32
    /// Creation order on this link (the oldest circuit is shed first under memory pressure).
    var sequence = 0
    let crypto: HopCrypto
    var relayEarlyReceived = 0
    enum Next {
        /// We are the last hop.
        case edge
        /// EXTEND2 accepted; waiting for the next link and its CREATED2.
        case extending
        /// Extended: forward cells go to `peer`; the backward crypto is owned there.
        case extended(CircuitPeer)
    }
    var next: Next = .edge

    // Flow control when we are the circuit's edge (tor-spec flow-control: windows of 1000
    // cells, SENDME every 100).
    /// DATA cells we may still send toward the client.
    var packageWindow = 1000
    /// DATA cells the client may still send us before our next SENDME.
    var deliverWindow = 1000
    /// Backward digests of every 100th DATA cell we sent: the tags its SENDMEs must carry.
    var expectedSendmeTags = CircularBuffer<[UInt8]>()
    /// Exit streams on this circuit.
    var streams: [UInt16: ExitStream] = [:]

    init(circuitID: UInt32, crypto: HopCrypto) {
        self.circuitID = circuitID
        self.crypto = crypto
    }
}

/// Our half of a circuit on the link toward the next hop.
final class NCircuit {
    let circuitID: UInt32
    var sequence = 0
    let crypto: HopCrypto
    let previous: CircuitPeer
    /// Waiting for CREATED2 (true) or open.
    var awaitingCreated = true
    init(circuitID: UInt32, crypto: HopCrypto, previous: CircuitPeer) {
        self.circuitID = circuitID
        self.crypto = crypto
        self.previous = previous
    }
}

enum CircuitHalf {
    case p(PCircuit)
    case n(NCircuit)
}
