import Logging
import PortReserveProtocol

/// How the daemon's events read in the journal: its MESSAGE and its fields.
extension Daemon {
    func log(_ event: ReservationEvent, holders: [SocketSlot: String], failures: inout [String]) {
        switch event {
        case .reserved(let service, let key, _):
            let families = event.families
            var metadata = fields(service, key)
            metadata[JournalFieldName.messageID] = "\(MessageID.reserved)"
            metadata[JournalFieldName.family] = .array(families.map { "\($0.rawValue)" })
            logger.info("reserved \(key) (\(families.map(\.rawValue).joined(separator: ", "))) for \(service)", metadata: metadata)
        case .shared(let service, let key, let other):
            logger.info("\(key) of \(service) is already held for \(other): shared", metadata: fields(service, key))
        case .conflict(let service, let key, let family, let error):
            let holder = holders[SocketSlot(key, family)]
            var metadata = fields(service, key)
            metadata[JournalFieldName.messageID] = "\(MessageID.conflict)"
            metadata[JournalFieldName.family] = "\(family.rawValue)"
            if let holder { metadata[JournalFieldName.holder] = "\(holder)" }
            logger.warning("conflict: cannot reserve \(InternetSockets.describe(key, family)) for \(service): \(error.reason)\(holder.map { ", held by " + $0 } ?? "")",
                           metadata: metadata)
        case .heldAgain(let service, let slot, _, let attempts):
            var metadata = fields(service, slot.key)
            metadata[JournalFieldName.messageID] = "\(MessageID.reserved)"
            metadata[JournalFieldName.family] = "\(slot.family.rawValue)"
            logger.notice("holding \(slot) for \(service) at last, after \(attempts) attempts", metadata: metadata)
        case .releasedWith(let released, let key):
            var metadata = fields(released, key)
            metadata[JournalFieldName.messageID] = "\(MessageID.released)"
            logger.info("gave up \(key): \(released), which names it too, was released earlier in this boot", metadata: metadata)
        case .givenUp(let service, let key):
            var metadata = fields(service, key)
            metadata[JournalFieldName.messageID] = "\(MessageID.released)"
            logger.info("gave up \(key): no configured service names it any more (it was \(service)'s)", metadata: metadata)
        case .failed(let service, let key, let family, let error):
            failures.append("\(InternetSockets.describe(key, family)) for \(service) (\(error.reason))")
            var metadata = fields(service, key)
            metadata[JournalFieldName.messageID] = "\(MessageID.notHeld)"
            metadata[JournalFieldName.family] = "\(family.rawValue)"
            logger.debug("cannot hold \(InternetSockets.describe(key, family)) for \(service): \(error)", metadata: metadata)
        }
    }

    func fields(_ service: String, _ key: PortKey? = nil) -> Logger.Metadata {
        var metadata: Logger.Metadata = [JournalFieldName.service: "\(service)"]
        if let key {
            metadata[JournalFieldName.port] = "\(key.port)"
            metadata[JournalFieldName.transport] = "\(key.transport.rawValue)"
        }
        return metadata
    }
}
