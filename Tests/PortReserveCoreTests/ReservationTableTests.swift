import Foundation
import SystemCalls
import Testing
import TestSupport

import PortReserveProtocol
@testable import PortReserveCore

func service(_ name: String, _ ports: [PortKey]) -> ServiceConfiguration {
    ServiceConfiguration(name: name, file: "/etc/portreserve/\(name)", entries: [ConfiguredEntry(line: 1, text: "", ports: ports)])
}

extension ReservationEvent {
    /// A `.reserved` event as a test can expect it: which descriptors the kernel hands out is not
    /// the test's to know. Compare with `withoutDescriptors` of what the table returned.
    static func reserved(service: String, _ key: PortKey, families: [AddressFamily]) -> ReservationEvent {
        .reserved(service: service, key, sockets: families.map { HeldSocket($0, -1) })
    }

    var withoutDescriptors: ReservationEvent {
        switch self {
        case .reserved(let service, let key, let sockets): .reserved(service: service, key, families: sockets.map(\.family))
        case .heldAgain(let service, let slot, _, let attempts): .heldAgain(service: service, slot, descriptor: -1, attempts: attempts)
        default: self
        }
    }
}

@Suite struct ReservationTableTests {
    @Test func everyProtocolAndFamilyIsHeldUntilReleased() {
        let port = unusedPorts(1)[0]
        let table = ReservationTable(families: [.ipv4, .ipv6])
        let events = table.add(service("cups", [PortKey(port, .tcp), PortKey(port, .udp)]))
        #expect(events.map(\.withoutDescriptors) == [
            .reserved(service: "cups", PortKey(port, .tcp), families: [.ipv4, .ipv6]),
            .reserved(service: "cups", PortKey(port, .udp), families: [.ipv4, .ipv6]),
        ])
        // The events carry the very descriptors the table holds: the daemon stores copies of them.
        let held = table.status().compactMap { row -> CInt? in if case .held(let fd) = row.state { fd } else { nil } }
        let told = events.flatMap { event -> [CInt] in
            if case .reserved(_, _, let sockets) = event { sockets.map(\.descriptor) } else { [] }
        }
        #expect(held.count == 4 && told == held)
        #expect(table.heldSocketCount == 4)
        for probe in Probe.allCases { #expect(!canBind(port, probe), "\(probe) should be held") }
        #expect(table.release("cups") == .released([PortKey(port, .tcp), PortKey(port, .udp)]))
        for probe in Probe.allCases { #expect(canBind(port, probe), "\(probe) should be free") }
        #expect(table.heldSocketCount == 0)
        #expect(table.release("cups") == .alreadyReleased)
        #expect(table.release("nosuch") == .unknown)
    }

    @Test func aPortNamedTwiceIsHeldOnceAndGoesWithEitherRelease() {
        let ports = unusedPorts(2)
        let table = ReservationTable(families: [.ipv4])
        _ = table.add(service("a", [PortKey(ports[0], .tcp), PortKey(ports[1], .tcp)]))
        let events = table.add(service("b", [PortKey(ports[1], .tcp)]))
        #expect(events == [.shared(service: "b", PortKey(ports[1], .tcp), with: "a")])
        #expect(table.heldSocketCount == 2)
        #expect(table.summary() == ReservationSummary(ports: 2, services: 2, retrying: 0, sockets: 2))
        #expect(table.release("b", unit: "b.service") == .released([PortKey(ports[1], .tcp)]))
        #expect(table.summary() == ReservationSummary(ports: 1, services: 1, retrying: 0, sockets: 1))
        #expect(canBind(ports[1], .tcp4))
        #expect(!canBind(ports[0], .tcp4))
        #expect(table.release("a") == .released([PortKey(ports[0], .tcp)]))
        #expect(table.summary() == ReservationSummary())
        let rows = table.status()
        #expect(rows.map(\.service) == ["a", "a", "b"])
        #expect(rows[1].sharedWith == ["b"])
        // b joining one of a's ports leaves the other alone.
        #expect(rows[0].sharedWith == [])
        #expect(rows[1].state == .released(by: "b", unit: "b.service"))
    }

    @Test func aPortTakenByAnotherProcessIsAConflictAndTheRestIsHeld() {
        let ports = unusedPorts(2)
        // A listening socket, as a real service holds its port (the kernel lists bound-only TCP
        // sockets nowhere, so their holder cannot be named).
        let taken = holdPort(ports[0], .tcp4)
        defer { close(taken) }
        #expect(listen(taken, 1) == 0)
        let table = ReservationTable(families: [.ipv4, .ipv6])
        let events = table.add(service("cups", [PortKey(ports[0], .tcp), PortKey(ports[1], .tcp)]))
        guard case .conflict(let name, let key, let family, let error) = events.first else {
            Issue.record("expected a conflict first, got \(events)")
            return
        }
        #expect((name, key, family, error.errno) == ("cups", PortKey(ports[0], .tcp), .ipv4, EADDRINUSE))
        #expect(error.description == "bind 0.0.0.0:\(ports[0])/tcp: Address already in use")
        // The holder is this very test process, found through /proc, and kept for status.
        let slot = SocketSlot(PortKey(ports[0], .tcp), .ipv4)
        let holder = table.nameHolders()[slot]
        #expect(holder?.hasSuffix("(pid \(getpid()))") == true, "holder: \(holder ?? "nil")")
        #expect(table.status().first { $0.port == slot.key && $0.family == .ipv4 }?.state == .conflict(error, holder: holder))
        #expect(table.nameHolders().isEmpty)
        #expect(events.dropFirst().map(\.withoutDescriptors) == [
            .reserved(service: "cups", PortKey(ports[0], .tcp), families: [.ipv6]),
            .reserved(service: "cups", PortKey(ports[1], .tcp), families: [.ipv4, .ipv6]),
        ])
        #expect(table.summary() == ReservationSummary(ports: 2, services: 1, retrying: 1, sockets: 3))
        #expect(table.heldSocketCount == 3)
        #expect(table.millisecondsUntilRetry != nil)
        // A released conflict is no longer counted as one, nor tried again.
        _ = table.release("cups")
        #expect(table.summary() == ReservationSummary())
        #expect(table.millisecondsUntilRetry == nil)
    }

    @Test func runningOutOfDescriptorsIsReportedAndTheRestStillWorks() {
        let ports = unusedPorts(2)
        var calls = 0
        let table = ReservationTable(families: [.ipv4]) { key, family, _ throws(SystemError) -> CInt in
            calls += 1
            if calls == 2 { throw SystemError(call: "socket", subject: InternetSockets.describe(key, family), errno: EMFILE) }
            return try InternetSockets.reserve(key, family)
        }
        let events = table.add(service("many", [PortKey(ports[0], .udp), PortKey(ports[1], .udp)]))
        #expect(events.count == 2)
        #expect(events.contains(.failed(service: "many", PortKey(ports[1], .udp), .ipv4,
                                        SystemError(call: "socket", subject: "0.0.0.0:\(ports[1])/udp", errno: EMFILE))))
        #expect(table.heldSocketCount == 1)
        #expect(table.release("many") == .released([PortKey(ports[0], .udp)]))
        #expect(canBind(ports[0], .udp4))
    }

    /// Status walks the names in order, however they came and went (the order is kept between changes).
    @Test func statusFollowsTheNamesInOrderAsTheyComeAndGo() {
        let ports = unusedPorts(3)
        let table = ReservationTable(families: [.ipv4])
        _ = table.add(service("b", [PortKey(ports[0], .udp)]))
        #expect(table.status().map(\.service) == ["b"])
        _ = table.add(service("a", [PortKey(ports[1], .udp)]))
        table.addReleased(service("c", [PortKey(ports[2], .udp)]))
        #expect(table.status().map(\.service) == ["a", "b", "c"] && table.serviceNames == ["a", "b", "c"])
        table.forget("a")
        #expect(table.status().map(\.service) == ["b", "c"])
    }

    @Test func releasingEveryServiceGivesUpEverything() {
        let ports = unusedPorts(3)
        let table = ReservationTable(families: [.ipv4, .ipv6])
        for (index, port) in ports.enumerated() { _ = table.add(service("s\(index)", [PortKey(port, .udp)])) }
        #expect(table.serviceNames == ["s0", "s1", "s2"])
        let results = table.serviceNames.map { table.release($0) }
        #expect(results == ports.map { .released([PortKey($0, .udp)]) })
        #expect(table.heldSocketCount == 0)
        for port in ports { #expect(canBind(port, .udp4) && canBind(port, .udp6)) }
    }
}

/// Who holds a port costs a scan of /proc: one per batch of conflicts, never one per conflict
/// (thousands of conflicts at start-up, one scan each, once took 27 s).
@Suite struct HolderLookupTests {
    @Test func theHoldersOfABatchOfConflictsAreLookedUpInOneCall() {
        let ports = unusedPorts(3)
        let taken = ports.map { holdPort($0, .udp4) }
        defer { taken.forEach { close($0) } }
        let table = ReservationTable(families: [.ipv4, .ipv6])
        for (index, port) in ports.enumerated() { _ = table.add(service("s\(index)", [PortKey(port, .udp)])) }
        var calls: [[SocketSlot]] = []
        let named = table.nameHolders { slots in
            calls.append(slots)
            return slots.map { "holder of \($0.key.port)" }
        }
        #expect(calls == [ports.map { SocketSlot(PortKey($0, .udp), .ipv4) }])
        #expect(named.count == 3 && named[SocketSlot(PortKey(ports[2], .udp), .ipv4)] == "holder of \(ports[2])")
        // Retries never look again, and a second batch without a new conflict costs nothing.
        _ = table.nameHolders { slots in
            calls.append(slots)
            return slots.map { _ in nil }
        }
        #expect(calls.count == 1)
        #expect(table.status().filter { $0.family == .ipv4 }.map(\.published.detail)
                == ports.map { "conflict: Address already in use; held by holder of \($0)" })
    }
}

@Suite struct SocketLimitTests {
    @Test func pastTheLimitABindFailsAsOutOfDescriptorsAndTheRestIsReported() {
        let ports = unusedPorts(2)
        let table = ReservationTable(families: [.ipv4, .ipv6])
        table.socketLimit = 3
        let events = table.add(ServiceConfiguration(name: "big", file: "f", entries: [
            ConfiguredEntry(line: 1, text: "", ports: [PortKey(ports[0], .udp), PortKey(ports[1], .udp)]),
        ]))
        #expect(table.heldSocketCount == 3)
        #expect(events.contains(.failed(service: "big", PortKey(ports[1], .udp), .ipv6,
                                        SystemError(call: "socket", subject: "[::]:\(ports[1])/udp", errno: EMFILE))))
        #expect(canBind(ports[1], .udp6) && !canBind(ports[1], .udp4))
    }
}

/// A socket that could not be bound is tried again until it is held, released or no longer
/// configured, on a schedule of its own; reclaim keeps what is held and binds only the rest.
@Suite struct RetryTests {
    final class Clock: @unchecked Sendable { var now = 1_000_000 }

    func table(_ clock: Clock, families: [AddressFamily] = [.ipv4, .ipv6]) -> ReservationTable {
        let table = ReservationTable(families: families)
        table.clock = { clock.now }
        return table
    }

    /// A second service that comes to name a port waiting for its retry binds it at once; the
    /// retry that falls due after must not bind over the held socket (it would fail on our own
    /// socket, list the port as retrying and lose the descriptor, so no release could free it).
    @Test func aRetryNeverBindsOverASocketHeldMeanwhile() {
        let clock = Clock()
        let port = unusedPorts(1)[0]
        let key = PortKey(port, .udp)
        let taken = holdPort(port, .udp4)
        let table = table(clock, families: [.ipv4])
        _ = table.add(service("statd", [key]))
        #expect(table.summary().retrying == 1)
        close(taken)
        #expect(table.add(service("nlockmgr", [key])).map(\.withoutDescriptors) == [.reserved(service: "nlockmgr", key, families: [.ipv4])])
        #expect(table.millisecondsUntilRetry == nil)
        clock.now += 60_000
        #expect(table.retryDue() == [])
        #expect(table.summary() == ReservationSummary(ports: 1, services: 2, retrying: 0, sockets: 1))
        #expect(table.release("statd") == .released([key]))
        #expect(canBind(port, .udp4))
    }

    @Test func aConflictIsHeldOnceItsHolderLetsGoAndLoggedOnce() {
        let clock = Clock()
        let port = unusedPorts(1)[0]
        var taken: CInt? = holdPort(port, .udp4)
        defer { if let taken { close(taken) } }
        let table = table(clock)
        _ = table.add(service("statd", [PortKey(port, .udp)]))
        #expect(table.summary() == ReservationSummary(ports: 1, services: 1, retrying: 1, sockets: 1))
        #expect(table.millisecondsUntilRetry == 1_000)
        // Not due yet: nothing is tried.
        clock.now += 999
        #expect(table.retryDue() == [])
        // Due, still taken: no event, and the next try is later.
        clock.now += 1
        #expect(table.retryDue() == [])
        #expect(table.millisecondsUntilRetry == 2_000)
        #expect(table.status().first { $0.family == .ipv4 }.map { $0.state.isRetried } == true)
        // The holder exits: the next attempt holds it, once.
        close(taken!)
        taken = nil
        clock.now += 2_000
        let heldAgain = table.retryDue()
        #expect(heldAgain.map(\.withoutDescriptors) == [.heldAgain(service: "statd", SocketSlot(PortKey(port, .udp), .ipv4), descriptor: -1, attempts: 3)])
        #expect(table.summary() == ReservationSummary(ports: 1, services: 1, retrying: 0, sockets: 2))
        #expect(table.millisecondsUntilRetry == nil)
        #expect(!canBind(port, .udp4))
        // The new socket goes to the descriptor store like any other.
        // The event names the descriptor now held, for the daemon to store.
        let ipv4 = table.sockets(of: "statd").first { $0.0.family == .ipv4 }?.1
        if case .heldAgain(_, _, let fd, _) = heldAgain.first { #expect(ipv4 == .held(fd)) } else { Issue.record("no heldAgain: \(heldAgain)") }
    }

    @Test func theBackOffGrowsToFifteenSecondsAndStaysThere() {
        let clock = Clock()
        let port = unusedPorts(1)[0]
        let taken = holdPort(port, .tcp4)
        defer { close(taken) }
        let table = table(clock, families: [.ipv4])
        _ = table.add(service("cups", [PortKey(port, .tcp)]))
        var waits: [Int] = []
        for _ in 0..<7 {
            let wait = table.millisecondsUntilRetry!
            waits.append(wait)
            clock.now += wait
            _ = table.retryDue()
        }
        #expect(waits == [1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000])
    }

    @Test func aPortNoLongerConfiguredIsNotTriedAgain() {
        let clock = Clock()
        let port = unusedPorts(1)[0]
        let taken = holdPort(port, .udp4)
        defer { close(taken) }
        let table = table(clock, families: [.ipv4])
        _ = table.add(service("statd", [PortKey(port, .udp)]))
        table.forget("statd")
        #expect(table.millisecondsUntilRetry == nil)
        #expect(table.summary() == ReservationSummary())
    }

    /// The TIME_WAIT case: one family could not be bound again. A reclaim must keep the held
    /// socket (closing it loses the port), bind what is missing, and say which socket is not held.
    @Test func reclaimKeepsWhatIsHeldAndBindsOnlyTheRest() {
        let clock = Clock()
        let port = unusedPorts(1)[0]
        let table = table(clock)
        let cups = service("cups", [PortKey(port, .udp)])
        _ = table.add(cups)
        _ = table.release("cups")
        // While released, another process takes the IPv4 port.
        var other: CInt? = holdPort(port, .udp4)
        defer { if let other { close(other) } }
        let events = table.reclaim("cups") ?? []
        #expect(table.reclaim("nosuch") == nil)
        #expect(events.count == 2)
        #expect(events.map(\.withoutDescriptors).contains(.reserved(service: "cups", PortKey(port, .udp), families: [.ipv6])))
        let states = table.sockets(of: "cups")
        #expect(states.count == 2)
        #expect(states[0].1.isRetried && states[0].0 == SocketSlot(PortKey(port, .udp), .ipv4))
        guard case .held(let ipv6) = states[1].1 else {
            Issue.record("IPv6 not held: \(states)")
            return
        }
        #expect(table.isReleased("cups") == false)
        #expect(table.retryDelay(SocketSlot(PortKey(port, .udp), .ipv4)) == 1_000)
        // A second reclaim changes nothing that is held: the same descriptor, still bound.
        _ = table.reclaim("cups")
        guard case .held(let again) = table.sockets(of: "cups")[1].1 else {
            Issue.record("IPv6 lost by a second reclaim")
            return
        }
        #expect(again == ipv6)
        #expect(!canBind(port, .udp6))
        // The other process goes; the retry holds IPv4 too.
        close(other!)
        other = nil
        clock.now += table.millisecondsUntilRetry!
        let retried = table.retryDue()
        #expect(retried.count == 1, "\(table.sockets(of: "cups")), port \(port), free now: \(canBind(port, .udp4))")
        #expect(table.summary().sockets == 2 && table.summary().retrying == 0)
    }
}

/// What the table's rows become in the status file: the detail says why a socket is retried, and
/// who released it from which unit.
@Suite struct PublishedStatusTests {
    @Test func eachStateBecomesItsStatusAndDetail() {
        func row(_ state: SocketState) -> StatusFile.Row {
            StatusRow(service: "cups", port: PortKey(631, .tcp), family: .ipv6, state: state, sharedWith: ["print"], since: 100).published
        }
        #expect(row(.held(5)) == StatusFile.Row(service: "cups", port: PortKey(631, .tcp), family: .ipv6, status: .held, since: 100,
                                               sharedWith: ["print"]))
        #expect(row(.conflict(SystemError(call: "bind", errno: EADDRINUSE), holder: "cupsd (pid 9)")).detail
                == "conflict: Address already in use; held by cupsd (pid 9)")
        #expect(row(.conflict(SystemError(call: "bind", errno: EACCES), holder: nil)).detail == "conflict: Permission denied")
        #expect(row(.failed(SystemError(call: "socket", errno: EMFILE))).status == .retrying)
        #expect(row(.failed(SystemError(call: "socket", errno: EMFILE))).detail == "failed: Too many open files")
        #expect(row(.released(by: "cups", unit: "cups.service")).detail == "cups cups.service")
        #expect(row(.released(by: "cups", unit: nil)).status == .released && row(.released(by: "cups", unit: nil)).detail == "cups")
    }
}

/// The table's memory is per socket: what every socket carries stays small, and the text of the
/// rare states (conflicts, failures, releases) is boxed.
@Test func aSocketsStateIsAPointerOrADescriptor() {
    #expect(MemoryLayout<SocketState>.size <= 9, "\(MemoryLayout<SocketState>.size)")
    #expect(MemoryLayout<FamilyStates>.stride <= 32, "\(MemoryLayout<FamilyStates>.stride)")
    #expect(MemoryLayout<ReservationTable.Reservation>.stride <= 48, "\(MemoryLayout<ReservationTable.Reservation>.stride)")
    #expect(MemoryLayout<PortOwners>.stride <= 24, "\(MemoryLayout<PortOwners>.stride)")
}

/// A service's ports read back as configured, whether inline (up to two) or in an array, and the
/// inline form costs the services table no more than an array reference did.
@Test(arguments: 0...4) func aPortListReadsBackWhatItWasGiven(count: Int) {
    let all = [PortKey(631, .tcp), PortKey(631, .udp), PortKey(873, .tcp), PortKey(993, .tcp)]
    let ports = Array(all.prefix(count))
    let list = PortList(ports)
    #expect(Array(list) == ports)
    #expect(list.count == count)
    #expect(list.isEmpty == (count == 0))
    #expect(list.last == ports.last)
    #expect(MemoryLayout<PortList>.stride <= 16, "\(MemoryLayout<PortList>.stride)")
}

/// The counters behind the STATUS= line are kept by each change, never recounted: after any
/// sequence of adds, updates, releases, reclaims and forgets over shared ports, they must say
/// what a count of the table's own rows says.
@Test func theSummaryAlwaysAgreesWithARecountOfTheTable() {
    let numbers = unusedPorts(4)
    let keys = numbers.flatMap { [PortKey($0, .tcp), PortKey($0, .udp)] }
    let names = ["a", "b", "c", "d", "e"]
    var random = SystemRandomNumberGenerator()
    for _ in 0..<20 {
        let table = ReservationTable(families: [.ipv4, .ipv6])
        for _ in 0..<60 {
            let name = names.randomElement(using: &random)!
            let ports = Array(keys.shuffled(using: &random).prefix(Int.random(in: 0...3, using: &random)))
            switch Int.random(in: 0..<6, using: &random) {
            case 0: _ = table.isReleased(name) == nil ? table.add(service(name, ports)) : table.update(service(name, ports))
            case 1: if table.isReleased(name) == nil { table.addReleased(service(name, ports)) }
            case 2: _ = table.update(service(name, ports))
            case 3: _ = table.release(name)
            case 4: _ = table.reclaim(name)
            default: table.forget(name)
            }
            let rows = table.status()
            let held = rows.filter { if case .held = $0.state { true } else { false } }
            let heldSlots = Set(held.map { SocketSlot($0.port, $0.family) })
            let retried = Set(rows.filter(\.state.isRetried).map { SocketSlot($0.port, $0.family) })
            #expect(table.summary() == ReservationSummary(
                ports: Set(heldSlots.map(\.key)).count, services: Set(held.map(\.service)).count,
                retrying: retried.count, sockets: heldSlots.count))
        }
    }
}

/// A port named by two services is released when either is, whatever the order of the changes:
/// a released service that comes to name a held port has it given up, and once its file no longer
/// names it, the other service holds it again, as a restart would. When that one goes too, the
/// port is free, not held for nobody.
@Test func aPortSharedWithAReleasedServiceIsHeldOnlyWhileNoOwnerIsReleased() {
    let port = unusedPorts(1)[0]
    let key = PortKey(port, .tcp)
    let table = ReservationTable(families: [.ipv4])
    _ = table.add(service("cups", [key]))
    #expect(table.addReleased(service("lpd", [key])) == [.releasedWith(released: "lpd", key)])
    #expect(canBind(port, .tcp4))
    #expect(table.status().map(\.state) == [.released(by: "lpd", unit: nil), .released(by: "lpd", unit: nil)])
    #expect(table.add(service("ipp", [key])).isEmpty)  // a third owner leaves it given up
    #expect(table.forget("ipp").isEmpty && canBind(port, .tcp4))
    #expect(table.update(service("lpd", [])).map(\.withoutDescriptors) == [.reserved(service: "cups", key, families: [.ipv4])])
    #expect(!canBind(port, .tcp4))
    #expect(table.summary() == ReservationSummary(ports: 1, services: 1, retrying: 0, sockets: 1))
    #expect(table.forget("cups") == [.givenUp(service: "cups", key)])
    #expect(canBind(port, .tcp4))
    #expect(table.summary() == ReservationSummary())
    // A port it comes to name is listed for it, released, without being taken.
    let other = PortKey(unusedPorts(1)[0], .udp)
    #expect(table.update(service("lpd", [other])).isEmpty)
    #expect(table.status().map(\.state) == [.released(by: "lpd", unit: nil)])
    #expect(canBind(other.port, .udp4))
    // And a reclaim of a service that shares a port with a released one leaves that port given up.
    _ = table.add(service("cups", [other]))
    #expect(canBind(other.port, .udp4))
    #expect(table.reclaim("cups")?.isEmpty == true)
    #expect(table.sockets(of: "cups").map(\.1) == [.released(by: "lpd", unit: nil)])
    #expect(table.reclaim("lpd")?.map(\.withoutDescriptors) == [.reserved(service: "lpd", other, families: [.ipv4])])
    #expect(!canBind(other.port, .udp4))
}

/// Records by name stay sorted and findable whatever the order they come and go in, as a
/// dictionary with sorted keys would be.
@Test func sortedByNameAgreesWithADictionary() {
    var random = SystemRandomNumberGenerator()
    var table = SortedByName<Int>()
    var model: [String: Int] = [:]
    for step in 0..<2_000 {
        let name = "s\(Int.random(in: 0..<60, using: &random))"
        let value: Int? = Int.random(in: 0..<4, using: &random) == 0 ? nil : step
        table[name] = value
        model[name] = value
        #expect(table.names == model.keys.sorted())
        #expect(table[name] == model[name])
        if let index = table.index(of: name) {
            table[at: index] += 1
            model[name]! += 1
        }
    }
    #expect(table.names.map { table[$0]! } == model.keys.sorted().map { model[$0]! })
    #expect(table.index(of: "absent") == nil && table.index(of: "") == nil && table.index(of: "zzz") == nil)
}

/// A port's owners read back in the order they came, one inline and the others after it.
@Test func portOwnersKeepTheirOrder() {
    var owners = PortOwners()
    #expect(owners.isEmpty && owners.first == nil)
    owners.append("cups")
    #expect(Array(owners) == ["cups"])
    owners.append("lpd")
    owners.append("ipp")
    #expect(Array(owners) == ["cups", "lpd", "ipp"] && owners.count == 3)
    #expect(PortOwners(owners.filter { $0 != "cups" }) == PortOwners(["lpd", "ipp"]))
    #expect(PortOwners(["a"]) != PortOwners(["a", "b"]))
}
