import Testing
#if canImport(Glibc)
import Glibc
#endif
import TestSupport

@testable import PortReserveCore

@Suite struct StatusReportTests {
    let rows = [
        StatusRow(service: "cups", port: PortKey(631, .tcp), family: .ipv4, state: .held(5), sharedWith: ["print"], since: 100),
        StatusRow(service: "cups", port: PortKey(631, .tcp), family: .ipv6,
                  state: .conflict(.init(call: "bind", errno: 98), holder: "cupsd (pid 9)"), sharedWith: [], since: 100),
        StatusRow(service: "rsync", port: PortKey(873, .udp), family: .ipv4, state: .released(by: "rsync", unit: "rsync.service"), sharedWith: [], since: 200),
    ]

    func published(_ summary: ReservationSummary) -> [UInt8] {
        StatusCodec.encode(pid: 7, state: .running, since: 100, summary: summary, rows: rows)
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

    @Test func malformedStatusIsAnError() {
        let file = Array("portreserve-status 1\ndaemon 7 running 1 -\nrow cups 631/xtcp ipv4 held 1 - -\n".utf8)
        #expect(throws: RequestError("line 3: malformed status line \"row cups 631/xtcp ipv4 held 1 - -\"")) {
            try StatusReport.decode(file, isAlive: { _ in true }).get()
        }
        let noDaemon = Array("portreserve-status 1\nsummary 0 0 0\n".utf8)
        #expect(throws: RequestError("the status file names no daemon")) { try StatusReport.decode(noDaemon, isAlive: { _ in true }).get() }
        let otherVersion = Array("portreserve-status 2\n".utf8)
        #expect(throws: RequestError.self) { try StatusReport.decode(otherVersion, isAlive: { _ in true }).get() }
    }

    @Test func jsonFollowsTheDocumentedSchema() throws {
        let report = try StatusReport.decode(published(ReservationSummary(ports: 1, services: 1, retrying: 1, sockets: 1)), isAlive: { _ in true }).get()
        #expect(report.json().hasPrefix(
            #"{"version":1,"running":true,"summary":{"ports":1,"services":1,"conflicts":1,"retrying":1,"sockets":1},"reservations":[{"service":"cups","port":631,"protocol":"tcp","family":"ipv4","state":"held","since":100,"shared_with":["print"],"detail":null,"occupant":null,"taken":false},"#))
        #expect(StatusReport.quoted("a\"b\\c\nd\u{1}") == #""a\"b\\c\nd\u0001""#)
    }

    @Test func aSummaryOfTheFirstReleaseStillDecodes() throws {
        let file = Array("portreserve-status 1\ndaemon 7 running 1 -\nsummary 2 1 1\n".utf8)
        #expect(try StatusReport.decode(file, isAlive: { _ in true }).get().summary == ReservationSummary(ports: 2, services: 1, retrying: 1))
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

    @Test func withoutADaemonTheConfigurationIsShown() {
        let configuration = ConfigurationLoader(directories: [], servicesDatabase: testDatabase).parse(Array("631\n".utf8), file: "f")
        let report = StatusReport.wouldReserve(Configuration(
            services: [ServiceConfiguration(name: "cups", file: "f", entries: configuration.0)], problems: []))
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
