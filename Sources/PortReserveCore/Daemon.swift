import Logging
import PortReserveConfiguration
import PortReserveProtocol
import SystemCalls
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// Where the daemon reads its configuration, keeps its record and publishes its status.
public struct DaemonSettings: Sendable {
    public var configuration: ConfigurationLoader
    public var state: StateDirectory
    public var releasedRecord: ReleasedRecord { ReleasedRecord(state) }
    /// nil: IPv4 and IPv6, or IPv4 alone where the kernel has no IPv6.
    public var families: [AddressFamily]?
    /// The most sockets copied into systemd's descriptor store (0: none). See `DescriptorStore`.
    public var descriptorStoreLimit: Int

    /// Keep the unit's FileDescriptorStoreMax= at least this.
    public static let defaultDescriptorStoreLimit = 1024

    public init(configuration: ConfigurationLoader, state: StateDirectory, families: [AddressFamily]? = nil,
                descriptorStoreLimit: Int = defaultDescriptorStoreLimit) {
        self.configuration = configuration
        self.state = state
        self.families = families
        self.descriptorStoreLimit = descriptorStoreLimit
    }
}

/// The daemon's decisions: what to reserve, what a request may do, what to answer and what to tell
/// systemd and the journal. It has no loop and no socket of its own, so tests drive it directly;
/// `DaemonLoop` feeds it datagrams.
public final class Daemon {
    private let settings: DaemonSettings
    private let serviceManager: ServiceManaging
    private let logger: Logger
    public let table: ReservationTable
    private let store: DescriptorStore
    /// The configuration in force, per service: reclaim re-reserves from it.
    private var configured: [String: ServiceConfiguration] = [:]
    /// How many sockets left out of the descriptor store the journal has been told about.
    private var leftOutReported = 0
    /// Bad datagrams and refused senders are anyone's to send: their journal entries are budgeted.
    private var badRequestLog = LogBudget(limit: 10, window: 60)
    private var refusalLog = LogBudget(limit: 10, window: 60)
    /// Releases of names nothing is reserved under change nothing: budgeted too, so that even root
    /// asking in a loop cannot flood the journal with them.
    private var unknownNameLog = LogBudget(limit: 10, window: 60)
    /// Seconds on a clock that only goes forward; settable for tests.
    var clock: () -> Int = { Int(monotonicSeconds()) }
    /// The published status is behind the table: `publishStatus()` has work to do.
    public private(set) var statusChanged = true
    private let startedAt = Int(time(nil))

    public init(settings: DaemonSettings, serviceManager: ServiceManaging, logger: Logger) {
        self.settings = settings
        self.serviceManager = serviceManager
        self.logger = logger
        let store = DescriptorStore(manager: serviceManager, limit: settings.descriptorStoreLimit)
        self.store = store
        let families = settings.families ?? (InternetSockets.kernelHasIPv6() ? [.ipv4, .ipv6] : [.ipv4])
        // A socket systemd kept for us is taken back rather than bound: binding would fail, as
        // systemd's copy holds the port.
        self.table = ReservationTable(families: families) { key, family, _ throws(SystemError) -> CInt in
            if let fd = store.takeAdopted(SocketSlot(key, family)) { return fd }
            return try InternetSockets.reserve(key, family)
        }
    }

    /// Reads the configuration, takes back the sockets systemd kept in its descriptor store
    /// (`stored`) or binds them, and only then tells systemd it is ready. Returns false, without
    /// READY=1, when `interrupted` said so while the configuration was read (a SIGTERM during a
    /// long start-up must not wait for it).
    @discardableResult
    public func start(adopting stored: [ListenedDescriptor] = [], interrupted: () -> Bool = { false }) -> Bool {
        if !table.families.contains(.ipv6) && settings.families == nil {
            logger.notice("this kernel has no IPv6: reserving IPv4 ports only")
        }
        for message in store.adopt(stored) { logger.warning("\(message)") }
        guard let configuration = loadConfiguration(interrupted: interrupted) else { return false }
        let released = loadReleased()
        // An upper bound (shared ports count once per service): it only sizes RLIMIT_NOFILE.
        let portsNamed = configuration.services.reduce(0) { $0 + $1.ports.count }
        let socketsNeeded = portsNamed * table.families.count
        table.reserveCapacity(services: configuration.services.count, ports: portsNamed)
        configured.reserveCapacity(configuration.services.count)
        ResourceLimits.ensureDescriptors(socketsNeeded + 64, logger: logger)
        table.socketLimit = ResourceLimits.socketBudget() + stored.count
        // Binding comes first and alone: READY=1 is sent the moment every port is bound, and the
        // descriptor store copies and the journal entries follow. Neither can be lost by that
        // order: SIGTERM is read only after this function, and systemd handles the store messages
        // queued before an exit before it handles the exit.
        var events: [ReservationEvent] = []
        var skipped: [String] = []
        for service in configuration.services {
            configured[service.name] = service
            if released.contains(service.name) {
                table.addReleased(service)
                skipped.append(service.name)
                continue
            }
            events += table.add(service)
        }
        let discarded = store.discardUnclaimed()
        // Published before READY=1: `systemctl start portreserve && portreserve status` must see
        // this daemon, not the last one.
        publishStatus()
        serviceManager.notify([.ready, .status(statusText)])
        forwardToStore(events)
        var failures: [String] = []
        for name in skipped {
            logger.info("\(name) was released earlier in this boot: not reserving it again", metadata: fields(name))
        }
        for event in events { log(event, failures: &failures) }
        reportFailures(failures)
        reportLeftOutOfStore()
        let adoptedCount = stored.count
        for slot in discarded {
            logger.info("gave up \(slot) that the service manager kept: no unreleased service names it any more")
        }
        let summary = table.summary()
        logger.info("ready: \(statusText)\(adoptedCount > 0 ? " (\(adoptedCount) sockets taken back from the service manager)" : "")",
                    metadata: [
                        JournalFieldName.messageID: "\(MessageID.ready)", JournalFieldName.ports: "\(summary.ports)",
                        JournalFieldName.services: "\(summary.services)", JournalFieldName.sockets: "\(summary.sockets)",
                        JournalFieldName.retrying: "\(summary.retrying)",
                    ])
        return true
    }

    /// Re-reads the configuration. New services are reserved and services whose files are gone
    /// are given up; reservations that did not change are never closed and opened again, and
    /// released services stay released. A file with problems keeps its old reservations. Returns
    /// false, with every reservation as it was, when `interrupted` said so while the configuration
    /// was read: the caller is stopping.
    @discardableResult
    public func reload(interrupted: () -> Bool = { false }) -> Bool {
        serviceManager.notify([ServiceManager.reloading()])
        guard let configuration = loadConfiguration(interrupted: interrupted) else {
            logger.notice("reload abandoned while the configuration was read: asked to stop; no reservation changed")
            return false
        }
        statusChanged = true
        let released = loadReleased()
        let broken = Set(configuration.problems.map(\.file))
        let names = Set(configuration.services.map(\.name))
        var failures: [String] = []
        for name in table.serviceNames where !names.contains(name) {
            if let file = table.file(of: name), broken.contains(file) {
                logger.warning("keeping the reservations of \(name): \(file) cannot be read", metadata: fields(name))
                continue
            }
            logger.info("\(name) is no longer configured: giving it up", metadata: fields(name))
            configured[name] = nil
            record(table.forget(name), failures: &failures)
        }
        for service in configuration.services {
            if table.isReleased(service.name) != nil {
                if broken.contains(service.file) {
                    logger.warning("keeping the old reservations of \(service.name): \(service.file) has problems (see above)",
                                   metadata: fields(service.name))
                    continue
                }
                configured[service.name] = service
                record(table.update(service), failures: &failures)
            } else if released.contains(service.name) {
                configured[service.name] = service
                table.addReleased(service)
            } else {
                configured[service.name] = service
                record(table.add(service), failures: &failures)
            }
        }
        reportFailures(failures)
        reportLeftOutOfStore()
        logger.info("reloaded: \(statusText)", metadata: [JournalFieldName.messageID: "\(MessageID.ready)"])
        publishStatus()
        serviceManager.notify([.ready, .status(statusText)])
        return true
    }

    /// The most problems of one file the journal is told one by one; `portreserve check` lists them all.
    static let problemsLoggedPerFile = 5

    /// The configuration, its problems logged (a few per file: a file of junk must not flood the
    /// journal); nil when `interrupted` stopped the reading.
    private func loadConfiguration(interrupted: () -> Bool = { false }) -> Configuration? {
        guard let configuration = settings.configuration.load(interrupted: interrupted) else { return nil }
        var perFile: [String: Int] = [:]
        for problem in configuration.problems {
            perFile[problem.file, default: 0] += 1
            guard perFile[problem.file]! <= Self.problemsLoggedPerFile else { continue }
            logger.warning("\(problem)", metadata: [
                JournalFieldName.messageID: "\(MessageID.configurationProblem)", JournalFieldName.file: "\(problem.file)",
                JournalFieldName.line: "\(problem.line.map(String.init) ?? "")",
            ])
        }
        for (file, count) in perFile.sorted(by: { $0.key < $1.key }) where count > Self.problemsLoggedPerFile {
            logger.warning("\(printable(file)): \(count - Self.problemsLoggedPerFile) more problems not logged (portreserve check lists them all)",
                           metadata: [JournalFieldName.messageID: "\(MessageID.configurationProblem)", JournalFieldName.file: "\(file)"])
        }
        return configuration
    }

    /// The services released earlier in this boot. A record that cannot be trusted (a link, a
    /// FIFO, a huge file, a directory that is not ours) counts as empty: every service is
    /// reserved again, and a port its running service holds is a conflict, never taken from it.
    private func loadReleased() -> Set<String> {
        do {
            let contents = try settings.releasedRecord.load()
            if contents.badLines > 0 {
                logger.warning("skipped \(contents.badLines) lines of the record of released services that name no service: \(contents.problems.joined(separator: "; "))")
            }
            return contents.names
        } catch {
            logger.error("cannot read the record of released services: \(error); reserving every configured service")
            return []
        }
    }

    private func reportLeftOutOfStore() {
        guard store.leftOut > leftOutReported else { return }
        leftOutReported = store.leftOut
        let text = "systemd's descriptor store keeps copies of \(store.storedCount) sockets, the limit being \(store.limit) "
            + "(--fd-store-max); \(store.leftOut) more are held but not stored, so a restart of portreserve leaves "
            + "their ports free for a moment. systemd's cost of storing grows with the square of the count."
        logger.notice("\(text)")
    }

    private func reportFailures(_ failures: [String]) {
        guard !failures.isEmpty else { return }
        logger.error("could not hold \(failures.count) sockets: \(failures.prefix(5).joined(separator: ", "))\(failures.count > 5 ? ", ..." : "")",
                     metadata: [JournalFieldName.messageID: "\(MessageID.notHeld)"])
    }

    /// "Holding 7 sockets on 4 ports for 2 services, 1 retrying", for STATUS= and the journal.
    /// Sockets, not ports: a port held in one family only is not held, and this line must agree
    /// with what a bind attempt shows.
    public var statusText: String {
        let summary = table.summary()
        return "Holding \(summary.sockets) sockets on \(summary.ports) ports for \(summary.services) services, \(summary.retrying) retrying"
    }

    /// Tries again the sockets whose bind attempt is due; logs those held at last. The loop calls
    /// it when it wakes, and wakes for it (`millisecondsUntilRetry`).
    public func retryDue() {
        let events = table.retryDue()
        guard !events.isEmpty else { return }
        statusChanged = true
        var failures: [String] = []
        record(events, failures: &failures)
        serviceManager.notify([.status(statusText)])
    }

    /// Milliseconds until a bind attempt is due, nil when every configured socket is held or released.
    public var millisecondsUntilRetry: Int? { table.millisecondsUntilRetry }

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
        }
    }

    /// Why `sender` may not make `request` (only root may release or reclaim), or nil. Logged
    /// once per request, within a budget: the names it lists are the sender's to choose.
    private func refusal(of request: Request, from sender: Requester) -> String? {
        guard sender.uid != 0 else { return nil }
        let (action, names): (String, [String])
        switch request {
        case .legacyRelease(let name): (action, names) = ("release", [name])
        case .release(let list): (action, names) = ("release", list)
        case .reclaim(let list): (action, names) = ("reclaim", list)
        }
        let why = sender.uid.map { "only root may \(action) ports (sender uid \($0))" }
            ?? "only root may \(action) ports, and the sender is unknown (the control socket needs PassCredentials=yes)"
        if refusalLog.allows(now: clock()) {
            let shown = names.prefix(5).map(printable).joined(separator: " ") + (names.count > 5 ? " and \(names.count - 5) more" : "")
            var metadata = sender.fields
            metadata[JournalFieldName.messageID] = "\(MessageID.refused)"
            metadata[JournalFieldName.service] = .array(names.prefix(5).map { "\($0)" })
            logger.warning("refused to \(action) \(shown) for \(sender): \(why)", metadata: metadata)
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

    /// Writes the status file when the table changed since it was last written: before READY=1,
    /// and once per batch of requests, before their replies go out.
    public func publishStatus(stopped reason: String? = nil) {
        guard statusChanged || reason != nil else { return }
        statusChanged = false
        let file = StatusFile(
            publisher: StatusFile.Publisher(pid: getpid(), state: reason.map { .stopped(reason: $0) } ?? .running,
                                            since: reason == nil ? startedAt : Int(time(nil))),
            summary: table.summary(), rows: table.status().map(\.published))
        do { try settings.state.publish(StatusFile.fileName, file.encoded()) } catch {
            logger.warning("cannot publish the status: \(error)")
        }
    }

    /// Takes a released service's ports back (its real service has stopped) and forgets that it was
    /// released, so nothing else can take them until it starts again. What is still held stays
    /// held; a socket that cannot be bound now (a TIME_WAIT, another holder) is tried again later,
    /// and the reply names it with when.
    private func reclaim(_ requested: [String], from sender: Requester) -> [(String, ReclaimReply)] {
        statusChanged = true
        let names = requested.contains("*") ? configured.keys.sorted() : requested
        do { try settings.releasedRecord.remove(names) } catch {
            logger.warning("cannot update the record of released services: \(error)")
        }
        var replies: [(String, ReclaimReply)] = []
        var failures: [String] = []
        for name in names {
            guard let service = configured[name] else {
                replies.append((name, .unknown))
                continue
            }
            record(table.reclaim(service), failures: &failures)
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
        reportFailures(failures)
        serviceManager.notify([.status(statusText)])
        return replies
    }

    /// Closes everything on shutdown.
    public func stop(reason: String) {
        serviceManager.notify([.stopping, .status("Stopping: \(reason)")])
        table.closeAll()
        publishStatus(stopped: reason)
        logger.info("stopping: \(reason)", metadata: [JournalFieldName.messageID: "\(MessageID.stopping)"])
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

    /// The most services one journal entry names: journald drops entries of more than 1,024
    /// fields, and a MESSAGE that lists them stays readable. Settable for tests.
    var servicesPerEntry = 250

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

    /// Gives systemd's descriptor store copies of what the table bound, and drops what it closed.
    private func forwardToStore(_ events: [ReservationEvent]) {
        for event in events {
            switch event {
            case .reserved(let service, let key, let sockets): store.store(sockets.map(\.descriptor), key, service: service)
            case .heldAgain(let service, let slot, let descriptor, _): store.store([descriptor], slot.key, service: service)
            case .givenUp(_, let key): store.remove(key)
            case .shared, .conflict, .failed: break
            }
        }
    }

    /// What the table did, to the descriptor store first, then to the journal.
    private func record(_ events: [ReservationEvent], failures: inout [String]) {
        forwardToStore(events)
        for event in events { log(event, failures: &failures) }
    }

    private func log(_ event: ReservationEvent, failures: inout [String]) {
        switch event {
        case .reserved(let service, let key, _):
            let families = event.families
            var metadata = fields(service, key)
            metadata[JournalFieldName.messageID] = "\(MessageID.reserved)"
            metadata[JournalFieldName.family] = .array(families.map { "\($0.rawValue)" })
            logger.info("reserved \(key) (\(families.map(\.rawValue).joined(separator: ", "))) for \(service)", metadata: metadata)
        case .shared(let service, let key, let other):
            logger.info("\(key) of \(service) is already held for \(other): shared", metadata: fields(service, key))
        case .conflict(let service, let key, let family, let error, let holder):
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

    private func fields(_ service: String, _ key: PortKey? = nil) -> Logger.Metadata {
        var metadata: Logger.Metadata = [JournalFieldName.service: "\(service)"]
        if let key {
            metadata[JournalFieldName.port] = "\(key.port)"
            metadata[JournalFieldName.transport] = "\(key.transport.rawValue)"
        }
        return metadata
    }
}

/// Who sent a request, from the kernel's credentials, for decisions and for the journal.
struct Requester: CustomStringConvertible {
    let pid: pid_t?
    let uid: uid_t?
    let unit: String?

    init(_ credentials: PeerCredentials?) {
        // pid 0 is the kernel's filler for a datagram queued before SO_PASSCRED was on: the
        // sender is unknown, and its uid reads as the overflow uid, not as who really sent it.
        let known = credentials.flatMap { $0.pid > 0 ? $0 : nil }
        pid = known?.pid
        uid = known?.uid
        unit = known.flatMap { Units.unit(of: $0.pid) }
    }

    var description: String {
        guard let pid, let uid else { return "an unknown sender" }
        return "pid \(pid) uid \(uid)" + (unit.map { " (\(printable($0)))" } ?? "")
    }

    var fields: Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let pid { metadata[JournalFieldName.requesterPID] = "\(pid)" }
        if let uid { metadata[JournalFieldName.requesterUID] = "\(uid)" }
        if let unit { metadata[JournalFieldName.requesterUnit] = "\(unit)" }
        return metadata
    }
}
