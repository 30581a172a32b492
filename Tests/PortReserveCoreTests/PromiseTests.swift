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
/// reclaims, reloads over edited files, restarts through the descriptor store) against a store
/// that behaves as systemd's. After every step, what the daemon says must be what the kernel
/// says: every socket it lists as held is bound, every other one of the ports in play is free
/// (a release is never undone by a copy left in the store, and nothing is held for nobody),
/// every held socket has its copy in the store (so a restart leaves no gap), and each service
/// not released is listed with exactly the ports its file names.
@Suite struct PromiseTests {
    static let names = ["alpha", "beta", "gamma", "delta"]

    struct Run {
        let directory: TemporaryDirectory
        let keys: [PortKey]
        let manager = StoreKeepingServiceManager()
        var configured: [String: [PortKey]] = [:]
        var daemon: Daemon
        var steps: [String] = []

        init(keys: [PortKey]) throws {
            directory = try TemporaryDirectory("promise")
            self.keys = keys
            try FileManager.default.createDirectory(atPath: directory.path + "/conf", withIntermediateDirectories: true)
            daemon = makeTestDaemon(in: directory, manager: manager)
        }

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
            for key in keys {
                for family in [AddressFamily.ipv4, .ipv6] {
                    let probe: Probe = switch (key.transport, family) {
                    case (.tcp, .ipv4): .tcp4
                    case (.tcp, .ipv6): .tcp6
                    case (.udp, .ipv4): .udp4
                    case (.udp, .ipv6): .udp6
                    }
                    let slot = SocketSlot(key, family)
                    #expect(canBind(key.port, probe) != held.contains(slot),
                            "\(slot) is \(held.contains(slot) ? "listed as held but free" : "bound but not listed as held") after: \(trail)",
                            sourceLocation: sourceLocation)
                }
            }
            #expect(Set(manager.storedSlots) == held, "the store holds copies of other sockets than the held ones after: \(trail)",
                    sourceLocation: sourceLocation)
            #expect(manager.storedSlots.count == held.count, "a socket is stored twice after: \(trail)", sourceLocation: sourceLocation)
            let rows = daemon.table.status()
            for (name, ports) in configured where daemon.table.isReleased(name) == false {
                let listed = Set(rows.filter { $0.service == name }.map { SocketSlot($0.port, $0.family) })
                let named = Set(ports.flatMap { [SocketSlot($0, .ipv4), SocketSlot($0, .ipv6)] })
                #expect(listed == named, "\(name) is listed with other ports than its file names after: \(trail)", sourceLocation: sourceLocation)
            }
            for row in rows where row.state.isRetried {
                Issue.record("\(row.service) \(row.port) \(row.family) is retried, with no one else on these ports, after: \(trail)",
                             sourceLocation: sourceLocation)
            }
        }

        mutating func restart() {
            let before = heldSlots()
            daemon.stop(reason: "test restart")
            // Between the two daemons, the store alone holds the ports.
            for slot in before {
                let probe: Probe = slot.key.transport == .tcp ? (slot.family == .ipv4 ? .tcp4 : .tcp6) : (slot.family == .ipv4 ? .udp4 : .udp6)
                #expect(!canBind(slot.key.port, probe), "\(slot) was free between two daemons after: \(steps.joined(separator: "; "))")
            }
            daemon = makeTestDaemon(in: directory, manager: manager)
            daemon.start(adopting: manager.handOver())
            #expect(heldSlots() == before, "a restart changed what is held after: \(steps.joined(separator: "; ")) -- rows now: \(daemon.table.status().map { "\($0.service) \($0.port) \($0.family) \($0.state)" })")
        }
    }

    @Test(arguments: 0..<8) func randomSequencesKeepThePromise(round: Int) throws {
        let numbers = unusedPorts(3)
        let keys = numbers.flatMap { [PortKey($0, .tcp), PortKey($0, .udp)] }
        var run = try Run(keys: keys)
        var random = SystemRandomNumberGenerator()
        func somePorts() -> [PortKey] { Array(keys.shuffled(using: &random).prefix(Int.random(in: 0...3, using: &random))) }
        for name in Self.names where Bool.random(using: &random) { try run.write(name, somePorts()) }
        run.steps.append("start with \(run.configured.mapValues { $0.map(\.description) })")
        run.daemon.start()
        run.check()
        for _ in 0..<40 {
            let name = Self.names.randomElement(using: &random)!
            switch Int.random(in: 0..<10, using: &random) {
            case 0...2:
                let names = Int.random(in: 0..<6, using: &random) == 0 ? ["*"] : [name]
                run.steps.append("release \(names[0])")
                _ = run.daemon.handle(request(.release(names)))
            case 3, 4:
                run.steps.append("reclaim \(name)")
                _ = run.daemon.handle(request(.reclaim([name])))
            case 5...7:
                let ports: [PortKey]? = Int.random(in: 0..<4, using: &random) == 0 ? nil : somePorts()
                try run.write(name, ports)
                run.steps.append("reload with \(name) \(ports.map { $0.map(\.description).description } ?? "removed")")
                run.daemon.reload()
            default:
                run.steps.append("restart")
                run.restart()
            }
            run.check()
        }
        run.daemon.stop(reason: "end of test")
        run.manager.empty()
        for key in keys {
            #expect(canBind(key.port, key.transport == .tcp ? .tcp4 : .udp4) && canBind(key.port, key.transport == .tcp ? .tcp6 : .udp6))
        }
    }
}
