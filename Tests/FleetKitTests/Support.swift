import FleetKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private temporary directory (0700), removed when released.
final class TempDir: @unchecked Sendable {
    let path: String
    init() {
        path = try! PrivateFiles.temporaryDirectory(prefix: "fleet-test")
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ name: String) -> String { path + "/" + name }
}

func fileMode(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1
}

func sha(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map(Array.init) }
