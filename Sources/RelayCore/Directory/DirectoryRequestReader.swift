import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import TorProtocol

/// The HTTP side of one BEGIN_DIR stream: NIOHTTP1's request decoder and response encoder
/// run over an in-memory channel, fed with the stream's DATA cells. Confined to the loop of
/// the circuit that owns the stream.
final class DirectoryRequestReader {
    struct Request {
        let method: HTTPMethod
        let uri: String
        let ifModifiedSince: Date?
    }

    enum Outcome {
        case needMore
        case request(Request)
        case invalid(String)
    }

    /// CTor refuses directory requests with more header bytes than this (MAX_HEADERS_SIZE).
    static let maxRequestBytes = 50_000

    private let channel = EmbeddedChannel()
    private var head: HTTPRequestHead?
    private var received = 0
    var bytesReceived: Int { received }

    init() {
        try? channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try? channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
    }

    deinit { _ = try? channel.finish(acceptAlreadyClosed: true) }

    func feed(_ bytes: [UInt8]) -> Outcome {
        received += bytes.count
        guard received <= Self.maxRequestBytes else { return .invalid("request_too_large") }
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
                switch part {
                case let .head(h): head = h
                case .body: continue
                case .end:
                    guard let h = head else { return .invalid("no_request_head") }
                    let ims = h.headers.first(name: "If-Modified-Since").flatMap(Self.parseHTTPDate)
                    return .request(Request(method: h.method, uri: h.uri, ifModifiedSince: ims))
                }
            }
            return .needMore
        } catch {
            return .invalid("bad_http")
        }
    }

    /// The response's bytes, through NIOHTTP1's encoder.
    func encode(_ r: DirectoryCache.Response, now: Date) -> [UInt8] {
        var headers = HTTPHeaders()
        headers.add(name: "Date", value: Self.formatHTTPDate(now))
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Content-Encoding", value: "identity")
        headers.add(name: "Content-Length", value: "\(r.body.count)")
        if let lm = r.lastModified { headers.add(name: "Last-Modified", value: Self.formatHTTPDate(lm)) }
        let head = HTTPResponseHead(version: .http1_0, status: .init(statusCode: r.status, reasonPhrase: r.reason), headers: headers)
        var out = [UInt8]()
        do {
            try channel.writeOutbound(HTTPServerResponsePart.head(head))
            if !r.body.isEmpty { try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: r.body)))) }
            try channel.writeOutbound(HTTPServerResponsePart.end(nil))
            while let io = try channel.readOutbound(as: IOData.self) {
                if case var .byteBuffer(b) = io { out += b.readBytes(length: b.readableBytes) ?? [] }
            }
        } catch {
            return []
        }
        return out
    }

    // RFC 7231 IMF-fixdate, e.g. "Sun, 22 Nov 2026 10:00:00 GMT".
    static func formatHTTPDate(_ d: Date) -> String {
        var t = time_t(d.timeIntervalSince1970)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        var buf = [Int8](repeating: 0, count: 64)
        let n = strftime(&buf, 64, "%a, %d %b %Y %H:%M:%S GMT", &tmv)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func parseHTTPDate(_ s: String) -> Date? {
        let w = s.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard w.count == 6, w[5] == "GMT", let day = Int(w[1]), let m = months.firstIndex(of: String(w[2])), let y = Int(w[3]) else { return nil }
        return NetDoc.parseTime(String(format: "%04d-%02d-%02d %@", y, m + 1, day, String(w[4])))
    }
}
