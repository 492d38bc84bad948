import Foundation
import Testing
import TorCrypto

/// One JSON vector file from `Vectors/`: `source`, optional `notes`, and `vectors`, an array of
/// objects whose values are strings (hex or names) or integers.
struct VectorFile {
    let name: String
    let source: String
    let vectors: [Vector]

    /// Loads `Vectors/<name>.json` from the test bundle. Fails the test (by throwing) if the
    /// file is missing, malformed, or has no vectors.
    init(_ name: String) throws {
        self.name = name
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors"),
            "vector file Vectors/\(name).json is not in the test bundle")
        let data = try Data(contentsOf: url)
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any],
                                "\(name).json: top level is not an object")
        source = try #require(root["source"] as? String, "\(name).json: no source")
        let list = try #require(root["vectors"] as? [[String: Any]], "\(name).json: no vectors array")
        try #require(!list.isEmpty, "\(name).json: vectors array is empty")
        vectors = list.enumerated().map { Vector(file: name, index: $0.offset, fields: $0.element) }
    }
}

/// One vector: typed accessors that throw (failing the test) when a field is absent or bad.
struct Vector: CustomTestStringConvertible {
    let file: String
    let index: Int
    let fields: [String: Any]

    var name: String { (fields["name"] as? String) ?? "#\(index)" }
    var testDescription: String { "\(file): \(name)" }

    func has(_ key: String) -> Bool { fields[key] != nil }

    func string(_ key: String) throws -> String {
        try #require(fields[key] as? String, "\(testDescription): field '\(key)' missing or not a string")
    }

    /// Decodes a hex field. Empty strings decode to an empty array.
    func hex(_ key: String) throws -> [UInt8] {
        let s = try string(key)
        return try #require([UInt8](hex: s), "\(testDescription): field '\(key)' is not valid hex")
    }

    func int(_ key: String) throws -> Int {
        try #require(fields[key] as? Int, "\(testDescription): field '\(key)' missing or not an integer")
    }
}
