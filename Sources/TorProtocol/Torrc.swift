/// A parsed torrc: option lines in order, each with its source location. Syntax as CTor's
/// `config_get_lines`: `Key value` per line, `#` comments, a trailing `\` continues a line,
/// keys are case-insensitive, options may repeat.
public struct Torrc: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public let key: String
        public let value: String
        public let file: String
        public let line: Int
    }

    public let lines: [Line]

    public init(lines: [Line]) { self.lines = lines }

    public init(parsing text: String, file: String) throws {
        var out = [Line]()
        var pending = ""
        var pendingStart = 0
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            var s = Substring(raw)
            if s.hasSuffix("\r") { s = s.dropLast() }
            if pending.isEmpty { pendingStart = number }
            // A comment ends the line unless it is inside a continued value.
            let trimmed = s.drop { $0 == " " || $0 == "\t" }
            if trimmed.hasPrefix("#") { continue }
            // Continued pieces are joined with one space.
            let piece = pending.isEmpty ? String(s) : String(trimmed)
            if piece.hasSuffix("\\") {
                pending += piece.dropLast().trimmingCharacters(in: .whitespaces) + " "
                continue
            }
            let full = pending + piece
            pending = ""
            let content = full.trimmingCharacters(in: .whitespaces)
            if content.isEmpty { continue }
            let parts = content.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
            let key = String(parts[0])
            var value = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : ""
            if let hash = value.firstIndex(of: "#") { value = String(value[..<hash]).trimmingCharacters(in: .whitespaces) }
            // `%include` is the one directive; the loader that reads files expands it.
            guard key.lowercased() == "%include" || key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw TorProtocolError(.malformed, "\(file):\(pendingStart): '\(key)' is not an option name")
            }
            out.append(Line(key: key, value: value, file: file, line: pendingStart))
        }
        if !pending.isEmpty {
            throw TorProtocolError(.malformed, "\(file):\(pendingStart): line continuation at end of file")
        }
        lines = out
    }

    /// All values of an option (case-insensitive key).
    public func values(_ key: String) -> [Line] {
        lines.filter { $0.key.caseInsensitiveCompare(key) == .orderedSame }
    }
}

import Foundation
