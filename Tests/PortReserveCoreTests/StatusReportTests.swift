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
        StatusRow(service: "rsync", port: PortKey(873, .udp), family: .ipv4, state: .released(by: "rsync"), sharedWith: [], since: 200),
    ]

    func published(_ summary: ReservationSummary) -> [UInt8] {
        StatusCodec.encode(pid: 7, state: .running, since: 100, summary: summary, rows: rows)
    }

    @Test func thePublishedFileDecodesIntoTheSameRows() throws {
        let summary = ReservationSummary(ports: 1, services: 1, conflicts: 1)
        let report = try StatusReport.decode(published(summary), isAlive: { _ in true }).get()
        #expect(report.running)
        #expect(report.summary == summary)
        #expect(report.rows.map(\.state) == ["held", "conflict", "released"])
        #expect(report.rows[0].sharedWith == ["print"])
        #expect(report.rows[1].detail == "Address already in use; cupsd (pid 9)")
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
        let report = try StatusReport.decode(published(ReservationSummary(ports: 1, services: 1, conflicts: 1)), isAlive: { _ in true }).get()
        #expect(report.json().hasPrefix(
            #"{"version":1,"running":true,"summary":{"ports":1,"services":1,"conflicts":1},"reservations":[{"service":"cups","port":631,"protocol":"tcp","family":"ipv4","state":"held","since":100,"shared_with":["print"],"detail":null},"#))
        #expect(StatusReport.quoted("a\"b\\c\nd\u{1}") == #""a\"b\\c\nd\u0001""#)
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
