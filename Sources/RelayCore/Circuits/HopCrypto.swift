import NIOCore
import TorProtocol

/// The circuit layer's view of one hop's relay crypto (tor1 today). The forward methods are
/// called only on the p-link's event loop; the backward ones only on the loop that owns the
/// backward direction (the n-link's once the circuit is extended, else the p-link's). The two
/// directions touch disjoint state, so one object can be shared without a lock.
public protocol HopCrypto: AnyObject {
    /// Decrypts a forward 509-byte body in place; true when the cell is addressed to us.
    func decryptForward(_ body: UnsafeMutableRawBufferPointer) -> Bool
    /// Encrypts a backward 509-byte body in place. `originating`: we wrote the relay message
    /// (set its digest first); otherwise we relay a cell from further hops.
    func encryptBackward(_ body: UnsafeMutableRawBufferPointer, originating: Bool)
    /// The 20-byte running forward digest after the last cell recognized (SENDME v1 we send).
    var lastForwardDigest: [UInt8] { get }
    /// The 20-byte running backward digest after the last cell we originated (SENDME v1 we expect).
    var lastBackwardDigest: [UInt8] { get }
}

extension Tor1RelayCrypto: HopCrypto {}

/// Moves a value created on a worker thread to an event loop that then owns it alone.
struct Handoff<T>: @unchecked Sendable {
    let value: T
}

/// What a circuit handshake produced: the reply body (CREATED2 / CREATED_FAST) and the hop crypto.
public struct CreateResult {
    public let reply: Cell
    public let crypto: HopCrypto
    public init(reply: Cell, crypto: HopCrypto) {
        self.reply = reply
        self.crypto = crypto
    }
}

/// Answers CREATE2 / CREATE_FAST. Runs on a worker thread.
public protocol CircuitHandshakeResponder: Sendable {
    /// `kind` names the handshake for metrics ("ntor", "ntor_v3", "fast"); nil for an
    /// unsupported type, which the caller refuses without queueing.
    func kind(of cell: Cell) -> String?
    func respond(to cell: Cell) throws -> CreateResult
}
