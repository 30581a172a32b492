import Logging
import PortReserveProtocol
import SystemCalls
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// What a request may do and what it is answered: the policy of the control socket.
extension Daemon {
    /// Acts on one datagram and returns the datagrams to send back to its sender: none for legacy
    /// requests, whose senders never read, and none for a sender `mayAnswer` refuses. Descriptors
    /// passed with it are the caller's to close (off the loop: `BackgroundCloser`).
    public func handle(_ datagram: ReceivedDatagram) -> [[UInt8]] {
        let replies = act(on: datagram)
        return Self.mayAnswer(datagram) ? replies : []
    }

    /// Whether a reply may go to `datagram`'s sender: only to an abstract address (autobound, as
    /// portrelease and portreserve bind), never to a path, and never to this process. A path can be
    /// re-pointed by whoever owns a directory on it: at our own socket (answering ourselves
    /// forever), or at another service's socket with text the sender chose.
    static func mayAnswer(_ datagram: ReceivedDatagram) -> Bool {
        datagram.sender.pathBytes.first == 0 && datagram.credentials?.pid != getpid()
    }

    private func act(on datagram: ReceivedDatagram) -> [[UInt8]] {
        // The requester is named only where it matters: naming its unit reads /proc.
        let request: Request
        switch RequestCodec.decode(datagram.payload, truncated: datagram.truncated) {
        case .failure(let error):
            if badRequestLog.allows(now: clock()) {
                let sender = Requester(datagram.credentials)
                logger.warning("bad request from \(sender): \(error)", metadata: sender.fields.merging(
                    [JournalFieldName.messageID: "\(MessageID.badRequest)"]) { $1 })
            }
            return error.isReply ? [] : [RequestCodec.encodeError(error)]
        case .success(let decoded): request = decoded
        }
        let sender = Requester(datagram.credentials)
        if let why = refusal(of: request, from: sender) {
            if case .legacyRelease = request { return [] }  // its senders never read
            return [RequestCodec.encodeRefusal(why)]
        }
        switch request {
        case .legacyRelease(let name):
            _ = release([name], from: sender)
            return []
        case .release(let names):
            return RequestCodec.encodeReleaseReply(release(names, from: sender))
        case .reclaim(let names):
            return RequestCodec.encodeReclaimReply(reclaim(names, from: sender))
        case .reload:
            // Answered once the configuration is in force: `systemctl reload` (ExecReload=) waits
            // for this answer, where a SIGHUP would return before the reload is done.
            logger.info("reload asked by \(sender)", metadata: sender.fields)
            reload()
            return [RequestCodec.encodeReloadReply(status: statusText)]
        }
    }

    /// Why `sender` may not make `request` (only root may release, reclaim or reload), or nil. Logged
    /// once per request, within a budget: the names it lists are the sender's to choose.
    private func refusal(of request: Request, from sender: Requester) -> String? {
        guard sender.uid != 0 else { return nil }
        let (action, object, names): (String, String, [String])
        switch request {
        case .legacyRelease(let name): (action, object, names) = ("release", "ports", [name])
        case .release(let list): (action, object, names) = ("release", "ports", list)
        case .reclaim(let list): (action, object, names) = ("reclaim", "ports", list)
        case .reload: (action, object, names) = ("reload", "the configuration", [])
        }
        let why = sender.uid.map { "only root may \(action) \(object) (sender uid \($0))" }
            ?? "only root may \(action) \(object), and the sender is unknown (the control socket needs PassCredentials=yes)"
        if refusalLog.allows(now: clock()) {
            let shown = names.isEmpty ? "" : " " + names.prefix(5).map(printable).joined(separator: " ")
                + (names.count > 5 ? " and \(names.count - 5) more" : "")
            var metadata = sender.fields
            metadata[JournalFieldName.messageID] = "\(MessageID.refused)"
            metadata[JournalFieldName.service] = .array(names.prefix(5).map { "\($0)" })
            logger.warning("refused to \(action)\(shown) for \(sender): \(why)", metadata: metadata)
        }
        return why
    }

    /// Logs how many bad requests and refusals were left out of the journal, once their budget's
    /// window has ended. The loop calls it when it wakes, and wakes for it (`secondsUntilLogSummary`).
    public func logSuppressed() {
        let now = clock()
        if let count = badRequestLog.takeSuppressed(now: now) {
            logger.warning("\(count) more bad requests in the last \(badRequestLog.window) s were not logged",
                           metadata: [JournalFieldName.messageID: "\(MessageID.badRequest)", JournalFieldName.suppressed: "\(count)"])
        }
        if let count = refusalLog.takeSuppressed(now: now) {
            logger.warning("\(count) more refused requests in the last \(refusalLog.window) s were not logged",
                           metadata: [JournalFieldName.messageID: "\(MessageID.refused)", JournalFieldName.suppressed: "\(count)"])
        }
        if let count = unknownNameLog.takeSuppressed(now: now) {
            logger.info("\(count) more releases of names nothing is reserved under in the last \(unknownNameLog.window) s were not logged",
                        metadata: [JournalFieldName.suppressed: "\(count)"])
        }
    }

    /// Seconds until `logSuppressed` has something to say, or nil.
    public var secondsUntilLogSummary: Int? {
        let due = [badRequestLog.summaryDue, refusalLog.summaryDue, unknownNameLog.summaryDue].compactMap { $0 }.min()
        return due.map { max(0, $0 - clock()) }
    }

    /// Takes a released service's ports back (its real service has stopped) and forgets that it was
    /// released, so nothing else can take them until it starts again. What is still held stays
    /// held; a socket that cannot be bound now (a TIME_WAIT, another holder) is tried again later,
    /// and the reply names it with when.
    private func reclaim(_ requested: [String], from sender: Requester) -> [(String, ReclaimReply)] {
        statusChanged = true
        let names = requested.contains("*") ? table.serviceNames : requested
        do { try settings.releasedRecord.remove(names) } catch {
            logger.warning("cannot update the record of released services: \(error)")
        }
        var replies: [(String, ReclaimReply)] = []
        var failures: [String] = []
        var events: [ReservationEvent] = []
        for name in names {
            guard let reclaimed = table.reclaim(name) else {
                replies.append((name, .unknown))
                continue
            }
            events += reclaimed
            var held: [SocketSlot] = []
            var notHeld: [NotHeldSocket] = []
            for (slot, state) in table.sockets(of: name) {
                switch state {
                case .held: held.append(slot)
                case .conflict(let error, _), .failed(let error):
                    let retry = table.retryDelay(slot).map { ($0 + 999) / 1000 }
                    notHeld.append(NotHeldSocket(slot: slot, reason: error.reason, retryInSeconds: retry))
                case .released:
                    notHeld.append(NotHeldSocket(slot: slot, reason: "released for another service", retryInSeconds: nil))
                }
            }
            replies.append((name, .reclaimed(held: held, notHeld: notHeld)))
            var metadata = fields(name).merging(sender.fields) { $1 }
            metadata[JournalFieldName.messageID] = "\(MessageID.reserved)"
            let missing = notHeld.isEmpty ? "" : "; not held yet, retrying: "
                + notHeld.map { "\($0.slot) (\($0.reason))" }.joined(separator: ", ")
            logger.info("reclaimed \(name) for \(sender): holding \(held.count) of its \(held.count + notHeld.count) sockets\(missing)",
                        metadata: metadata)
        }
        record(events, failures: &failures)
        reportFailures(failures)
        serviceManager.notify([.status(statusText)])
        return replies
    }

    private func release(_ requested: [String], from sender: Requester) -> [(String, ReleaseReply)] {
        statusChanged = true
        let names = requested.contains("*") ? table.serviceNames : requested
        // Recorded before closing: a crash in between must not hand the ports back at restart.
        let toRecord = names.filter { table.isReleased($0) == false }
        do { try settings.releasedRecord.append(toRecord) } catch {
            logger.warning("cannot record released services: \(error)")
        }
        var replies: [(String, ReleaseReply)] = []
        let everything = requested.contains("*")
        var releasedByStar: [String] = []
        var unknown: [String] = []
        for name in names {
            let result = table.release(name, unit: sender.unit)
            if case .released(let ports) = result { for port in ports { store.remove(port) } }
            switch result {
            case .released(let ports) where everything:
                replies.append((name, .released(ports)))
                releasedByStar.append(name)
            case .released(let ports):
                replies.append((name, .released(ports)))
                var metadata = fields(name).merging(sender.fields) { $1 }
                metadata[JournalFieldName.messageID] = "\(MessageID.released)"
                metadata[JournalFieldName.port] = .array(ports.map { "\($0.port)" })
                metadata[JournalFieldName.transport] = .array(ports.map { "\($0.transport.rawValue)" })
                logger.info("released \(name) (\(ports.map(\.description).joined(separator: " "))) for \(sender)", metadata: metadata)
            case .alreadyReleased:
                replies.append((name, .alreadyReleased))
                logger.debug("\(name) was already released", metadata: fields(name))
            case .unknown:
                replies.append((name, .unknown))
                unknown.append(name)
            }
        }
        // One entry per request, however many names it lists that nothing is reserved under.
        if !unknown.isEmpty && unknownNameLog.allows(now: clock()) {
            let shown = unknown.prefix(5).map(printable).joined(separator: " ") + (unknown.count > 5 ? " and \(unknown.count - 5) more" : "")
            var metadata = sender.fields
            metadata[JournalFieldName.service] = .array(unknown.prefix(5).map { "\($0)" })
            logger.info("nothing is reserved under the name\(unknown.count > 1 ? "s" : "") \(shown) (asked by \(sender))", metadata: metadata)
        }
        logReleaseOfEverything(releasedByStar, from: sender)
        // The copies in systemd's store hold the ports too: answer only once they are closed.
        store.confirmRemovals()
        serviceManager.notify([.status(statusText)])
        return replies
    }

    /// `*` gets one entry per `servicesPerEntry` services, each naming them all in repeated
    /// PORTRESERVE_SERVICE= fields (so `journalctl PORTRESERVE_SERVICE=cups` still finds it), rather
    /// than an entry per service: at 5,000 services the entries cost more than the releases.
    private func logReleaseOfEverything(_ names: [String], from sender: Requester) {
        var start = 0
        while start < names.count {
            let chunk = names[start..<min(start + servicesPerEntry, names.count)]
            var metadata = sender.fields
            metadata[JournalFieldName.messageID] = "\(MessageID.released)"
            metadata[JournalFieldName.service] = .array(chunk.map { "\($0)" })
            let part = names.count > servicesPerEntry ? " (\(start + 1)-\(start + chunk.count) of \(names.count))" : ""
            logger.info("released \(chunk.count) services\(part) on a request for every service (*) by \(sender): \(chunk.joined(separator: " "))",
                        metadata: metadata)
            start += chunk.count
        }
    }
}
