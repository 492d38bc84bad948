import ArgumentParser
import Foundation
import Logging
import NIOPosix
import RelayCore
import RelayStore
import TorCrypto
import TorProtocol

struct DescriptorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "descriptor",
        abstract: "Show, upload and check the relay's server descriptor.",
        subcommands: [Show.self, Upload.self, Status.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the descriptor the relay last published (or, before its first run, one made now).")
        @OptionGroup var node: NodeOptions
        @Flag(help: "Print the extra-info document instead.") var extraInfo = false

        func run() throws {
            try reportingErrors {
                let db = try node.openDatabase(create: false)
                if let d = try db.latestPublishedDescriptor() {
                    print(extraInfo ? d.extraInfo ?? "" : d.descriptor, terminator: "")
                    return
                }
                let config = try node.relayConfig()
                guard let address = DescriptorMaker.publishedAddress(config), let port = config.orPorts.first?.port, port != 0 else {
                    throw CLIError("nothing published yet, and the config lacks an Address and a fixed ORPort to make a descriptor from")
                }
                let maker = DescriptorMaker(live: LiveConfig(config), keys: LiveKeys(try db.loadKeys()), orPort: port, address: address, startedAt: Date())
                let (desc, extra) = try maker.make(now: Date(), observedBandwidth: 0, historyLines: [])
                FileHandle.standardError.write(Data("relaynode: nothing published yet; this descriptor was made now\n".utf8))
                print(extraInfo ? extra.text : desc.text, terminator: "")
            }
        }
    }

    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload a descriptor to every DirAuthority and record each answer (exit 1 unless all accept).")
        @OptionGroup var node: NodeOptions
        @Option(help: "Upload this file (a descriptor, optionally followed by its extra-info) instead of the last published one.")
        var file: String?

        func run() async throws {
            let body: [UInt8]
            let db: NodeDatabase
            let config: RelayConfig
            var descriptorId: Int64?
            do {
                config = try node.relayConfig()
                db = try node.openDatabase(create: false)
                guard !config.dirAuthorities.isEmpty else { throw CLIError("no DirAuthority in the config: nowhere to upload") }
                if let file {
                    guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
                    body = Array(data)
                } else {
                    guard let d = try db.latestPublishedDescriptor() else {
                        throw CLIError("nothing published yet: run the relay, or pass --file")
                    }
                    body = Array((d.descriptor + (d.extraInfo ?? "")).utf8)
                    descriptorId = d.id
                }
            } catch let e as RelayStoreError { fail(e.context) }
            catch let e as TorProtocolError { fail(e.context) }
            catch let e as CLIError { fail(e.description) }
            var logger = Logger(label: "relaynode")
            logger.logLevel = .error
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let uploader = DescriptorUploader(authorities: config.dirAuthorities, database: db, group: group, logger: logger)
            let answers = await uploader.upload(body, descriptorId: descriptorId, reason: "relaynode: manual upload")
            try? await group.shutdownGracefully()
            for a in answers {
                print("\(a.upload.authority): \(a.upload.result.rawValue) \(a.upload.status.map(String.init) ?? "-") \(a.upload.message)")
            }
            if answers.contains(where: { $0.upload.result != .accepted }) { throw ExitCode(1) }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what was published, each authority's answers, and how recent consensuses list the relay.")
        @OptionGroup var node: NodeOptions
        @Flag(help: "Print JSON.") var json = false
        @Option(help: "How many upload answers to show.") var limit = 20

        func run() throws {
            try reportingErrors {
                let db = try node.openDatabase(create: false)
                let uploads = try db.recentUploads(limit: limit)
                let published = try db.latestPublishedDescriptor()
                let listings = try db.consensusListings(limit: 5)
                func iso(_ t: Int64) -> String { RelayNode.iso(Date(timeIntervalSince1970: TimeInterval(t))) }
                if json {
                    var out: [String: Any] = [
                        "uploads": uploads.map { u -> [String: Any] in
                            var d: [String: Any] = ["authority": u.authority, "at": iso(u.at), "result": u.result.rawValue, "message": u.message]
                            d["status"] = u.status ?? NSNull()
                            return d
                        },
                        "consensus": listings.map { ["valid_after": iso($0.validAfter), "listed": $0.listed, "flags": $0.flags.split(separator: " ").map(String.init)] as [String: Any] },
                    ]
                    out["published"] = published.map { ["at": iso($0.publishedAt), "digest": $0.digest, "reason": $0.reason] as [String: Any] } ?? NSNull()
                    let data = try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                    return
                }
                if let p = published {
                    print("published  \(iso(p.publishedAt))  digest \(p.digest)  (\(p.reason))")
                } else {
                    print("published  nothing yet")
                }
                for l in listings {
                    print("consensus  \(iso(l.validAfter))  " + (l.listed ? "listed: \(l.flags)" : "not listed"))
                }
                for u in uploads {
                    print("upload     \(iso(u.at))  \(u.authority)  \(u.result.rawValue)  \(u.status.map(String.init) ?? "-")  \(u.message)")
                }
            }
        }
    }
}
