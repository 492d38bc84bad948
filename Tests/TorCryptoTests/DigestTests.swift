import Testing
import TorCrypto

/// SHA-1/256/512 (FIPS 180-2), SHA3-256 and SHAKE256 (FIPS 202) known answers, and the
/// streaming `DigestContext` (peek / copy / restore) Tor's running relay digests use.
@Suite struct DigestTests {
    let sha: VectorFile
    let sha3: VectorFile

    init() throws {
        sha = try VectorFile("sha")
        sha3 = try VectorFile("sha3")
    }

    static func algorithm(_ name: String) -> DigestAlgorithm? {
        switch name {
        case "sha1": return .sha1
        case "sha256": return .sha256
        case "sha512": return .sha512
        case "sha3-256": return .sha3_256
        default: return nil
        }
    }

    static func oneShot(_ name: String, _ m: [UInt8]) -> [UInt8]? {
        switch name {
        case "sha1": return Digest.sha1(m)
        case "sha256": return Digest.sha256(m)
        case "sha512": return Digest.sha512(m)
        case "sha3-256": return Digest.sha3_256(m)
        default: return nil
        }
    }

    /// All fixed-length vectors from both files.
    var fixedLengthVectors: [Vector] {
        sha.vectors + sha3.vectors.filter { ($0.fields["algorithm"] as? String) != "shake256" }
    }

    @Test func vectorCounts() {
        #expect(sha.vectors.count == 9)
        #expect(sha3.vectors.count == 4)
        #expect(fixedLengthVectors.count == 11)
    }

    @Test func oneShotKnownAnswers() throws {
        for v in fixedLengthVectors {
            let name = try v.string("algorithm")
            let alg = try #require(Self.algorithm(name), "\(v.name): unknown algorithm \(name)")
            let m = try v.hex("message_hex"), d = try v.hex("digest")
            #expect(d.count == alg.outputLength, "\(v.name): vector length")
            #expect(Self.oneShot(name, m)?.hexString == d.hexString, "\(v.name): Digest.\(name)")
            #expect(Digest.hash(alg, m).hexString == d.hexString, "\(v.name): Digest.hash")
            let viaRaw = m.withUnsafeBytes { Digest.hash(alg, $0) }
            #expect(viaRaw.hexString == d.hexString, "\(v.name): Digest.hash(raw)")
        }
    }

    @Test func shake256KnownAnswers() throws {
        let shake = sha3.vectors.filter { ($0.fields["algorithm"] as? String) == "shake256" }
        #expect(shake.count == 2)
        for v in shake {
            let len = try v.int("output_length")
            let out = Digest.shake256(try v.hex("message_hex"), outputLength: len)
            #expect(out.count == len, "\(v.name)")
            #expect(out.hexString == (try v.hex("digest")).hexString, "\(v.name)")
        }
    }

    /// Streams each vector's message in odd pieces; `peek()` after every piece equals the
    /// one-shot digest of the prefix so far, and the final peek equals the vector.
    @Test(arguments: [[1], [1, 2, 3], [7, 13], [55, 1, 9], [64, 1], [127, 3]])
    func streamingPeekMatchesOneShot(pattern: [Int]) throws {
        for v in fixedLengthVectors {
            let name = try v.string("algorithm")
            let alg = try #require(Self.algorithm(name))
            let base = try v.hex("message_hex")
            let expected = try v.hex("digest")

            // First: the exact vector message, streamed.
            let ctx = DigestContext(alg)
            #expect(ctx.peek() == Digest.hash(alg, []), "\(v.name): peek of nothing")
            var fed = 0, i = 0
            while fed < base.count {
                let n = min(pattern[i % pattern.count], base.count - fed)
                ctx.update(Array(base[fed ..< fed + n]))
                fed += n
                i += 1
                #expect(ctx.peek() == Digest.hash(alg, Array(base[..<fed])), "\(v.name): prefix \(fed)")
            }
            #expect(ctx.peek().hexString == expected.hexString, "\(v.name): streamed \(pattern)")
            // peek() is non-destructive: twice gives the same answer.
            #expect(ctx.peek().hexString == expected.hexString, "\(v.name): second peek")

            // Then continue after the peek with a longer tail (multi-block); still consistent.
            var long = base
            let tail = (0 ..< 300).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            fed = 0
            i = 0
            while fed < tail.count {
                let n = min(pattern[i % pattern.count], tail.count - fed)
                let piece = Array(tail[fed ..< fed + n])
                ctx.update(piece)
                long += piece
                fed += n
                i += 1
                #expect(ctx.peek() == Digest.hash(alg, long), "\(v.name): after peek, +\(fed)")
            }
        }
    }

    @Test func rawBufferUpdateAndPeekInto() throws {
        for v in fixedLengthVectors {
            let alg = try #require(Self.algorithm(try v.string("algorithm")))
            let m = try v.hex("message_hex"), d = try v.hex("digest")
            let ctx = DigestContext(alg)
            m.withUnsafeBytes { ctx.update($0) }
            var full = [UInt8](repeating: 0, count: alg.outputLength)
            full.withUnsafeMutableBytes { ctx.peek(into: $0) }
            #expect(full.hexString == d.hexString, "\(v.name): peek(into:) full")
            var four = [UInt8](repeating: 0, count: 4)
            four.withUnsafeMutableBytes { ctx.peek(into: $0) }
            #expect(four == Array(d.prefix(4)), "\(v.name): peek(into:) 4 bytes")
            #expect(ctx.peek().hexString == d.hexString, "\(v.name): peek after peek(into:)")
        }
    }

    /// "abc" known answers via copy/restore: fork after "ab", finish both sides, roll back.
    @Test func copyAndRestore() throws {
        let abc = fixedLengthVectors.filter { (try? $0.hex("message_hex")) == Array("abc".utf8) }
        #expect(abc.count == 4)  // sha1, sha256, sha512, sha3-256
        for v in abc {
            let alg = try #require(Self.algorithm(try v.string("algorithm")))
            let expected = try v.hex("digest")

            let ctx = DigestContext(alg)
            ctx.update(Array("ab".utf8))
            let snapshot = ctx.copy()
            #expect(snapshot.algorithm == alg)

            ctx.update(Array("c".utf8))
            #expect(ctx.peek().hexString == expected.hexString, "\(v.name): original")
            // The copy is independent of later updates to the original.
            #expect(snapshot.peek() == Digest.hash(alg, Array("ab".utf8)), "\(v.name): copy unaffected")

            // Diverge the copy; the original is unaffected.
            snapshot.update(Array("x".utf8))
            #expect(snapshot.peek() == Digest.hash(alg, Array("abx".utf8)), "\(v.name): copy diverged")
            #expect(ctx.peek().hexString == expected.hexString, "\(v.name): original unaffected")

            // Roll the original back to a saved "ab" state, then redo "c".
            let saved = DigestContext(alg)
            saved.update(Array("ab".utf8))
            ctx.update(Array("garbage".utf8))
            ctx.restore(from: saved)
            #expect(ctx.peek() == Digest.hash(alg, Array("ab".utf8)), "\(v.name): restored")
            ctx.update(Array("c".utf8))
            #expect(ctx.peek().hexString == expected.hexString, "\(v.name): restored then c")
            // restore copied the state; the source is not shared.
            #expect(saved.peek() == Digest.hash(alg, Array("ab".utf8)), "\(v.name): source of restore unchanged")
        }
    }
}
