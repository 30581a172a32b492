import Testing
import TestSupport

@testable import PortReserveProtocol

@Suite struct StatusFileTests {
    @Test func theFileCarriesTheDaemonAndEveryRowAndReadsBack() throws {
        let rows = (0..<3000).map {
            StatusFile.Row(service: "service\($0)", port: PortKey(UInt16(10000 + $0), .tcp), family: .ipv4, status: .held, since: 1_700_000_000)
        } + [StatusFile.Row(service: "evil", port: PortKey(9, .udp), family: .ipv6, status: .retrying, since: 1_700_000_001,
                            detail: "conflict: Address already in use; held by x\nrow forged 1/tcp ipv4 held 1 - - (pid 7)")]
        let file = StatusFile(publisher: .init(pid: 42, state: .running, since: 1_700_000_000),
                              summary: .init(ports: 3001, services: 3001, retrying: 1, sockets: 3000), rows: rows)
        let bytes = file.encoded()
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 3 + 3001)
        #expect(lines[0] == "portreserve-status 1")
        #expect(lines[1] == "daemon 42 running 1700000000 -")
        #expect(lines[2] == "summary 3001 3001 1 3000")
        #expect(lines[3] == "row service0 10000/tcp ipv4 held 1700000000 - -")
        // A holder's name is the holder's to choose: it cannot add a line.
        #expect(lines.last == "row evil 9/udp ipv6 retrying 1700000001 - conflict: Address already in use; held by x\\u{A}row forged 1/tcp ipv4 held 1 - - (pid 7)")
        let decoded = try StatusFile.decode(bytes).get()
        #expect(decoded.publisher == file.publisher && decoded.summary == file.summary)
        #expect(decoded.rows.dropLast() == file.rows.dropLast())
        #expect(decoded.rows.last?.detail == printable(rows.last!.detail!))
        let stopped = StatusFile(publisher: .init(pid: 42, state: .stopped(reason: "SIGTERM"), since: 1_700_000_100), summary: .init(), rows: [])
        #expect(try StatusFile.decode(stopped.encoded()).get() == stopped)
    }

    @Test func aSummaryOfTheFirstReleaseStillDecodes() throws {
        let file = Array("portreserve-status 1\ndaemon 1 running 5 -\nsummary 2 1 1\n".utf8)
        #expect(try StatusFile.decode(file).get().summary == ReservationSummary(ports: 2, services: 1, retrying: 1))
    }

    @Test(arguments: [
        ("portreserve-status 2\n", "line 1: not a status file of this version (expected \"portreserve-status 1\")"),
        ("portreserve-status 1\nsummary 0 0 0\n", "the status file names no daemon"),
        ("portreserve-status 1\ndaemon 1 running 5 -\nrow a 1/tcp ipv4 borrowed 5 - -\n", "line 3: malformed status line \"row a 1/tcp ipv4 borrowed 5 - -\""),
    ])
    func aDamagedFileNamesItsLine(text: String, message: String) {
        #expect(throws: RequestError(message)) { try StatusFile.decode(Array(text.utf8)).get() }
    }

    @Test func aMissingDirectoryIsNoFileAndAnErrorNamesThePath() throws {
        let directory = try TemporaryDirectory("status")
        #expect(try StatusFile.read(stateDirectory: directory.path + "/none").get() == nil)
        #expect(try StatusFile.read(stateDirectory: directory.path).get() == nil)
        try directory.write("status", "junk\n")
        #expect(throws: RequestError("\(directory.path)/status: line 1: not a status file of this version (expected \"portreserve-status 1\")")) {
            try StatusFile.read(stateDirectory: directory.path).get()
        }
    }
}
