import Foundation
import Logging
import NIOConcurrencyHelpers
import TorProtocol
#if canImport(Glibc)
import Glibc
#endif

/// `Log` lines (C tor's syntax) as swift-log handlers: each target gets the messages from its
/// minimum to its maximum severity, on stderr, stdout or appended to a file (0600). Without
/// `Log` lines relaynode logs notice and above on stderr. `--log-level`, when given, sets the
/// minimum of every target.
enum LogSetup {
    static func level(_ s: OperationsConfig.Severity) -> Logger.Level {
        switch s {
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warn: .warning
        case .err: .error
        }
    }

    /// Installs the handlers (once per process) and returns the relay's logger.
    static func bootstrap(_ targets: [OperationsConfig.LogTarget], override: Logger.Level?) throws -> Logger {
        guard !targets.isEmpty else {
            var logger = Logger(label: "relaynode")
            logger.logLevel = override ?? .notice
            return logger
        }
        var handlers: [any LogHandler] = []
        for t in targets {
            let stream: any TextOutputStream & Sendable
            switch t.destination {
            case .stderr: stream = FileDescriptorStream(fd: STDERR_FILENO)
            case .stdout: stream = FileDescriptorStream(fd: STDOUT_FILENO)
            case .file(let path):
                let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw CLIError("cannot open the log file \(path): \(String(cString: strerror(errno)))") }
                stream = FileDescriptorStream(fd: fd)
            }
            var inner = StreamLogHandler(label: "relaynode", stream: stream)
            inner.logLevel = override ?? level(t.min)
            handlers.append(RangeLogHandler(inner: inner, maximum: level(t.max)))
        }
        LoggingSystem.bootstrap { _ in MultiplexLogHandler(handlers) }
        return Logger(label: "relaynode")
    }
}

/// Writes whole lines to a file descriptor (one `write` per line, so lines from several threads
/// don't interleave).
struct FileDescriptorStream: TextOutputStream, Sendable {
    let fd: Int32
    func write(_ string: String) {
        var s = string
        s.withUTF8 { p in
            var done = 0
            while done < p.count {
                let n = Glibc.write(fd, p.baseAddress! + done, p.count - done)
                if n < 0 { if errno == EINTR { continue }; return }
                done += n
            }
        }
    }
}

/// Passes on messages up to `maximum` (C tor's `Log notice-warn …` ranges).
struct RangeLogHandler: LogHandler {
    var inner: StreamLogHandler
    let maximum: Logger.Level

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    func log(event: LogEvent) {
        guard event.level <= maximum || event.level == .critical else { return }
        inner.log(event: event)
    }
}
