import Foundation

/// A directory document in Tor's "netdoc" meta-format (dir-spec, netdoc.md): items of a
/// keyword line with arguments, each optionally followed by one armoured object. Parsing is
/// over bytes so signatures can be checked over exact byte ranges.
public struct NetDoc: Sendable {
    public struct Object: Sendable, Equatable {
        /// The word(s) between `-----BEGIN ` and `-----`, e.g. `ED25519 CERT`.
        public let label: String
        public let bytes: [UInt8]
    }

    public struct Item: Sendable {
        public let keyword: String
        public let arguments: [String]
        public let object: Object?
        /// Byte offsets of the keyword line, including its newline.
        public let lineRange: Range<Int>
        /// Byte offsets of the whole item: keyword line and object.
        public let range: Range<Int>

        public var argumentString: String { arguments.joined(separator: " ") }
    }

    public let bytes: [UInt8]
    public let items: [Item]

    public static let maxLineLength = 64 * 1024

    /// Parses `bytes`; `source` names the document in errors.
    public init(parsing bytes: [UInt8], source: String) throws {
        self.bytes = bytes
        var items = [Item]()
        var i = 0
        let n = bytes.count
        func line(from start: Int) throws -> (text: Substring, end: Int) {
            guard let nl = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                throw TorProtocolError(.truncated, "\(source): line at byte \(start) has no newline")
            }
            guard nl - start <= Self.maxLineLength else {
                throw TorProtocolError(.malformed, "\(source): line at byte \(start) is too long")
            }
            guard let s = String(bytes: bytes[start..<nl], encoding: .utf8) else {
                throw TorProtocolError(.malformed, "\(source): line at byte \(start) is not UTF-8")
            }
            return (Substring(s), nl + 1)
        }
        while i < n {
            let start = i
            let (text, end) = try line(from: i)
            i = end
            if text.isEmpty { continue }
            if text.hasPrefix("-----") {
                throw TorProtocolError(.malformed, "\(source): object at byte \(start) does not follow a keyword line")
            }
            var words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard !words.isEmpty else {
                throw TorProtocolError(.malformed, "\(source): line at byte \(start) holds only whitespace")
            }
            var keyword = words.removeFirst()
            if keyword == "opt", !words.isEmpty { keyword = words.removeFirst() }  // obsolete prefix, still legal
            try Self.checkKeyword(keyword, source, start)
            items.append(try Self.item(keyword, words, start, end, &i, bytes, source, line))
        }
        self.items = items
    }

    private static func checkKeyword(_ k: String, _ source: String, _ at: Int) throws {
        guard !k.isEmpty, k.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) }) else {
            throw TorProtocolError(.malformed, "\(source): bad keyword '\(k.prefix(40))' at byte \(at)")
        }
    }

    private static func item(_ keyword: String, _ args: [String], _ start: Int, _ lineEnd: Int, _ i: inout Int,
                             _ bytes: [UInt8], _ source: String,
                             _ line: (Int) throws -> (text: Substring, end: Int)) throws -> Item {
        var object: Object?
        if i < bytes.count, bytes[i...].starts(with: Array("-----BEGIN ".utf8)) {
            let (begin, afterBegin) = try line(i)
            guard begin.hasSuffix("-----"), begin.count > 16 else {
                throw TorProtocolError(.malformed, "\(source): bad object header after '\(keyword)'")
            }
            let label = String(begin.dropFirst(11).dropLast(5))
            var body = ""
            var j = afterBegin
            while true {
                guard j < bytes.count else { throw TorProtocolError(.truncated, "\(source): object '\(label)' after '\(keyword)' has no END line") }
                let (t, e) = try line(j)
                j = e
                if t.hasPrefix("-----END ") {
                    guard t == "-----END \(label)-----" else {
                        throw TorProtocolError(.malformed, "\(source): object '\(label)' ends with '\(t.prefix(60))'")
                    }
                    break
                }
                body += t
            }
            guard let data = Data(base64Encoded: body, options: .ignoreUnknownCharacters), !data.isEmpty || body.isEmpty else {
                throw TorProtocolError(.malformed, "\(source): object '\(label)' after '\(keyword)' is not base64")
            }
            object = Object(label: label, bytes: Array(data))
            i = j
        }
        return Item(keyword: keyword, arguments: args, object: object, lineRange: start..<lineEnd, range: start..<i)
    }

    /// Items with `keyword`.
    public func all(_ keyword: String) -> [Item] { items.filter { $0.keyword == keyword } }

    /// The single item with `keyword`, or nil; an error when it appears more than once.
    public func optional(_ keyword: String, source: String) throws -> Item? {
        let found = all(keyword)
        guard found.count <= 1 else { throw TorProtocolError(.malformed, "\(source): '\(keyword)' appears \(found.count) times") }
        return found.first
    }

    /// The single item with `keyword`; an error when missing or repeated.
    public func exactlyOne(_ keyword: String, source: String) throws -> Item {
        guard let item = try optional(keyword, source: source) else {
            throw TorProtocolError(.malformed, "\(source): '\(keyword)' is missing")
        }
        return item
    }

    /// Writes an armoured object: base64 in 64-column lines.
    public static func armour(_ bytes: [UInt8], label: String) -> String {
        PEM.encode(bytes, label: label)
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC.
    public static func formatTime(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday),
                      Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec))
    }

    /// Parses `YYYY-MM-DD HH:MM:SS` (two arguments or one string with a space), UTC.
    public static func parseTime(_ text: String) -> Date? {
        let parts = text.split(whereSeparator: { "- :".contains($0) }).compactMap { Int($0) }
        guard parts.count == 6, (1970...9999).contains(parts[0]), (1...12).contains(parts[1]), (1...31).contains(parts[2]),
              (0...23).contains(parts[3]), (0...59).contains(parts[4]), (0...60).contains(parts[5]) else { return nil }
        var tmv = tm()
        tmv.tm_year = Int32(parts[0] - 1900)
        tmv.tm_mon = Int32(parts[1] - 1)
        tmv.tm_mday = Int32(parts[2])
        tmv.tm_hour = Int32(parts[3])
        tmv.tm_min = Int32(parts[4])
        tmv.tm_sec = Int32(parts[5])
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tmv)))
    }
}
