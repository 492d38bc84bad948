import Foundation
import Logging
import NIOCore
import RelayCore
import RelayStore
import ServiceLifecycle
import TorCrypto
import TorProtocol

/// Builds this relay's server descriptor and extra-info document from its config, keys and
/// running state.
struct DescriptorMaker: Sendable {
    /// Read for every descriptor: a SIGHUP may have changed it.
    let live: LiveConfig
    var config: RelayConfig { live.current }
    let keys: LiveKeys
    /// The ORPort as published (the bound port when the config says 0).
    let orPort: Int
    let address: [UInt8]
    let startedAt: Date
    /// AccountingMax: true while hibernating (the descriptor then says so).
    var hibernating: @Sendable () -> Bool = { false }
    static let platform = "relaynode \(RelayNodeCommand.version) on Linux"

    /// The content of a descriptor published at `now`.
    func content(now: Date, observedBandwidth: Int) throws -> ServerDescriptorContent {
        var c = ServerDescriptorContent(
            nickname: config.nickname, address: address, orPort: orPort,
            platform: Self.platform, proto: ServerDescriptor.supportedProtocols, published: now,
            uptime: max(0, Int(now.timeIntervalSince(startedAt))),
            bandwidthRate: config.advertisedBandwidthRate, bandwidthBurst: max(config.effectiveBandwidthBurst, config.advertisedBandwidthRate),
            bandwidthObserved: min(observedBandwidth, config.advertisedBandwidthRate),
            exitPolicy: try config.effectiveExitPolicy())
        c.family = config.myFamily
        c.familyIds = config.familyIds
        c.contact = config.contactInfo
        c.hibernating = hibernating()
        return c
    }

    /// A signed descriptor and extra-info document for `now`.
    func make(now: Date, observedBandwidth: Int, historyLines: [String]) throws -> (ServerDescriptor, ExtraInfoDocument) {
        let k = keys.current
        let extra = try ExtraInfoDocument(nickname: config.nickname, keys: k, published: now, historyLines: historyLines)
        var c = try content(now: now, observedBandwidth: observedBandwidth)
        c.extraInfoDigest = (extra.sha1Hex, extra.sha256Base64)
        return (try ServerDescriptor(content: c, keys: k), extra)
    }

    /// The address to publish: `Address`, else the first ORPort bound to a specific IPv4 address.
    static func publishedAddress(_ config: RelayConfig) -> [UInt8]? {
        if let a = config.address, let b = IPv4Address.bytes(a) { return b }
        for p in config.orPorts { if let b = IPv4Address.bytes(p.host), b != [0, 0, 0, 0] { return b } }
        return nil
    }
}

/// Uploads a descriptor (and extra-info) to every configured directory authority and
/// records each answer in the node database.
struct DescriptorUploader: Sendable {
    let authorities: [DirAuthorityConfig]
    let database: NodeDatabase
    let group: any EventLoopGroup
    let logger: Logger

    struct Answer: Sendable {
        let authority: DirAuthorityConfig
        let upload: DescriptorUpload
    }

    /// SHA-1 of the first descriptor's RSA-signed part: how authorities name it.
    static func signedDigest(_ body: [UInt8]) -> [UInt8]? {
        guard let end = body.firstRange(of: Array("\nrouter-signature\n".utf8)) else { return nil }
        return Digest.sha1(Array(body[..<end.upperBound]))
    }

    func upload(_ body: [UInt8], descriptorId: Int64?, reason: String, to only: [DirAuthorityConfig]? = nil) async -> [Answer] {
        let targets = only ?? authorities
        return await withTaskGroup(of: Answer.self) { tasks in
            for a in targets {
                tasks.addTask {
                    let u: DescriptorUpload
                    do {
                        let r = try await DirectoryHTTPClient.post(host: a.address, port: a.dirPort, path: "/tor/", body: body,
                                                                   extraHeaders: [("X-Desc-Gen-Reason", reason)], group: group)
                        let notNew = r.header("X-Descriptor-Not-New") != nil
                        var result: UploadResult = r.status == 200 ? .accepted : .rejected
                        var message = r.reason + (notNew ? " (not new: the authority already holds this or a newer descriptor)" : "")
                        // CTor answers 200 even when it drops a descriptor it cannot parse
                        // or verify, so acceptance is confirmed by asking for it back.
                        if result == .accepted, !notNew, let digest = Self.signedDigest(body) {
                            let check = try? await DirectoryHTTPClient.get(host: a.address, port: a.dirPort,
                                                                          path: "/tor/server/d/\(digest.upperHexString)", group: group)
                            if let check, check.status == 404 {
                                result = .rejected
                                message += "; but the authority does not hold descriptor \(digest.upperHexString): it dropped it as invalid or not new"
                            } else if let check, check.status == 200 {
                                message += "; stored as \(digest.upperHexString)"
                            }
                        }
                        u = DescriptorUpload(descriptorId: descriptorId, at: Date(), authority: a.label, result: result,
                                             status: r.status, message: message)
                    } catch {
                        u = DescriptorUpload(descriptorId: descriptorId, at: Date(), authority: a.label, result: .failed,
                                             status: nil, message: "\(error)")
                    }
                    return Answer(authority: a, upload: u)
                }
            }
            var out = [Answer]()
            for await a in tasks {
                do {
                    try database.recordUpload(a.upload)
                    try database.recordHealthEvent(.descriptorUpload, ok: a.upload.result == .accepted,
                                                   detail: "\(a.upload.authority): \(a.upload.result.rawValue) \(a.upload.status.map(String.init) ?? "-") \(a.upload.message)")
                } catch {
                    logger.error("cannot record descriptor upload result", metadata: ["error": "\(error)"])
                }
                switch a.upload.result {
                case .accepted:
                    logger.notice("descriptor accepted", metadata: ["authority": "\(a.upload.authority)", "answer": "\(a.upload.message)"])
                case .rejected:
                    logger.warning("descriptor rejected", metadata: ["authority": "\(a.upload.authority)", "status": "\(a.upload.status ?? 0)", "answer": "\(a.upload.message)"])
                case .failed:
                    logger.warning("descriptor upload failed", metadata: ["authority": "\(a.upload.authority)", "error": "\(a.upload.message)"])
                }
                out.append(a)
            }
            return out
        }
    }
}

/// Publishes the descriptor at start, whenever what it says changes, at least every 18
/// hours (CTor's FORCE_REGENERATE_DESCRIPTOR_INTERVAL), and retries authorities whose
/// upload failed.
struct DescriptorPublisher: Service {
    static let forceInterval: TimeInterval = 18 * 3600
    let maker: DescriptorMaker
    let uploader: DescriptorUploader
    let cache: DirectoryCache
    let checkInterval: Duration
    let observedBandwidth: @Sendable () -> Int
    let historyLines: @Sendable (Date) -> [String]
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown { await self.loop() }
    }

    private func loop() async {
        var lastContent: ServerDescriptorContent?
        var lastKeys = [UInt8]()
        var lastPublished = Date.distantPast
        var pending = [DirAuthorityConfig]()
        var lastBody = [UInt8]()
        var lastId: Int64?
        var lastMissingFamily = [String]()
        while !Task.isCancelled {
            let now = Date()
            do {
                var content = try maker.content(now: now, observedBandwidth: observedBandwidth())
                // A FamilyId added by SIGHUP before its key was installed: said once, not repeated.
                let missingFamily = maker.keys.current.missingFamilyKeys(content.familyIds)
                if missingFamily != lastMissingFamily, !missingFamily.isEmpty {
                    logger.warning("FamilyId without its key in the node database: the descriptor cannot prove that family",
                                   metadata: ["family_id": "\(missingFamily.joined(separator: ","))"])
                }
                lastMissingFamily = missingFamily
                // Published time, uptime and small bandwidth changes alone don't warrant a new descriptor.
                var comparable = content
                if let last = lastContent {
                    comparable.published = last.published
                    comparable.uptime = last.uptime
                    // A first non-zero figure goes out at once (a weight of 0 is never chosen);
                    // other changes wait 3 hours and must be at least twofold (as CTor).
                    let firstFigure = last.bandwidthObserved == 0 && content.bandwidthObserved > 0
                    if !firstFigure && (Self.bandwidthSimilar(last.bandwidthObserved, content.bandwidthObserved) || now.timeIntervalSince(lastPublished) < 3 * 3600) {
                        comparable.bandwidthObserved = last.bandwidthObserved
                    }
                }
                let keyState = KeyMaintenance.publicState(maker.keys.current)
                let reason: String? = lastContent == nil ? "start" : keyState != lastKeys ? "keys changed" : comparable != lastContent! ? "changed"
                    : now.timeIntervalSince(lastPublished) >= Self.forceInterval ? "periodic" : nil
                if let reason {
                    let (desc, extra) = try maker.make(now: now, observedBandwidth: content.bandwidthObserved, historyLines: historyLines(now))
                    content.extraInfoDigest = nil
                    lastBody = desc.bytes + Array(extra.text.utf8)
                    lastId = try uploader.database.savePublishedDescriptor(PublishedDescriptor(
                        publishedAt: now, digest: desc.digest.upperHexString, descriptor: desc.text, extraInfo: extra.text, reason: reason))
                    cache.setOwnDescriptor(desc.bytes, extraInfo: Array(extra.text.utf8))
                    lastContent = content
                    lastKeys = keyState
                    lastPublished = now
                    logger.info("publishing descriptor", metadata: ["reason": "\(reason)", "digest": "\(desc.digest.upperHexString)"])
                    pending = uploader.authorities
                }
                if !pending.isEmpty {
                    let answers = await uploader.upload(lastBody, descriptorId: lastId, reason: "relaynode: \(reason ?? "retry")", to: pending)
                    pending = answers.filter { $0.upload.result == .failed }.map(\.authority)
                }
            } catch {
                logger.error("cannot make the descriptor", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: checkInterval)
        }
    }

    static func bandwidthSimilar(_ a: Int, _ b: Int) -> Bool {
        let lo = min(a, b), hi = max(a, b)
        return hi <= 2 * lo + 10 * 1024
    }
}
