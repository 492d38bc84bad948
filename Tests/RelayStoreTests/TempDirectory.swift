import Foundation

/// A private temporary directory removed when the test ends.
final class TempDirectory {
    let path: String
    init() {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("relayfleet-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        path = base.path
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}

func mode(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1
}

func fileBytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
