import Foundation
import SystemCalls
import Testing
import TestSupport

@testable import PortReserveCore

@Suite struct ReservationTableTests {
    func service(_ name: String, _ ports: [PortKey]) -> ServiceConfiguration {
        ServiceConfiguration(name: name, file: "/etc/portreserve/\(name)", entries: [ConfiguredEntry(line: 1, text: "", ports: ports)])
    }

    @Test func everyProtocolAndFamilyIsHeldUntilReleased() {
        let port = unusedPorts(1)[0]
        let table = ReservationTable(families: [.ipv4, .ipv6])
        let events = table.add(service("cups", [PortKey(port, .tcp), PortKey(port, .udp)]))
        #expect(events == [
            .reserved(service: "cups", PortKey(port, .tcp), families: [.ipv4, .ipv6]),
            .reserved(service: "cups", PortKey(port, .udp), families: [.ipv4, .ipv6]),
        ])
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
        #expect(table.summary() == ReservationSummary(ports: 2, services: 2, conflicts: 0))
        #expect(table.release("b") == .released([PortKey(ports[1], .tcp)]))
        #expect(table.summary() == ReservationSummary(ports: 1, services: 1, conflicts: 0))
        #expect(canBind(ports[1], .tcp4))
        #expect(!canBind(ports[0], .tcp4))
        #expect(table.release("a") == .released([PortKey(ports[0], .tcp)]))
        #expect(table.summary() == ReservationSummary())
        let rows = table.status()
        #expect(rows.map(\.service) == ["a", "a", "b"])
        #expect(rows[1].sharedWith == ["b"])
        #expect(rows[1].state == .released(by: "b"))
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
        guard case .conflict(let name, let key, let family, let error, let holder) = events.first else {
            Issue.record("expected a conflict first, got \(events)")
            return
        }
        #expect((name, key, family, error.errno) == ("cups", PortKey(ports[0], .tcp), .ipv4, EADDRINUSE))
        #expect(error.description == "bind 0.0.0.0:\(ports[0])/tcp: Address already in use")
        // The holder is this very test process, found through /proc.
        #expect(holder?.hasSuffix("(pid \(getpid()))") == true, "holder: \(holder ?? "nil")")
        #expect(events.dropFirst() == [
            .reserved(service: "cups", PortKey(ports[0], .tcp), families: [.ipv6]),
            .reserved(service: "cups", PortKey(ports[1], .tcp), families: [.ipv4, .ipv6]),
        ])
        #expect(table.summary() == ReservationSummary(ports: 2, services: 1, conflicts: 1))
        #expect(table.heldSocketCount == 3)
        // A released conflict is no longer counted as one.
        _ = table.release("cups")
        #expect(table.summary() == ReservationSummary())
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

    @Test func releaseAllGivesUpEverything() {
        let ports = unusedPorts(3)
        let table = ReservationTable(families: [.ipv4, .ipv6])
        for (index, port) in ports.enumerated() { _ = table.add(service("s\(index)", [PortKey(port, .udp)])) }
        let results = table.releaseAll()
        #expect(results.map(\.0) == ["s0", "s1", "s2"])
        #expect(table.heldSocketCount == 0)
        for port in ports { #expect(canBind(port, .udp4) && canBind(port, .udp6)) }
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
