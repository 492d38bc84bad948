import Foundation
import TorProtocol

/// Reads a torrc and what it includes: `%include PATH` (C tor's syntax) splices in a file, or
/// every file of a directory in name order (not its subdirectories, not names starting with
/// "."), at most 31 levels deep. Each line keeps its own file and line for error messages.
enum TorrcFiles {
    static let maxDepth = 31

    static func lines(of path: String, depth: Int = 0, from: String? = nil) throws -> [Torrc.Line] {
        guard depth <= maxDepth else {
            throw CLIError("\(from ?? path): %include nests deeper than \(maxDepth) levels (a loop?)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CLIError(from.map { "\($0): %include \(path): no such file or directory" } ?? "cannot read configuration file \(path)")
        }
        if isDir.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
            var out: [Torrc.Line] = []
            for name in names {
                let full = (path as NSString).appendingPathComponent(name)
                var sub: ObjCBool = false
                guard FileManager.default.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue else { continue }
                out += try lines(of: full, depth: depth + 1, from: from)
            }
            return out
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(from.map { "\($0): %include \(path): cannot read it" } ?? "cannot read configuration file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(path) is not UTF-8 text") }
        var out: [Torrc.Line] = []
        for line in try Torrc(parsing: text, file: path).lines {
            guard line.key.lowercased() == "%include" else {
                out.append(line)
                continue
            }
            guard !line.value.isEmpty else { throw CLIError("\(line.file):\(line.line): %include needs a path") }
            let target = line.value.hasPrefix("/") ? line.value
                : ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(line.value)
            out += try lines(of: target, depth: depth + 1, from: "\(line.file):\(line.line)")
        }
        return out
    }
}
