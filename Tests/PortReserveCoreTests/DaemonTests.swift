import Foundation
import Logging
import SystemCalls
import Systemd
import Testing
import TestSupport

import PortReserveProtocol
@testable import PortReserveCore

/// A daemon on `directory/conf`, recording into `manager`, with its record in `directory`.
func makeTestDaemon(in directory: TemporaryDirectory, manager: ServiceManaging,
                    log: LogRecorder? = nil, storeLimit: Int = DaemonSettings.defaultDescriptorStoreLimit,
                    families: [AddressFamily] = [.ipv4, .ipv6]) -> Daemon {
    Daemon(
        settings: DaemonSettings(
            configuration: ConfigurationLoader(directories: [directory.path + "/conf"], servicesDatabase: testDatabase),
            state: StateDirectory(path: directory.path + "/state"), families: families,
            descriptorStoreLimit: storeLimit),
        serviceManager: manager, logger: Logger(label: "test") { _ in
            log.map { RecordingLogHandler(recorder: $0) as LogHandler } ?? SwiftLogNoOpLogHandler()
        })
}

/// What the daemon logged, entry by entry.
final class LogRecorder: @unchecked Sendable {
    var entries: [(message: String, metadata: Logger.Metadata)] = []
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recorder.entries.append(("\(event.message)", event.metadata ?? [:]))
    }
}

/// A request datagram as the kernel would deliver it, from `uid`.
func request(_ request: Request, uid: uid_t = 0, from sender: UnixAddress = UnixAddress(pathBytes: [0, 65])) -> ReceivedDatagram {
    ReceivedDatagram(payload: RequestCodec.encode(request), sender: sender, credentials: PeerCredentials(pid: 4242, uid: uid, gid: uid))
}

/// Records what the daemon tells systemd, and whether the ports were already held at READY=1.
final class RecordingServiceManager: ServiceManaging {
    var messages: [[NotifyMessage]] = []
    var heldAtReady: Bool?
    let isHeld: () -> Bool

    init(checking isHeld: @escaping () -> Bool) { self.isHeld = isHeld }

    var stored: [(name: String, fds: [CInt])] = []
    /// The FDNAMEs of every FDSTOREREMOVE sent.
    var storeRemovals: [String] {
        messages.flatMap { $0 }.compactMap { message in
            if case .fdStoreRemove(let name) = message { return name }
            return nil
        }
    }
    let isListening = true
    var barriers = 0
    /// Everything the daemon told the manager, in order, one word each: READY, STATUS, STORE,
    /// REMOVE, BARRIER (and RELOADING, STOPPING): what ordering tests read.
    var log: [String] = []

    func notify(_ messages: [NotifyMessage], descriptors: [CInt]) {
        for message in messages {
            switch message {
            case .ready: log.append("READY")
            case .status: log.append("STATUS")
            case .fdStore: log.append("STORE")
            case .fdStoreRemove: log.append("REMOVE")
            case .reloading: log.append("RELOADING")
            case .stopping: log.append("STOPPING")
            default: log.append("OTHER")
            }
        }
        if messages.contains(.ready) { heldAtReady = isHeld() }
        if case .fdStore(let name, poll: false) = messages.first, !descriptors.isEmpty {
            stored.append((name, descriptors))  // kept in a log of its own, not among the status messages
            return
        }
        self.messages.append(messages)
    }

    func barrier() {
        barriers += 1
        log.append("BARRIER")
    }
}

@Suite struct DaemonTests {
    let directory: TemporaryDirectory
    let ports: [UInt16]
    let manager: RecordingServiceManager

    init() throws {
        directory = try TemporaryDirectory("daemon")
        ports = unusedPorts(2)
        let ports = self.ports
        manager = RecordingServiceManager {
            Probe.allCases.allSatisfy { !canBind(ports[0], $0) } && !canBind(ports[1], .udp4) && !canBind(ports[1], .udp6)
        }
        try directory.write("conf/alpha", "\(ports[0])\n")
        try directory.write("conf/beta", "\(ports[1])/udp\nbogus-name\n")
    }

    func makeDaemon() -> Daemon { makeTestDaemon(in: directory, manager: manager) }

    func text(_ replies: [[UInt8]]) -> [String] { replies.map { String(decoding: $0, as: UTF8.self) } }

    @Test func readyComesOnceEveryPortIsBound() {
        let daemon = makeDaemon()
        daemon.start()
        #expect(manager.messages == [[.ready, .status("Holding 6 sockets on 3 ports for 2 services, 0 retrying")]])
        #expect(manager.heldAtReady == true)
    }

    @Test func onlyRootMayReleaseAndNothingIsLostWhenRefused() {
        let daemon = makeDaemon()
        daemon.start()
        let replies = daemon.handle(request(.release(["alpha"]), uid: 1000))
        // One refusal, whatever the request names.
        #expect(text(replies) == [".portreserve/1 refused\nonly root may release ports (sender uid 1000)\n"])
        #expect(text(daemon.handle(request(.release((0..<1000).map { "name\($0)" }), uid: 1000))).count == 1)
        #expect(!canBind(ports[0], .tcp4))
        // A legacy datagram from a user is refused the same way, silently.
        #expect(daemon.handle(request(.legacyRelease("alpha"), uid: 1000)).isEmpty)
        #expect(!canBind(ports[0], .udp6))
        #expect(FileManager.default.fileExists(atPath: directory.path + "/state/released") == false)
    }

    @Test func aReleaseIsAnsweredAfterThePortsAreClosed() {
        let daemon = makeDaemon()
        daemon.start()
        let replies = daemon.handle(request(.release(["alpha", "nosuch"])))
        #expect(text(replies) == [".portreserve/1 release\nreleased alpha \(ports[0])/tcp \(ports[0])/udp\nunknown nosuch\n"])
        for probe in Probe.allCases { #expect(canBind(ports[0], probe)) }
        #expect(manager.messages.last == [.status("Holding 2 sockets on 1 ports for 1 services, 0 retrying")])
        #expect(text(daemon.handle(request(.release(["alpha"])))) == [".portreserve/1 release\nalready-released alpha\n"])
    }

    @Test func legacyStarReleasesEverythingAndTheDaemonIsDone() {
        let daemon = makeDaemon()
        daemon.start()
        #expect(daemon.handle(request(.legacyRelease("*"), from: UnixAddress(pathBytes: []))).isEmpty)
        #expect(daemon.table.heldSocketCount == 0)
        #expect(canBind(ports[1], .udp4) && canBind(ports[0], .tcp6))
        #expect(Set((try? String(contentsOfFile: directory.path + "/state/released", encoding: .utf8))?.split(separator: "\n") ?? [])
            == ["alpha", "beta"])
    }

    @Test func starLogsOneEntryPerChunkOfServicesAndANamedReleaseOnePerService() {
        let log = LogRecorder()
        let daemon = makeTestDaemon(in: directory, manager: manager, log: log)
        daemon.servicesPerEntry = 1
        daemon.start()
        _ = daemon.handle(request(.release(["alpha"])))
        let named = log.entries.filter { $0.metadata["MESSAGE_ID"] == "\(MessageID.released)" }
        #expect(named.count == 1)
        #expect(named.first?.metadata["PORTRESERVE_SERVICE"] == "alpha")
        #expect(named.first?.metadata["PORTRESERVE_PORT"] == .array(["\(ports[0])", "\(ports[0])"]))

        _ = daemon.handle(request(.reclaim(["alpha"])))
        log.entries = []
        _ = daemon.handle(request(.release(["*"])))
        let star = log.entries.filter { $0.metadata["MESSAGE_ID"] == "\(MessageID.released)" }
        // pid 4242 may be a real process with a unit here: its name would follow the uid.
        #expect(star.count == 2)
        for (entry, (part, name)) in zip(star, [("1-1 of 2", "alpha"), ("2-2 of 2", "beta")]) {
            #expect(entry.message.hasPrefix("released 1 services (\(part)) on a request for every service (*) by pid 4242 uid 0"))
            #expect(entry.message.hasSuffix(": \(name)"))
        }
        #expect(star.map { $0.metadata["PORTRESERVE_SERVICE"] } == [.array(["alpha"]), .array(["beta"])])
        #expect(star.allSatisfy { $0.metadata["PORTRESERVE_REQUESTER_PID"] == "4242" })
        #expect(daemon.table.heldSocketCount == 0)
    }

    @Test func aRestartedDaemonDoesNotTakeBackWhatWasReleased() {
        do {
            let first = makeDaemon()
            first.start()
            _ = first.handle(request(.release(["alpha"])))
            first.stop(reason: "test")
        }
        let second = makeDaemon()
        second.start()
        #expect(canBind(ports[0], .tcp4) && canBind(ports[0], .udp6))
        #expect(!canBind(ports[1], .udp4))
        // Status still lists what was released, as before the restart.
        #expect(second.table.status().filter { $0.service == "alpha" }.map(\.state)
            == Array(repeating: .released(by: "alpha", unit: nil), count: 4))
        #expect(text(second.handle(request(.release(["alpha"])))) == [".portreserve/1 release\nalready-released alpha\n"])
    }

    @Test func garbageGetsAnErrorAndChangesNothing() {
        let daemon = makeDaemon()
        daemon.start()
        let inputs: [[UInt8]] = [[], [0xFF, 0xFE], Array(".portreserve/1 launch\n".utf8), Array("a b".utf8)]
        for payload in inputs {
            let replies = daemon.handle(ReceivedDatagram(payload: payload, sender: UnixAddress(pathBytes: [0, 66]),
                                                          credentials: PeerCredentials(pid: 1, uid: 0, gid: 0)))
            #expect(replies.count == 1)
            #expect(text(replies)[0].hasPrefix(".portreserve/1 error\n"))
        }
        #expect(daemon.table.heldSocketCount == 6)
    }

    @Test func passedDescriptorsAreClosedOffTheLoopsThread() throws {
        let daemon = makeDaemon()
        daemon.start()
        var fds: [CInt] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var before = stat()
        fstat(fds[1], &before)
        var datagram = request(.release(["nothing"]))
        datagram.descriptors = [fds[1]]
        BackgroundCloser().close(datagram.descriptors)
        _ = daemon.handle(datagram)
        // Closed, off the caller's thread: the number is free, or (tests run in parallel) already
        // reused for something else.
        #expect(eventually(within: 5) {
            var after = stat()
            return fstat(fds[1], &after) == -1 || after.st_ino != before.st_ino
        })
    }

    @Test func repliesGoOnlyToAbstractAddressesAndNeverToTheDaemonItself() {
        let daemon = makeDaemon()
        daemon.start()
        let bad = Array("\u{1}junk".utf8)
        // An autobound client (what portrelease binds) is answered.
        #expect(daemon.handle(ReceivedDatagram(payload: bad, sender: UnixAddress(pathBytes: [0, 0x31]),
                                               credentials: PeerCredentials(pid: 4242, uid: 0, gid: 0))).count == 1)
        // A path is anyone's to re-point (at our own socket, say): never answered.
        #expect(daemon.handle(ReceivedDatagram(payload: bad, sender: UnixAddress(path: "/tmp/x/reply"),
                                               credentials: PeerCredentials(pid: 4242, uid: 0, gid: 0))).isEmpty)
        // Nor is this very process, whatever its address.
        #expect(daemon.handle(ReceivedDatagram(payload: bad, sender: UnixAddress(pathBytes: [0, 0x31]),
                                               credentials: PeerCredentials(pid: getpid(), uid: 0, gid: 0))).isEmpty)
        // Nor a reply sent back at us: it is no request.
        #expect(daemon.handle(ReceivedDatagram(payload: RequestCodec.encodeError(RequestError("x")), sender: UnixAddress(pathBytes: [0, 0x31]),
                                               credentials: PeerCredentials(pid: 4242, uid: 0, gid: 0))).isEmpty)
        // A release from a path-bound root socket still releases; it just gets no answer.
        #expect(daemon.handle(request(.release(["alpha"]), from: UnixAddress(path: "/tmp/x/reply"))).isEmpty)
        #expect(daemon.table.isReleased("alpha") == true)
    }

    @Test func aFloodOfBadRequestsWritesABoundedNumberOfEntriesThenASummary() {
        let log = LogRecorder()
        let daemon = makeTestDaemon(in: directory, manager: manager, log: log)
        var now = 1000
        daemon.clock = { now }
        daemon.start()
        let before = log.entries.count
        for index in 0..<5000 {
            _ = daemon.handle(ReceivedDatagram(payload: Array("bad name \(index)".utf8), sender: UnixAddress(pathBytes: [0, 0x31]),
                                               credentials: PeerCredentials(pid: 4242, uid: 65534, gid: 65534)))
            _ = daemon.handle(request(.release((0..<100).map { "n\($0)-\(index)" }), uid: 65534))
        }
        #expect(log.entries.count - before == 20)  // ten of each kind
        #expect(daemon.secondsUntilLogSummary == 60)
        daemon.logSuppressed()
        #expect(log.entries.count - before == 20)  // not yet: the window lasts
        now += 60
        #expect(daemon.secondsUntilLogSummary == 0)
        daemon.logSuppressed()
        #expect(log.entries.suffix(2).map(\.message) == [
            "4990 more bad requests in the last 60 s were not logged", "4990 more refused requests in the last 60 s were not logged",
        ])
        #expect(daemon.secondsUntilLogSummary == nil)
        // Root's releases are never budgeted away.
        _ = daemon.handle(request(.release(["alpha"])))
        #expect(log.entries.last?.message.hasPrefix("released alpha") == true)
        // Nor are they lost in the refusals' one-entry-per-request form.
        #expect(log.entries.filter { $0.message.hasPrefix("refused to release n0-0 n1-0 n2-0 n3-0 n4-0 and 95 more for ") }.count == 1)
    }

    @Test func unknownNamesInOneReleaseAreOneEntry() {
        let log = LogRecorder()
        let daemon = makeTestDaemon(in: directory, manager: manager, log: log)
        daemon.start()
        let before = log.entries.count
        _ = daemon.handle(request(.release((0..<5000).map { "nosuch\($0)" })))
        #expect(log.entries.count - before == 1)
        #expect(log.entries.last?.message.hasPrefix("nothing is reserved under the names nosuch0 nosuch1 nosuch2 nosuch3 nosuch4 and 4995 more") == true, "\(log.entries.last?.message ?? "")")
        // Asked in a loop, even by root, they stay within a budget; real releases never do.
        for _ in 0..<1000 { _ = daemon.handle(request(.release(["nosuch"]))) }
        #expect(log.entries.count - before == 10)
        _ = daemon.handle(request(.release(["alpha"])))
        #expect(log.entries.last?.message.hasPrefix("released alpha") == true)
    }

    @Test func aStopDuringStartUpSendsNoReady() throws {
        try directory.write("conf/junk", String(repeating: "not-a-service-name\n", count: 20_000))
        let daemon = makeDaemon()
        var asked = 0
        #expect(daemon.start(interrupted: {
            asked += 1
            return asked > 2
        }) == false)
        #expect(!manager.messages.flatMap { $0 }.contains(.ready))
        #expect(daemon.table.heldSocketCount == 0)
    }

    @Test func aStopDuringAReloadChangesNothing() throws {
        let daemon = makeDaemon()
        daemon.start()
        let held = daemon.table.heldSocketCount
        try directory.write("conf/junk", String(repeating: "not-a-service-name\n", count: 20_000))
        try FileManager.default.removeItem(atPath: directory.path + "/conf/alpha")
        #expect(daemon.reload(interrupted: { true }) == false)
        #expect(daemon.table.heldSocketCount == held)  // alpha is still held, as before the reload
        #expect(daemon.table.isReleased("alpha") == false)
        #expect(daemon.reload() == true)
        #expect(daemon.table.isReleased("alpha") == nil)  // given up once the reload is let through
    }

    @Test func aFileOfJunkIsLoggedInAFewEntries() throws {
        try directory.write("conf/junk", String(repeating: "not-a-service-name\n", count: 1000))
        let log = LogRecorder()
        let daemon = makeTestDaemon(in: directory, manager: manager, log: log)
        daemon.start()
        let problems = log.entries.filter {
            $0.metadata["MESSAGE_ID"] == "\(MessageID.configurationProblem)" && $0.metadata["PORTRESERVE_FILE"] == "\(directory.path)/conf/junk"
        }
        #expect(problems.count == Daemon.problemsLoggedPerFile + 1, "\(problems.map(\.message))")
        #expect(problems.last?.message == "\(directory.path)/conf/junk: 995 more problems not logged (portreserve check lists them all)")
    }

    @Test func statusIsPublishedForEveryoneOnEveryChange() throws {
        let daemon = makeDaemon()
        daemon.start()
        daemon.publishStatus()
        let path = directory.path + "/state/status"
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o644)
        let report = try #require(try StatusFile.read(stateDirectory: directory.path + "/state").get())
        #expect(report.publisher.state == .running && report.publisher.pid == getpid())
        #expect(report.summary == ReservationSummary(ports: 3, services: 2, retrying: 0, sockets: 6))
        #expect(report.rows.count == 6)
        #expect(report.rows[0].service == "alpha" && report.rows[0].status == .held)
        _ = daemon.handle(request(.release(["alpha"])))
        #expect(daemon.statusChanged)
        daemon.publishStatus()
        #expect(!daemon.statusChanged)
        let after = try #require(try StatusFile.read(stateDirectory: directory.path + "/state").get())
        #expect(after.rows.filter { $0.service == "alpha" }.allSatisfy { $0.status == .released })
        // A damaged file says so, naming itself and the line.
        let saved = try String(contentsOfFile: path, encoding: .utf8)
        try (saved + "junk\n").write(toFile: path, atomically: false, encoding: .utf8)
        let lines = saved.split(separator: "\n").count
        #expect(throws: RequestError("\(path): line \(lines + 1): malformed status line \"junk\"")) {
            try StatusFile.read(stateDirectory: directory.path + "/state").get()
        }
        daemon.stop(reason: "test")
        let stopped = try #require(try StatusFile.read(stateDirectory: directory.path + "/state").get())
                #expect(stopped.publisher.state == .stopped(reason: "test"))
    }
}

@Suite struct ReleasedRecordTests {
    @Test func theStateGoesWhereItIsToldThenToSystemdsRuntimeDirectoryThenBesideTheSocket() {
        #expect(StateDirectory.path(given: "/var/tmp/x", socketPath: "/run/p/socket", runtimeDirectory: "/run/p/state") == "/var/tmp/x")
        #expect(StateDirectory.path(given: nil, socketPath: "/run/p/socket", runtimeDirectory: "/run/p/state:/run/other") == "/run/p/state")
        #expect(StateDirectory.path(given: nil, socketPath: "/run/p/socket", runtimeDirectory: nil) == "/run/p/state")
        #expect(StateDirectory.path(given: nil, socketPath: "socket", runtimeDirectory: nil) == "./state")
    }

    @Test func hostileRecordsAreRefusedWithoutBlockingOrExhaustingMemory() throws {
        let directory = try TemporaryDirectory("record")
        let state = directory.path + "/state"
        let record = ReleasedRecord(StateDirectory(path: state))
        #expect(try record.load().names.isEmpty)  // made, and empty
        // CRLF from an editor, and lines that are no names, skipped with FILE:LINE.
        try directory.write("state/released", "cups\r\nrsync\nbad name\n*\n\n")
        let contents = try record.load()
        #expect(contents.names == ["cups", "rsync"])
        #expect(contents.badLines == 2)
        #expect(contents.problems.first == "\(state)/released:3: service name \"bad name\" contains spaces, control or format characters")
        // A FIFO would block a reader that opened it without O_NONBLOCK.
        unlink(state + "/released")
        #expect(mkfifo(state + "/released", 0o644) == 0)
        #expect(throws: StateError("\(state)/released is not a regular file: refused")) { try record.load() }
        #expect(throws: StateError.self) { try record.append(["cups"]) }
        // A link is never followed, for reading or writing.
        unlink(state + "/released")
        try directory.write("elsewhere", "cups\n")
        #expect(symlink(directory.path + "/elsewhere", state + "/released") == 0)
        #expect(throws: StateError("\(state)/released is a symbolic link: refused, links are never followed here")) { try record.load() }
        #expect(throws: StateError.self) { try record.append(["rsync"]) }
        #expect(try String(contentsOfFile: directory.path + "/elsewhere", encoding: .utf8) == "cups\n")
        // Huge: refused by its size, not read.
        unlink(state + "/released")
        let fd = open(state + "/released", O_WRONLY | O_CREAT, 0o644)
        #expect(ftruncate(fd, off_t(ReleasedRecord.sizeLimit + 1)) == 0)
        close(fd)
        #expect(throws: StateError("\(state)/released is larger than \(ReleasedRecord.sizeLimit) bytes: refused")) { try record.load() }
        // A temporary left by a crash does not stop the next rewrite.
        unlink(state + "/released")
        try directory.write("state/released", "cups\nrsync\n")
        try directory.write("state/.released.new", "junk")
        try record.remove(["cups"])
        #expect(try record.load().names == ["rsync"])
    }

    @Test func aStateDirectoryOthersCanWriteIsRefused() throws {
        let directory = try TemporaryDirectory("record")
        let state = directory.path + "/state"
        mkdir(state, 0o755)
        chmod(state, 0o777)
        #expect(throws: StateError("\(state) is writable by other users (mode 777): refused")) {
            try ReleasedRecord(StateDirectory(path: state)).load()
        }
        // A link is followed only where nobody but root could have made it, and then the
        // directory it leads to is checked the same way.
        rmdir(state)
        #expect(symlink("/tmp", state) == 0)
        #expect(throws: StateError("/tmp is writable by other users (mode 1777): refused".replacingOccurrences(of: "/tmp", with: state))) {
            try ReleasedRecord(StateDirectory(path: state)).load()
        }
        let shared = directory.path + "/shared"
        mkdir(shared, 0o755)
        chmod(shared, 0o1777)
        mkdir(directory.path + "/mine", 0o755)
        #expect(symlink(directory.path + "/mine", shared + "/state") == 0)
        #expect(throws: StateError("\(shared)/state is a link in \(shared), which others can write: refused, such links are never followed")) {
            try ReleasedRecord(StateDirectory(path: shared + "/state")).load()
        }
        unlink(state)
        #expect(symlink(directory.path + "/mine", state) == 0)
        #expect(try ReleasedRecord(StateDirectory(path: state)).load().names.isEmpty)
    }
}
