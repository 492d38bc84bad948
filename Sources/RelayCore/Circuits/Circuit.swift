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
    /// Cells received for this circuit from the p-side while extending (clients must not send
    /// any; more than a few is a violation).
    init(circuitID: UInt32, crypto: HopCrypto) {
        self.circuitID = circuitID
        self.crypto = crypto
    }
}

/// Our half of a circuit on the link toward the next hop.
final class NCircuit {
    let circuitID: UInt32
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
