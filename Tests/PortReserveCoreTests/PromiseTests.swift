import Foundation
import Logging
import SystemCalls
import Systemd
import SystemPackage
import Testing
import TestSupport

import PortReserveProtocol
@testable import PortReserveCore

/// A service manager whose descriptor store behaves as systemd 252's: it keeps a copy of each
/// descriptor it is handed (a socket it already holds is ignored, as systemd's kcmp(2) check
/// does), FDSTOREREMOVE closes every copy stored under that name, and a restart hands the next
/// daemon a copy of each while the store keeps its own. Its copies hold the ports as the
/// daemon's do: a copy left behind keeps a released port bound.
final class StoreKeepingServiceManager: ServiceManaging {
    private(set) var store: [(name: String, fd: CInt)] = []
    let isListening = true

    func notify(_ messages: [NotifyMessage], descriptors: [CInt]) {
        for message in messages {
            switch message {
            case .fdStore(let name, _):
                for fd in descriptors where !store.contains(where: { Self.sameSocket($0.fd, fd) }) {
                    store.append((name, dup(fd)))
                }
            case .fdStoreRemove(let name):
                for entry in store where entry.name == name { close(entry.fd) }
                store.removeAll { $0.name == name }
            default: break
            }
        }
    }

    func barrier() {}  // every message is handled as it is sent

    /// What systemd passes the next daemon at start: a copy of each stored descriptor.
    func handOver() -> [ListenedDescriptor] {
        store.map { ListenedDescriptor(fd: FileDescriptor(rawValue: dup($0.fd)), name: $0.name) }
    }

    /// `systemctl stop` empties the store.
    func empty() {
        for entry in store { close(entry.fd) }
        store = []
    }

    /// The port, protocol and family of each stored socket.
    var storedSlots: [SocketSlot] { store.compactMap { Self.slot(of: $0.fd) } }

    static func sameSocket(_ a: CInt, _ b: CInt) -> Bool {
        var first = stat(), second = stat()
        return fstat(a, &first) == 0 && fstat(b, &second) == 0 && first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    static func slot(of fd: CInt) -> SocketSlot? {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var type: CInt = 0
        var typeLength = socklen_t(MemoryLayout<CInt>.size)
        guard withUnsafeMutablePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }) == 0,
              getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &typeLength) == 0 else { return nil }
        let transport: TransportProtocol = type == CInt(SOCK_STREAM.rawValue) ? .tcp : .udp
        switch CInt(address.ss_family) {
        case AF_INET:
            let port = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
            return SocketSlot(PortKey(port, transport), .ipv4)
        case AF_INET6:
            let port = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
            return SocketSlot(PortKey(port, transport), .ipv6)
        default: return nil
        }
    }
}

/// The promise, tried by random sequences of what administrators and services do (releases,
/// reclaims, reloads over edited files, restarts through the descriptor store, another process
/// taking a free port and letting it go, time passing for the retries) against a store that
/// behaves as systemd's. After every step, what the daemon says must be what the kernel says:
/// every socket it lists as held is bound, every other one of the ports in play is free or the
/// other process's (a release is never undone by a copy left in the store, nothing is held for
/// nobody, no socket is lost), every held socket has its copy in the store (so a restart leaves
/// no gap), and each service not released is listed with exactly the ports its file names.
@Suite struct PromiseTests {
    static let names = ["alpha", "beta", "gamma", "delta"]

    struct Run {
        let directory: TemporaryDirectory
        let keys: [PortKey]
        let manager = StoreKeepingServiceManager()
        var configured: [String: [PortKey]] = [:]
        var daemon: Daemon
        var steps: [String] = []
        /// Sockets another process holds, as a service that was handed its port would.
        var others: [SocketSlot: CInt] = [:]
        let clock = Clock()

        final class Clock: @unchecked Sendable { var now = 1_000_000 }

        /// The descriptor store's limit (--fd-store-max): past it sockets are held but not stored.
        let storeLimit: Int

        /// The most sockets the table may hold once started, as if the process ran short of
        /// descriptors: past it a bind fails as EMFILE would, and is retried.
        let socketLimit: Int?

        init(keys: [PortKey], storeLimit: Int = DaemonSettings.defaultDescriptorStoreLimit, socketLimit: Int? = nil) throws {
            self.storeLimit = storeLimit
            self.socketLimit = socketLimit
            directory = try TemporaryDirectory("promise")
            self.keys = keys
            try FileManager.default.createDirectory(atPath: directory.path + "/conf", withIntermediateDirectories: true)
            daemon = makeTestDaemon(in: directory, manager: manager, storeLimit: storeLimit)
            daemon.table.clock = { [clock] in clock.now }
        }

        /// Starts the daemon on what the store holds, then limits its table as `socketLimit` says
        /// (start-up sets the limit from the process's own).
        func start() {
            daemon.start(adopting: manager.handOver())
            if let socketLimit { daemon.table.socketLimit = socketLimit }
        }

        static func probe(_ slot: SocketSlot) -> Probe {
            switch (slot.key.transport, slot.family) {
            case (.tcp, .ipv4): .tcp4
            case (.tcp, .ipv6): .tcp6
            case (.udp, .ipv4): .udp4
            case (.udp, .ipv6): .udp6
            }
        }

        var allSlots: [SocketSlot] { keys.flatMap { [SocketSlot($0, .ipv4), SocketSlot($0, .ipv6)] } }

        mutating func write(_ name: String, _ ports: [PortKey]?) throws {
            configured[name] = ports
            let path = directory.path + "/conf/" + name
            if let ports {
                _ = try directory.write("conf/" + name, ports.map { "\($0.port)/\($0.transport.rawValue)\n" }.joined())
            } else if FileManager.default.fileExists(atPath: path) {
                try FileManager.default.removeItem(atPath: path)
            }
        }

        func heldSlots() -> Set<SocketSlot> {
            Set(daemon.table.status().compactMap { row in
                if case .held = row.state { SocketSlot(row.port, row.family) } else { nil }
            })
        }

        func check(_ sourceLocation: SourceLocation = #_sourceLocation) {
            let trail = steps.joined(separator: "; ")
            let held = heldSlots()
            for slot in allSlots {
                if others[slot] != nil {
                    #expect(!held.contains(slot), "\(slot) is listed as held while another process has it after: \(trail)",
                            sourceLocation: sourceLocation)
                    continue
                }
                #expect(canBind(slot.key.port, Self.probe(slot)) != held.contains(slot),
                        "\(slot) is \(held.contains(slot) ? "listed as held but free" : "bound but not listed as held") after: \(trail)",
                        sourceLocation: sourceLocation)
            }
            let stored = manager.storedSlots
            #expect(Set(stored).count == stored.count, "a socket is stored twice after: \(trail)", sourceLocation: sourceLocation)
            #expect(daemon.store.storedCount == stored.count,
                    "the daemon counts \(daemon.store.storedCount) stored sockets, the store has \(stored.count), after: \(trail)",
                    sourceLocation: sourceLocation)
            if daemon.store.leftOut == 0 {
                #expect(Set(stored) == held, "the store holds copies of other sockets than the held ones after: \(trail)",
                        sourceLocation: sourceLocation)
            } else {
                // Once the limit has left sockets out, they stay out (a restart binds them again,
                // as portreserve(8) says), but no copy is of anything else.
                #expect(Set(stored).isSubset(of: held) && stored.count <= storeLimit,
                        "the store holds \(stored.count) copies, some not of held sockets, after: \(trail)", sourceLocation: sourceLocation)
            }
            let rows = daemon.table.status()
            for (name, ports) in configured where daemon.table.isReleased(name) == false {
                let listed = Set(rows.filter { $0.service == name }.map { SocketSlot($0.port, $0.family) })
                let named = Set(ports.flatMap { [SocketSlot($0, .ipv4), SocketSlot($0, .ipv6)] })
                #expect(listed == named, "\(name) is listed with other ports than its file names after: \(trail)", sourceLocation: sourceLocation)
            }
        }

        /// Another process takes a port the daemon does not hold, or lets one go.
        mutating func otherProcess(using random: inout some RandomNumberGenerator) {
            if let (slot, _) = others.randomElement(using: &random), Bool.random(using: &random) {
                let going = Bool.random(using: &random) ? others.keys.filter { $0.key == slot.key } : [slot]
                for slot in going { close(others.removeValue(forKey: slot)!) }
                steps.append("another process lets \(going.map(\.description).joined(separator: " and ")) go")
                return
            }
            let held = heldSlots()
            let free = allSlots.filter { !held.contains($0) && others[$0] == nil }
            guard let slot = free.randomElement(using: &random) else { return }
            // A service takes its port in every family as often as in one.
            let taken = Bool.random(using: &random) ? free.filter { $0.key == slot.key } : [slot]
            for slot in taken {
                let fd = holdPort(slot.key.port, Self.probe(slot))
                #expect(fd >= 0, "\(slot) is not held by the daemon but cannot be bound after: \(steps.joined(separator: "; "))")
                if fd >= 0 { others[slot] = fd }
            }
            steps.append("another process takes \(taken.map(\.description).joined(separator: " and "))")
        }

        mutating func restart() {
            let before = heldSlots()
            let waiting = Set(daemon.table.status().filter(\.state.isRetried).map { SocketSlot($0.port, $0.family) })
            let stored = Set(manager.storedSlots)
            daemon.stop(reason: "test restart")
            // Between the two daemons, the store alone holds the ports (those it has copies of).
            for slot in before where stored.contains(slot) {
                #expect(!canBind(slot.key.port, Self.probe(slot)), "\(slot) was free between two daemons after: \(steps.joined(separator: "; "))")
            }
            daemon = makeTestDaemon(in: directory, manager: manager, storeLimit: storeLimit)
            daemon.table.clock = { [clock] in clock.now }
            start()
            // The same, but for sockets that were waiting for a retry: the new daemon tries them at once.
            let after = heldSlots()
            #expect(before.isSubset(of: after) && after.subtracting(before).isSubset(of: waiting),
                    "a restart changed what is held after: \(steps.joined(separator: "; ")) -- rows now: \(daemon.table.status().map { "\($0.service) \($0.port) \($0.family) \($0.state)" })")
        }

        mutating func finish() {
            daemon.stop(reason: "end of test")
            manager.empty()
            for fd in others.values { close(fd) }
            others = [:]
        }
    }

    /// Rounds 0-11 with the default store limit, 12-15 with a limit of 3 sockets, 16-19 with the
    /// table limited to 4 sockets once started (the process short of descriptors).
    @Test(arguments: 0..<20) func randomSequencesKeepThePromise(round: Int) throws {
        let numbers = unusedPorts(2)
        let keys = numbers.flatMap { [PortKey($0, .tcp), PortKey($0, .udp)] }
        var run = try Run(keys: keys, storeLimit: (12..<16).contains(round) ? 3 : DaemonSettings.defaultDescriptorStoreLimit,
                          socketLimit: round >= 16 ? 4 : nil)
        var random = SystemRandomNumberGenerator()
        func somePorts() -> [PortKey] { Array(keys.shuffled(using: &random).prefix(Int.random(in: 0...3, using: &random))) }
        for name in Self.names where Bool.random(using: &random) { try run.write(name, somePorts()) }
        run.steps.append("start with \(run.configured.mapValues { $0.map(\.description) })")
        run.start()
        run.check()
        for _ in 0..<80 {
            let name = Self.names.randomElement(using: &random)!
            switch Int.random(in: 0..<14, using: &random) {
            case 0...2:
                let names = Int.random(in: 0..<6, using: &random) == 0 ? ["*"] : [name]
                if Int.random(in: 0..<4, using: &random) == 0 && names != ["*"] {
                    run.steps.append("legacy release \(name)")
                    _ = run.daemon.handle(request(.legacyRelease(name)))
                } else {
                    run.steps.append("release \(names[0])")
                    _ = run.daemon.handle(request(.release(names)))
                }
            case 3, 4:
                run.steps.append("reclaim \(name)")
                _ = run.daemon.handle(request(.reclaim([name])))
            case 5...7:
                let ports: [PortKey]? = Int.random(in: 0..<4, using: &random) == 0 ? nil : somePorts()
                try run.write(name, ports)
                run.steps.append("reload with \(name) \(ports.map { $0.map(\.description).description } ?? "removed")")
                run.daemon.reload()
            case 8, 9:
                run.otherProcess(using: &random)
            case 10, 11:
                run.clock.now += 20_000
                run.steps.append("20 s pass")
                run.daemon.retryDue()
            default:
                run.steps.append("restart")
                run.restart()
            }
            run.check()
        }
        run.finish()
        for key in keys {
            #expect(canBind(key.port, key.transport == .tcp ? .tcp4 : .udp4) && canBind(key.port, key.transport == .tcp ? .tcp6 : .udp6))
        }
    }
}

extension PromiseTests {
    /// The sequence behind the first failure the random runs found once another process could
    /// take a port in both families: alpha waits for a retry, the other process lets the port go,
    /// beta comes to name it and binds it at once; the retry that falls due after must not bind
    /// over it (that lost the socket, so the port stayed bound and listed as retrying forever).
    @Test func aRetryDueAfterAnotherServiceBoundThePortLeavesItsSocketAlone() throws {
        let numbers = unusedPorts(1)
        let key = PortKey(numbers[0], .udp)
        var run = try Run(keys: [key])
        try run.write("alpha", [])
        run.start()
        run.others[SocketSlot(key, .ipv4)] = holdPort(key.port, .udp4)
        run.others[SocketSlot(key, .ipv6)] = holdPort(key.port, .udp6)
        try run.write("alpha", [key]); run.daemon.reload(); run.check()
        for fd in run.others.values { close(fd) }
        run.others = [:]
        try run.write("beta", [key]); run.daemon.reload(); run.check()
        run.clock.now += 20_000; run.daemon.retryDue(); run.check()
        run.finish()
    }
}
