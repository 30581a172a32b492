import Foundation
import Logging
import SystemCalls
import Systemd
import SystemPackage
import Testing
import TestSupport

import PortReserveProtocol
@testable import PortReserveCore

/// Reload, reclaim and the descriptor store, driven on the daemon directly.
@Suite struct DaemonOperationTests {
    let directory: TemporaryDirectory
    let ports: [UInt16]
    let manager = RecordingServiceManager { true }

    init() throws {
        directory = try TemporaryDirectory("operations")
        ports = unusedPorts(4)
        try directory.write("conf/alpha", "\(ports[0])/tcp\n")
        try directory.write("conf/beta", "\(ports[1])/udp\n")
    }

    func makeDaemon() -> Daemon { makeTestDaemon(in: directory, manager: manager) }

    func heldDescriptors(_ daemon: Daemon, _ service: String) -> [CInt] {
        daemon.table.status().compactMap { row in
            guard row.service == service, case .held(let fd) = row.state else { return nil }
            return fd
        }
    }

    @Test func everyNewSocketGoesToTheStoreWithPollingOff() {
        let daemon = makeDaemon()
        daemon.start()
        // One message per port and protocol, with its IPv4 and IPv6 sockets.
        #expect(manager.stored.map(\.name).sorted() == ["alpha.\(ports[0]).tcp", "beta.\(ports[1]).udp"])
        #expect(manager.stored.allSatisfy { $0.fds.count == 2 })
    }

    @Test func aReleaseDropsTheStoredCopiesAndWaitsForTheManagerBeforeAnswering() {
        let daemon = makeDaemon()
        daemon.start()
        // At start, READY=1 comes before any copy goes to the store.
        #expect(manager.log.first == "READY")
        #expect(manager.log.contains("STORE"))
        manager.messages = []
        manager.log = []
        let replies = daemon.handle(request(.release(["alpha"])))
        let removals = manager.storeRemovals
        #expect(removals == ["alpha.\(ports[0]).tcp"])
        // The copies are dropped, the barrier waited for, and only then is the answer returned.
        #expect(manager.log == ["REMOVE", "BARRIER", "STATUS"])
        #expect(!replies.isEmpty)
    }

    @Test func theStoreKeepsNoMoreThanItsLimitAndSaysSo() throws {
        let log = LogRecorder()
        let daemon = makeTestDaemon(in: directory, manager: manager, log: log, storeLimit: 2)
        daemon.start()
        // alpha's two sockets fill the store; beta's are held but not stored.
        #expect(manager.stored.map(\.name) == ["alpha.\(ports[0]).tcp"])
        #expect(!canBind(ports[1], .udp4) && !canBind(ports[1], .udp6))
        let notices = log.entries.filter { $0.message.contains("descriptor store keeps copies of 2 sockets") }
        #expect(notices.count == 1)
        #expect(notices.first?.message.contains("2 more are held but not stored") == true)
        // Releasing beta has nothing to drop from the store; releasing alpha frees room for beta again.
        manager.messages = []
        _ = daemon.handle(request(.release(["beta"])))
        #expect(manager.storeRemovals.isEmpty)
        _ = daemon.handle(request(.release(["alpha"])))
        #expect(manager.storeRemovals == ["alpha.\(ports[0]).tcp"])
        _ = daemon.handle(request(.reclaim(["beta"])))
        #expect(manager.stored.map(\.name) == ["alpha.\(ports[0]).tcp", "beta.\(ports[1]).udp"])
    }

    @Test func aStoreLimitOfZeroStoresNothing() {
        let daemon = makeTestDaemon(in: directory, manager: manager, storeLimit: 0)
        daemon.start()
        #expect(manager.stored.isEmpty)
        #expect(daemon.table.summary().ports == 2)
    }

    @Test func storedSocketsAreTakenBackInsteadOfBoundAgain() throws {
        let four = try InternetSockets.reserve(PortKey(ports[0], .tcp), .ipv4)
        let six = try InternetSockets.reserve(PortKey(ports[0], .tcp), .ipv6)
        let orphan = try InternetSockets.reserve(PortKey(ports[3], .udp), .ipv4)  // no longer configured
        var pipeEnds: [CInt] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { close(pipeEnds[0]) }
        let daemon = makeDaemon()
        daemon.start(adopting: [
            ListenedDescriptor(fd: FileDescriptor(rawValue: four), name: "old%3Aname.\(ports[0]).tcp"),
            ListenedDescriptor(fd: FileDescriptor(rawValue: six), name: "old%3Aname.\(ports[0]).tcp"),
            ListenedDescriptor(fd: FileDescriptor(rawValue: orphan), name: "gone.\(ports[3]).udp"),
            ListenedDescriptor(fd: FileDescriptor(rawValue: pipeEnds[1]), name: "alpha.\(ports[2]).tcp"),
        ])
        // alpha uses exactly the sockets it was handed; only beta's are new to the store.
        #expect(Set(heldDescriptors(daemon, "alpha")) == [four, six])
        #expect(daemon.table.summary() == ReservationSummary(ports: 2, services: 2, retrying: 0, sockets: 4))
        #expect(manager.stored.map(\.name) == ["beta.\(ports[1]).udp"])
        let removals = manager.storeRemovals
        #expect(removals.sorted() == ["alpha.\(ports[2]).tcp", "gone.\(ports[3]).udp"])
        #expect(canBind(ports[3], .udp4))
        // The release drops the adopted copies under the names systemd knows them by.
        manager.messages = []
        _ = daemon.handle(request(.release(["alpha"])))
        let released = manager.storeRemovals
        #expect(released == ["old%3Aname.\(ports[0]).tcp"])
    }

    /// A store that holds both families of `key` under `name`, as a daemon before left them.
    func storeHolding(_ key: PortKey, as name: String) throws -> StoreKeepingServiceManager {
        let store = StoreKeepingServiceManager()
        let sockets = [try InternetSockets.reserve(key, .ipv4), try InternetSockets.reserve(key, .ipv6)]
        store.notify([.fdStore(name: name, poll: false)], descriptors: sockets)
        for fd in sockets { close(fd) }
        return store
    }

    /// A port's two families travel under one name. When only one is taken back (the daemon now
    /// reserves IPv4 only), dropping the other's copy by name drops both: the one taken back is
    /// stored again, so the next restart still finds it.
    @Test func aCopyDroppedByNameWithItsOtherFamilyIsStoredAgain() throws {
        let key = PortKey(ports[0], .tcp)
        let store = try storeHolding(key, as: "alpha.\(ports[0]).tcp")
        let daemon = makeTestDaemon(in: directory, manager: store, families: [.ipv4])
        daemon.start(adopting: store.handOver())
        #expect(canBind(ports[0], .tcp6))
        #expect(!canBind(ports[0], .tcp4))
        #expect(store.storedSlots.filter { $0.key == key } == [SocketSlot(key, .ipv4)])
        daemon.stop(reason: "test")
        #expect(!canBind(ports[0], .tcp4))  // the store's copy
        store.empty()
        #expect(canBind(ports[0], .tcp4))
    }

    /// The name a port is stored under is kept as systemd gave it back when it is not the one this
    /// daemon would give, and the release drops it under that name.
    @Test func aNameHandedBackIsRemovedUnderThatName() throws {
        let store = try storeHolding(PortKey(ports[0], .tcp), as: "old-version.\(ports[0]).tcp")
        let daemon = makeTestDaemon(in: directory, manager: store)
        daemon.start(adopting: store.handOver())
        #expect(store.store.map(\.name).sorted() == ["beta.\(ports[1]).udp", "beta.\(ports[1]).udp", "old-version.\(ports[0]).tcp", "old-version.\(ports[0]).tcp"])
        _ = daemon.handle(request(.release(["alpha"])))
        #expect(canBind(ports[0], .tcp4) && canBind(ports[0], .tcp6))
        #expect(store.store.map(\.name) == ["beta.\(ports[1]).udp", "beta.\(ports[1]).udp"])
        daemon.stop(reason: "test")
        store.empty()
    }

    @Test func storeNamesRoundTripAndEscapeWhatSystemdRefuses() {
        let key = PortKey(631, .udp)
        #expect(DescriptorStore.name(for: key, service: "cups") == "cups.631.udp")
        let odd = DescriptorStore.name(for: key, service: "a:b%c d")
        #expect(odd == "a%3Ab%25c%20d.631.udp")
        #expect(ServiceManager.isValidDescriptorName(odd))
        #expect(DescriptorStore.key(named: odd) == key)
        #expect(DescriptorStore.name(for: key, service: String(repeating: "x", count: 400)).utf8.count == 255)
        #expect(DescriptorStore.key(named: "portreserve.socket") == nil)
        #expect(DescriptorStore.key(named: "x.0.tcp") == nil)
    }

    @Test func reloadChangesOnlyWhatChanged() throws {
        let daemon = makeDaemon()
        daemon.start()
        let alphaBefore = Set(heldDescriptors(daemon, "alpha"))
        try directory.write("conf/alpha", "\(ports[0])/tcp\n\(ports[2])/tcp\n")   // one port added
        try FileManager.default.removeItem(atPath: directory.path + "/conf/beta")   // given up
        try directory.write("conf/gamma", "\(ports[3])/udp\n")                     // new
        daemon.reload()
        #expect(alphaBefore.isSubset(of: Set(heldDescriptors(daemon, "alpha"))))   // never closed and reopened
        #expect(!canBind(ports[0], .tcp4) && !canBind(ports[2], .tcp6))
        #expect(canBind(ports[1], .udp4) && canBind(ports[1], .udp6))
        #expect(!canBind(ports[3], .udp4))
        #expect(daemon.table.summary() == ReservationSummary(ports: 3, services: 2, retrying: 0, sockets: 6))
        let reloading = manager.messages.lastIndex { if case .reloading = $0.first { true } else { false } }
        #expect(reloading != nil && reloading! < manager.messages.count - 1)
        #expect(manager.messages.last == [.ready, .status("Holding 6 sockets on 3 ports for 2 services, 0 retrying")])
    }

    /// The reload request is answered after the reload, with the status line; only root may ask.
    @Test func aReloadRequestIsAnsweredOnceTheConfigurationIsInForce() throws {
        let daemon = makeDaemon()
        daemon.start()
        try directory.write("conf/gamma", "\(ports[3])/udp\n")
        let refused = daemon.handle(request(.reload, uid: 1000))
        #expect(refused == [RequestCodec.encodeRefusal("only root may reload the configuration (sender uid 1000)")])
        #expect(canBind(ports[3], .udp4))
        manager.log = []
        let replies = daemon.handle(request(.reload))
        #expect(!canBind(ports[3], .udp4) && !canBind(ports[3], .udp6))
        #expect(replies == [RequestCodec.encodeReloadReply(status: daemon.statusText)])
        #expect(RequestCodec.decodeReloadReply(replies) == .success("Holding 6 sockets on 3 ports for 3 services, 0 retrying"))
        #expect(manager.log.first == "RELOADING" && manager.log.contains("READY"))
    }

    @Test func aReleasedServiceStaysReleasedAndABrokenFileKeepsItsReservations() throws {
        let daemon = makeDaemon()
        daemon.start()
        _ = daemon.handle(request(.release(["beta"])))
        let alphaBefore = heldDescriptors(daemon, "alpha")
        try directory.write("conf/alpha", "not-a-service\n")  // broken: keep what it had
        daemon.reload()
        #expect(heldDescriptors(daemon, "alpha") == alphaBefore)
        #expect(canBind(ports[1], .udp4))
        #expect(daemon.table.isReleased("beta") == true)
    }

    /// A file that is there but cannot be read says nothing of what its service reserves now:
    /// the reload keeps what it had, and says why. A file that is gone gives the service up.
    @Test func aFileThatCannotBeReadKeepsItsReservationsAtReload() throws {
        let log = LogRecorder()
        let daemon = makeTestDaemon(in: directory, manager: manager, log: log)
        daemon.start()
        let alphaBefore = heldDescriptors(daemon, "alpha")
        try FileManager.default.removeItem(atPath: directory.path + "/conf/alpha")
        try FileManager.default.createDirectory(atPath: directory.path + "/conf/alpha", withIntermediateDirectories: false)
        try FileManager.default.removeItem(atPath: directory.path + "/conf/beta")
        daemon.reload()
        #expect(heldDescriptors(daemon, "alpha") == alphaBefore)
        #expect(!canBind(ports[0], .tcp4))
        #expect(daemon.table.isReleased("beta") == nil && canBind(ports[1], .udp4))
        #expect(log.entries.contains { $0.message == "keeping the reservations of alpha: \(directory.path)/conf/alpha cannot be read" })
    }

    /// A shared port follows its released owner in and out of the configuration: held again for
    /// the other service when the released one's file goes, given up again (store copy dropped,
    /// and the journal says why) when it comes back, since the record says it was released.
    @Test func aSharedPortFollowsItsReleasedOwnerThroughReloads() throws {
        let log = LogRecorder()
        let daemon = makeTestDaemon(in: directory, manager: manager, log: log)
        try directory.write("conf/lpd", "\(ports[0])/tcp\n")
        daemon.start()
        _ = daemon.handle(request(.release(["lpd"])))
        #expect(canBind(ports[0], .tcp4) && canBind(ports[0], .tcp6))
        try FileManager.default.removeItem(atPath: directory.path + "/conf/lpd")
        daemon.reload()
        #expect(!canBind(ports[0], .tcp4) && !canBind(ports[0], .tcp6))
        #expect(manager.stored.last?.name == "alpha.\(ports[0]).tcp")
        manager.messages = []
        try directory.write("conf/lpd", "\(ports[0])/tcp\n")
        daemon.reload()
        #expect(canBind(ports[0], .tcp4) && canBind(ports[0], .tcp6))
        #expect(manager.storeRemovals == ["alpha.\(ports[0]).tcp"])
        #expect(log.entries.contains { $0.message == "gave up \(ports[0])/tcp: lpd, which names it too, was released earlier in this boot" })
        #expect(daemon.table.sockets(of: "alpha").map(\.1) == [.released(by: "lpd", unit: nil), .released(by: "lpd", unit: nil)])
    }

    @Test func reclaimHoldsTheSameServiceAgainAndForgetsTheRelease() throws {
        let daemon = makeDaemon()
        daemon.start()
        _ = daemon.handle(request(.release(["alpha"])))
        #expect(canBind(ports[0], .tcp4))
        let refused = daemon.handle(request(.reclaim(["alpha"]), uid: 1000))
        #expect(String(decoding: refused[0], as: UTF8.self)
            == ".portreserve/1 refused\nonly root may reclaim ports (sender uid 1000)\n")
        #expect(canBind(ports[0], .tcp4))
        let replies = daemon.handle(request(.reclaim(["alpha", "nosuch"])))
        #expect(String(decoding: replies[0], as: UTF8.self)
            == ".portreserve/1 reclaimed\nreclaimed alpha \(ports[0])/tcp/ipv4 \(ports[0])/tcp/ipv6\nunknown nosuch\n")
        #expect(!canBind(ports[0], .tcp4) && !canBind(ports[0], .tcp6))
        #expect(daemon.table.isReleased("alpha") == false)
        #expect(!(try String(contentsOfFile: directory.path + "/state/released", encoding: .utf8)).contains("alpha"))
    }

    @Test func aReclaimOfAPortStillInUseSaysSo() throws {
        let daemon = makeDaemon()
        daemon.start()
        _ = daemon.handle(request(.release(["alpha"])))
        // The real service has not stopped: it still holds the port in both families.
        let four = holdPort(ports[0], .tcp4), six = holdPort(ports[0], .tcp6)
        defer { close(four); close(six) }
        let decoded = try RequestCodec.decodeReclaimReply([daemon.handle(request(.reclaim(["alpha"])))[0]]).get()
        let reason = "Address already in use"
        #expect(decoded.first?.1 == .reclaimed(held: [], notHeld: [
            NotHeldSocket(slot: SocketSlot(PortKey(ports[0], .tcp), .ipv4), reason: reason, retryInSeconds: 1),
            NotHeldSocket(slot: SocketSlot(PortKey(ports[0], .tcp), .ipv6), reason: reason, retryInSeconds: 1),
        ]))
        #expect(daemon.table.summary().retrying == 2)
        #expect(daemon.statusText == "Holding 2 sockets on 1 ports for 1 services, 2 retrying")
    }

    /// Half held (IPv4 in TIME_WAIT, say): a reclaim keeps the held socket, reports the other
    /// one, and the daemon's retry holds it once it is free, logged once.
    @Test func aHalfHeldReclaimKeepsItsSocketAndTheRetryHoldsTheRest() throws {
        let daemon = makeDaemon()
        daemon.start()
        _ = daemon.handle(request(.release(["alpha"])))
        var four: CInt? = holdPort(ports[0], .tcp4)
        defer { if let four { close(four) } }
        _ = daemon.handle(request(.reclaim(["alpha"])))
        let six = heldDescriptors(daemon, "alpha")
        #expect(six.count == 1)
        _ = daemon.handle(request(.reclaim(["alpha"])))
        #expect(heldDescriptors(daemon, "alpha") == six)
        #expect(!canBind(ports[0], .tcp6))
        close(four!)
        four = nil
        var clock = 0
        daemon.table.clock = { monotonicMilliseconds() + clock }
        clock = daemon.millisecondsUntilRetry!
        manager.messages = []
        daemon.retryDue()
        #expect(heldDescriptors(daemon, "alpha").count == 2)
        #expect(!canBind(ports[0], .tcp4))
        #expect(manager.messages.last == [.status(daemon.statusText)])
        #expect(daemon.millisecondsUntilRetry == nil)
    }
}
