import Logging
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
    let settings: DaemonSettings
    let serviceManager: ServiceManaging
    let logger: Logger
    let table: ReservationTable
    let store: DescriptorStore
    /// How many sockets left out of the descriptor store the journal has been told about.
    private var leftOutReported = 0
    /// Bad datagrams and refused senders are anyone's to send: their journal entries are budgeted.
    var badRequestLog = LogBudget(limit: 10, window: 60)
    var refusalLog = LogBudget(limit: 10, window: 60)
    /// Releases of names nothing is reserved under change nothing: budgeted too, so that even root
    /// asking in a loop cannot flood the journal with them.
    var unknownNameLog = LogBudget(limit: 10, window: 60)
    /// Seconds on a clock that only goes forward; settable for tests.
    var clock: () -> Int = { Int(monotonicSeconds()) }
    /// The published status is behind the table: `publishStatus()` has work to do.
    public internal(set) var statusChanged = true
    private let startedAt = Int(time(nil))
    /// The most services one journal entry names: journald drops entries of more than 1,024
    /// fields, and a MESSAGE that lists them stays readable. Settable for tests.
    var servicesPerEntry = 250

    public init(settings: DaemonSettings, serviceManager: ServiceManaging, logger: Logger) {
        self.settings = settings
        self.serviceManager = serviceManager
        self.logger = logger
        let store = DescriptorStore(manager: serviceManager, limit: settings.descriptorStoreLimit)
        self.store = store
        let families = settings.families ?? (InternetSockets.kernelHasIPv6() ? [.ipv4, .ipv6] : [.ipv4])
        // A socket systemd kept for us is taken back rather than bound: binding would fail, as
        // systemd's copy holds the port.
        self.table = ReservationTable(families: families) { key, family, service throws(SystemError) -> CInt in
            if let fd = store.takeAdopted(SocketSlot(key, family), for: service) { return fd }
            return try InternetSockets.reserve(key, family)
        }
    }

    /// Reads the configuration, takes back the sockets systemd kept in its descriptor store
    /// (`stored`) or binds them, and only then tells systemd it is ready. Returns false, without
    /// READY=1, when `interrupted` said so while the configuration was read (a SIGTERM during a
    /// long start-up must not wait for it).
    @discardableResult
    public func start(adopting stored: [ListenedDescriptor] = [], interrupted: () -> Bool = { false }) -> Bool {
        let started = reserveEverything(adopting: stored, interrupted: interrupted)
        // The heap pages of the start-up's transient work (the configuration, the files' bytes,
        // the events, the journal entries) would otherwise stay resident for the whole boot:
        // given back here, once all of it is out of scope (benchmarks/README.md).
        returnFreedHeapMemory()
        return started
    }

    private func reserveEverything(adopting stored: [ListenedDescriptor], interrupted: () -> Bool) -> Bool {
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
        ResourceLimits.ensureDescriptors(socketsNeeded + 64, logger: logger)
        table.socketLimit = ResourceLimits.socketBudget() + stored.count
        // Binding comes first and alone: READY=1 is sent the moment every port is bound, and the
        // descriptor store copies and the journal entries follow. Neither can be lost by that
        // order: SIGTERM is read only after this function, and systemd handles the store messages
        // queued before an exit before it handles the exit.
        // The released services first: a port one of them names is given up, and binding it for
        // another service that names it too would only close it again.
        var events: [ReservationEvent] = []
        var skipped: [String] = []
        for service in configuration.services where released.contains(service.name) {
            events += table.addReleased(service)
            skipped.append(service.name)
        }
        for service in configuration.services where !released.contains(service.name) {
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
        journal(events, failures: &failures)
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
        let reloaded = reloadConfiguration(interrupted: interrupted)
        returnFreedHeapMemory()  // as after start-up
        return reloaded
    }

    private func reloadConfiguration(interrupted: () -> Bool) -> Bool {
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
        var events: [ReservationEvent] = []
        for name in table.serviceNames where !names.contains(name) {
            if let file = configuration.unreadable[name] {
                logger.warning("keeping the reservations of \(name): \(file) cannot be read", metadata: fields(name))
                continue
            }
            logger.info("\(name) is no longer configured: giving it up", metadata: fields(name))
            events += table.forget(name)
        }
        for service in configuration.services {
            if table.isReleased(service.name) != nil {
                if broken.contains(service.file) {
                    logger.warning("keeping the old reservations of \(service.name): \(service.file) has problems (see above)",
                                   metadata: fields(service.name))
                    continue
                }
                events += table.update(service)
            } else if released.contains(service.name) {
                events += table.addReleased(service)
            } else {
                events += table.add(service)
            }
        }
        record(events, failures: &failures)
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
    func loadReleased() -> Set<String> {
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

    func reportFailures(_ failures: [String]) {
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

    /// Closes everything on shutdown.
    public func stop(reason: String) {
        serviceManager.notify([.stopping, .status("Stopping: \(reason)")])
        table.closeAll()
        publishStatus(stopped: reason)
        logger.info("stopping: \(reason)", metadata: [JournalFieldName.messageID: "\(MessageID.stopping)"])
    }

    /// Gives systemd's descriptor store copies of what the table bound, and drops what it closed.
    private func forwardToStore(_ events: [ReservationEvent]) {
        for event in events {
            switch event {
            case .reserved(let service, let key, let sockets): store.store(sockets.map(\.descriptor), key, service: service)
            case .heldAgain(let service, let slot, let descriptor, _): store.store([descriptor], slot.key, service: service)
            case .givenUp(_, let key), .releasedWith(_, let key): store.remove(key)
            case .shared, .conflict, .failed: break
            }
        }
    }

    /// What the table did, to the descriptor store first, then to the journal.
    func record(_ events: [ReservationEvent], failures: inout [String]) {
        forwardToStore(events)
        journal(events, failures: &failures)
    }

    /// Logs `events`, naming who holds the ports of their conflicts: one scan of /proc for the
    /// whole batch, however many conflicts (4,975 conflicts at start-up, one scan each, took 27 s).
    private func journal(_ events: [ReservationEvent], failures: inout [String]) {
        let holders = table.nameHolders()
        if !holders.isEmpty { statusChanged = true }
        for event in events { log(event, holders: holders, failures: &failures) }
    }
}
