import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import RelayCore
import TorCrypto
import TorProtocol

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Micro-benchmarks that print figures (no pass/fail). Build with -c release.",
        subcommands: [Crypto.self, Links.self])

    struct Crypto: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-core rates of the cryptography on the relay's hot paths, one thread.")
        @Option(help: "Seconds per measurement.") var seconds: Double = 1.0

        func run() throws {
            var rng = SystemRandom()
            print("relaynode crypto, one core, \(seconds)s per row")
            // AES-128-CTR over 509-byte cell bodies, in place: the per-hop relay crypto.
            let aes = try AESCTR(key: rng.bytes(16))
            var cell = rng.bytes(509)
            let cells = measure { n in
                cell.withUnsafeMutableBytes { p in for _ in 0..<n { aes.apply(p) } }
            }
            report("AES-128-CTR, 509-byte cells", cells, unit: "cells/s", bytesPerOp: 509)
            let aes256 = try AESCTR(key: rng.bytes(32))
            report("AES-256-CTR, 509-byte cells", measure { n in
                cell.withUnsafeMutableBytes { p in for _ in 0..<n { aes256.apply(p) } }
            }, unit: "cells/s", bytesPerOp: 509)
            // The edge-hop cost: AES plus the running SHA-1 digest and a non-destructive peek.
            let digest = DigestContext(.sha1)
            var out = [UInt8](repeating: 0, count: 4)
            report("AES-128-CTR + SHA-1 update + digest peek", measure { n in
                cell.withUnsafeMutableBytes { p in
                    out.withUnsafeMutableBytes { o in
                        for _ in 0..<n {
                            aes.apply(p)
                            digest.update(UnsafeRawBufferPointer(p))
                            digest.peek(into: o)
                        }
                    }
                }
            }, unit: "cells/s", bytesPerOp: 509)

            let ed = Ed25519SecretKey.generate(using: &rng)
            let msg = rng.bytes(64)
            let sig = ed.sign(msg)
            report("Ed25519 sign (expanded key)", measure { n in for _ in 0..<n { _ = ed.sign(msg) } }, unit: "ops/s")
            report("Ed25519 verify", measure { n in for _ in 0..<n { _ = ed.publicKey.isValidSignature(sig, for: msg) } }, unit: "ops/s")

            let a = Curve25519SecretKey.generate(using: &rng), b = Curve25519SecretKey.generate(using: &rng)
            report("X25519 shared secret", measure { n in for _ in 0..<n { _ = try? a.sharedSecret(with: b.publicKey) } }, unit: "ops/s")
            report("X25519 key generation", measure { n in for _ in 0..<n { _ = Curve25519SecretKey.generate(using: &rng) } }, unit: "ops/s")

            let rsa = try RSAPrivateKey.generate(bits: 1024)
            let d = Digest.sha1(msg)
            let rsig = try rsa.signRaw(d)
            report("RSA-1024 raw sign", measure { n in for _ in 0..<n { _ = try? rsa.signRaw(d) } }, unit: "ops/s")
            report("RSA-1024 raw verify", measure { n in for _ in 0..<n { _ = rsa.publicKey.isValidRawSignature(rsig, of: d) } }, unit: "ops/s")
        }

        /// Calls `body(n)` with growing n until `seconds` pass; returns operations per second.
        func measure(_ body: (Int) -> Void) -> Double {
            var n = 1, total = 0
            let start = DispatchTime.now().uptimeNanoseconds
            var elapsed: Double = 0
            while elapsed < seconds {
                body(n)
                total += n
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if elapsed < seconds / 10 { n *= 2 }
            }
            return Double(total) / elapsed
        }

        func report(_ name: String, _ rate: Double, unit: String, bytesPerOp: Int? = nil) {
            var line = name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%12.0f %@", rate, unit)
            if let b = bytesPerOp { line += String(format: "  (%.2f GB/s)", rate * Double(b) / 1e9) }
            print(line)
        }
    }
}
