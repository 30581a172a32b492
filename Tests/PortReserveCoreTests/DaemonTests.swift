import Foundation
import Logging
import SystemCalls
import Systemd
import Testing
import TestSupport

@testable import PortReserveCore

/// A daemon on `directory/conf`, recording into `manager`, with its record in `directory`.
func makeTestDaemon(in directory: TemporaryDirectory, manager: ServiceManaging,
                    log: LogRecorder? = nil, storeLimit: Int = DaemonSettings.defaultDescriptorStoreLimit) -> Daemon {
    Daemon(
        settings: DaemonSettings(
            configuration: ConfigurationLoader(directories: [directory.path + "/conf"], servicesDatabase: testDatabase),
            releasedRecord: ReleasedRecord(path: directory.path + "/released"), families: [.ipv4, .ipv6],
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

    func notify(_ messages: [NotifyMessage], descriptors: [CInt]) {
        if messages.contains(.ready) { heldAtReady = isHeld() }
        if case .fdStore(let name, poll: false) = messages.first, !descriptors.isEmpty {
            stored.append((name, descriptors))  // kept in a log of its own, not among the status messages
            return
        }
        self.messages.append(messages)
    }

    func barrier() { barriers += 1 }
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
        #expect(manager.messages == [[.ready, .status("Holding 3 ports for 2 services, 0 conflicts")]])
        #expect(manager.heldAtReady == true)
        #expect(!daemon.isFinished)
    }

    @Test func onlyRootMayReleaseAndNothingIsLostWhenRefused() {
        let daemon = makeDaemon()
        daemon.start()
        let replies = daemon.handle(request(.release(["alpha"]), uid: 1000))
        #expect(text(replies) == [".portreserve/1 release\nrefused alpha only root may release ports (sender uid 1000)\n"])
        #expect(!canBind(ports[0], .tcp4))
        // A legacy datagram from a user is refused the same way, silently.
        #expect(daemon.handle(request(.legacyRelease("alpha"), uid: 1000)).isEmpty)
        #expect(!canBind(ports[0], .udp6))
        #expect(FileManager.default.fileExists(atPath: directory.path + "/released") == false)
    }

    @Test func aReleaseIsAnsweredAfterThePortsAreClosed() {
        let daemon = makeDaemon()
        daemon.start()
        let replies = daemon.handle(request(.release(["alpha", "nosuch"])))
        #expect(text(replies) == [".portreserve/1 release\nreleased alpha \(ports[0])/tcp \(ports[0])/udp\nunknown nosuch\n"])
        for probe in Probe.allCases { #expect(canBind(ports[0], probe)) }
        #expect(manager.messages.last == [.status("Holding 1 ports for 1 services, 0 conflicts")])
        #expect(text(daemon.handle(request(.release(["alpha"])))) == [".portreserve/1 release\nalready-released alpha\n"])
    }

    @Test func legacyStarReleasesEverythingAndTheDaemonIsDone() {
        let daemon = makeDaemon()
        daemon.start()
        #expect(daemon.handle(request(.legacyRelease("*"), from: UnixAddress(pathBytes: []))).isEmpty)
        #expect(daemon.isFinished)
        #expect(canBind(ports[1], .udp4) && canBind(ports[0], .tcp6))
        #expect(Set((try? String(contentsOfFile: directory.path + "/released", encoding: .utf8))?.split(separator: "\n") ?? [])
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
        #expect(daemon.isFinished)
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
            == Array(repeating: .released(by: "alpha"), count: 4))
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

    @Test func descriptorsSentToTheDaemonAreClosed() throws {
        let daemon = makeDaemon()
        daemon.start()
        var fds: [CInt] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var before = stat()
        fstat(fds[1], &before)
        var datagram = request(.status)
        datagram.descriptors = [fds[1]]
        _ = daemon.handle(datagram)
        // Closed: the number is free, or (tests run in parallel) already reused for something else.
        var after = stat()
        #expect(fstat(fds[1], &after) == -1 || after.st_ino != before.st_ino)
    }

    @Test func statusListsEveryRow() {
        let daemon = makeDaemon()
        daemon.start()
        let replies = text(daemon.handle(request(.status, uid: 1000)))
        #expect(replies.count == 1)
        let lines = replies[0].split(separator: "\n")
        #expect(lines[0] == ".portreserve/1 status end")
        #expect(lines[1] == "summary 3 2 0")
        #expect(lines.count == 2 + 6)
        #expect(lines[2].hasPrefix("row alpha \(ports[0])/tcp ipv4 held "))
    }
}

@Suite struct ReleasedRecordTests {
    @Test func theRecordGoesWhereItIsToldThenToSystemdsRuntimeDirectoryThenBesideTheSocket() {
        #expect(ReleasedRecord(stateDirectory: "/var/tmp/x", socketPath: "/run/p/socket", runtimeDirectory: "/run/p/state").path
            == "/var/tmp/x/released")
        #expect(ReleasedRecord(stateDirectory: nil, socketPath: "/run/p/socket", runtimeDirectory: "/run/p/state:/run/other").path
            == "/run/p/state/released")
        #expect(ReleasedRecord(stateDirectory: nil, socketPath: "/run/p/socket", runtimeDirectory: nil).path == "/run/p/released")
        #expect(ReleasedRecord(stateDirectory: nil, socketPath: "socket", runtimeDirectory: nil).path == "./released")
    }
}
