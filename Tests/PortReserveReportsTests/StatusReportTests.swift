import Testing
#if canImport(Glibc)
import Glibc
#endif
import TestSupport

import PortReserveConfiguration
import PortReserveCore
import PortReserveProtocol
@testable import PortReserveReports

/// A services database that knows a few names, so the tests do not depend on /etc/services.
let testDatabase = ServicesDatabase { name, transport in
    switch (name, transport) {
    case ("ipp", .tcp): return 631
    case ("rsync", _): return 873
    default: return nil
    }
}

@Suite struct StatusReportTests {
    let rows = [
        StatusFile.Row(service: "cups", port: PortKey(631, .tcp), family: .ipv4, status: .held, since: 100, sharedWith: ["print"]),
        StatusFile.Row(service: "cups", port: PortKey(631, .tcp), family: .ipv6, status: .retrying, since: 100,
                       detail: "conflict: Address already in use; held by cupsd (pid 9)"),
        StatusFile.Row(service: "rsync", port: PortKey(873, .udp), family: .ipv4, status: .released, since: 200, detail: "rsync rsync.service"),
    ]

    func published(_ summary: ReservationSummary) -> [UInt8] {
        StatusFile(publisher: .init(pid: 7, state: .running, since: 100), summary: summary, rows: rows).encoded()
    }

    @Test func thePublishedFileDecodesIntoTheSameRows() throws {
        let summary = ReservationSummary(ports: 1, services: 1, retrying: 1, sockets: 1)
        let report = try StatusReport.decode(published(summary), isAlive: { _ in true }).get()
        #expect(report.running)
        #expect(report.summary == summary)
        #expect(report.rows.map(\.state) == ["held", "retrying", "released"])
        #expect(report.rows[0].sharedWith == ["print"])
        #expect(report.rows[1].detail == "conflict: Address already in use; held by cupsd (pid 9)")
        #expect(report.rows[2].releasingUnit == "rsync.service")
        #expect(report.rows[2].since == 200 && report.rows[2].family == .ipv4 && report.rows[2].port == PortKey(873, .udp))
    }

    /// A daemon killed without the chance to publish "stopped" left "running" behind: the report
    /// says it is gone.
    @Test func aRunningDaemonWhosePidIsGoneIsShownStopped() throws {
        let summary = ReservationSummary(ports: 1, services: 1, retrying: 1, sockets: 1)
        let report = try StatusReport.decode(published(summary), isAlive: { $0 != 7 }).get()
        #expect(!report.running)
        #expect(report.publisher?.state == .stopped(reason: "pid 7 is gone without saying why (killed?)"))
        #expect(report.text().contains("\nNot running since "))
    }

    @Test func jsonFollowsTheDocumentedSchema() throws {
        let report = try StatusReport.decode(published(ReservationSummary(ports: 1, services: 1, retrying: 1, sockets: 1)), isAlive: { _ in true }).get()
        #expect(report.json().hasPrefix(
            #"{"version":1,"running":true,"summary":{"ports":1,"services":1,"conflicts":1,"retrying":1,"sockets":1},"reservations":[{"service":"cups","port":631,"protocol":"tcp","family":"ipv4","state":"held","since":100,"shared_with":["print"],"detail":null,"occupant":null,"taken":false},"#))
        #expect(StatusReport.quoted("a\"b\\c\nd\u{1}") == #""a\"b\\c\nd\u0001""#)
    }

    /// Who has a port we do not hold: a released port in use by its own unit is fine, one in use
    /// by a process of another unit is flagged, in the table and in JSON.
    @Test func occupantsOfReleasedPortsAreShownAndTakenOnesFlagged() throws {
        var report = try StatusReport.decode(published(ReservationSummary(ports: 1, services: 1, retrying: 1, sockets: 1)),
                                             isAlive: { _ in true }).get()
        report.rows[2].occupancy = .occupied(PortOccupant(command: "rsync", pid: 40, unit: "rsync.service"))
        #expect(!report.rows[2].isTaken)
        #expect(StatusReport.detailText(report.rows[2]) == "by rsync (rsync.service); now rsync (pid 40, rsync.service)")
        report.rows[2].occupancy = .occupied(PortOccupant(command: "rpc.statd", pid: 812, unit: "rpc-statd.service"))
        #expect(report.rows[2].isTaken)
        #expect(StatusReport.detailText(report.rows[2]) == "by rsync (rsync.service); TAKEN by rpc.statd (pid 812, rpc-statd.service)")
        #expect(report.json().contains(#""occupant":{"command":"rpc.statd","pid":812,"unit":"rpc-statd.service"},"taken":true}"#))
        report.rows[1].occupancy = .hidden
        #expect(StatusReport.detailText(report.rows[1]).hasSuffix("; port in use (by a process this user cannot see: run as root)"))
        report.rows[2].occupancy = .free
        #expect(StatusReport.detailText(report.rows[2]) == "by rsync (rsync.service); port free")
    }

    /// The occupant of a real port, found through /proc as `portreserve status` finds it.
    @Test func theSnapshotFindsThisProcessOnAPort() throws {
        let port = unusedPorts(1)[0]
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0)
        let snapshot = PortHolder.Snapshot()
        guard case .occupied(let occupant) = snapshot.occupancy(of: SocketSlot(PortKey(port, .udp), .ipv4)) else {
            Issue.record("port \(port)/udp not found in /proc")
            return
        }
        #expect(occupant.pid == getpid())
        #expect(snapshot.occupancy(of: SocketSlot(PortKey(port, .udp), .ipv6)) == .free)
    }

    @Test func withoutADaemonTheConfigurationIsShown() throws {
        let etc = try TemporaryDirectory("status")
        chmod(etc.path, 0o755)
        try etc.write("cups", "631\n")
        let report = StatusReport.wouldReserve(ConfigurationLoader(directories: [etc.path], servicesDatabase: testDatabase).load())
        #expect(!report.running)
        #expect(report.text() == """
            SERVICE  PORT  PROTO  FAMILY  STATE       SINCE  DETAIL
            cups     631   tcp    both    configured  -
            cups     631   udp    both    configured  -
            Not running; the configuration would reserve 2 ports for 1 services

            """)
    }
}

@Suite struct ConfigurationCheckTests {
    @Test func overlapsAndRepeatsAreFoundWithFileAndLine() throws {
        let etc = try TemporaryDirectory("check")
        chmod(etc.path, 0o755)  // as /etc/portreserve is
        let a = try etc.write("a", "631/tcp\n873\n631\n")
        let b = try etc.write("b", "# b\nbogus\n873/udp\n")
        let configuration = ConfigurationLoader(directories: [etc.path], servicesDatabase: testDatabase).load()
        #expect(ConfigurationCheck.findings(configuration).map(\.description) == [
            "\(b):2: unknown service \"bogus\" in the services database",
            "\(a):3: 631/tcp was already named on line 1",
            "\(b):3: 873/udp is also reserved for a (\(a):2); releasing either service frees it",
        ])
    }

    @Test func aCleanConfigurationHasNoFindings() throws {
        let etc = try TemporaryDirectory("check")
        chmod(etc.path, 0o755)
        try etc.write("a", "631\n")
        try etc.write("b", "873/tcp\n")
        #expect(ConfigurationCheck.findings(ConfigurationLoader(directories: [etc.path], servicesDatabase: testDatabase).load()).isEmpty)
    }
}
