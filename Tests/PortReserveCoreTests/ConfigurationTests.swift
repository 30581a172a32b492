import Foundation
import Testing
import TestSupport

import PortReserveProtocol
import PortReserveConfiguration
@testable import PortReserveCore

/// A services database that knows a few names, so the tests do not depend on /etc/services.
let testDatabase = ServicesDatabase { name, transport in
    switch (name, transport) {
    case ("ipp", .tcp): return 631
    case ("rsync", _): return 873
    case ("split", .tcp): return 1000
    case ("split", .udp): return 1001
    default: return nil
    }
}

/// The configuration in `directories`, first one winning, names resolved by `testDatabase`.
func load(_ directories: String...) -> Configuration {
    ConfigurationLoader(directories: directories, servicesDatabase: testDatabase).load()
}

@Suite struct EntryParserTests {
    func parse(_ line: String) -> EntryParser.Result { EntryParser.parse(line, servicesDatabase: testDatabase) }

    @Test func blankAndCommentLinesAreSkipped() {
        for line in ["", "   ", "\t", "# a comment", "   # indented comment"] { #expect(parse(line) == .blank) }
    }

    @Test func numbersMeanBothProtocolsUnlessOneIsGiven() {
        #expect(parse("631") == .ports(text: "631", [PortKey(631, .tcp), PortKey(631, .udp)]))
        #expect(parse("  631/tcp  ") == .ports(text: "631/tcp", [PortKey(631, .tcp)]))
        #expect(parse("631/UDP # printing") == .ports(text: "631/UDP", [PortKey(631, .udp)]))
        #expect(parse("1") == .ports(text: "1", [PortKey(1, .tcp), PortKey(1, .udp)]))
        #expect(parse("65535/tcp") == .ports(text: "65535/tcp", [PortKey(65535, .tcp)]))
    }

    @Test func namesComeFromTheServicesDatabase() {
        #expect(parse("rsync") == .ports(text: "rsync", [PortKey(873, .tcp), PortKey(873, .udp)]))
        // ipp is only listed for tcp; a bare name still holds the port for udp, like the original.
        #expect(parse("ipp") == .ports(text: "ipp", [PortKey(631, .tcp), PortKey(631, .udp)]))
        #expect(parse("split") == .ports(text: "split", [PortKey(1000, .tcp), PortKey(1001, .udp)]))
        #expect(parse("ipp/tcp") == .ports(text: "ipp/tcp", [PortKey(631, .tcp)]))
    }

    @Test(arguments: [
        ("0", "port 0 is out of range 1-65535"),
        ("65536", "port 65536 is out of range 1-65535"),
        ("99999999999999999999", "port 99999999999999999999 is out of range 1-65535"),
        ("nosuch", "unknown service \"nosuch\" in the services database"),
        ("ipp/udp", "unknown service \"ipp\" for udp in the services database"),
        ("631/sctp", "unknown protocol \"sctp\" in \"631/sctp\": expected tcp or udp"),
        ("631/", "unknown protocol \"\" in \"631/\": expected tcp or udp"),
        ("/tcp", "missing service name or port in \"/tcp\""),
        ("631/tcp/udp", "expected NAME, PORT, NAME/PROTOCOL or PORT/PROTOCOL, found \"631/tcp/udp\""),
        ("ipp rsync", "expected one service name or port per line, found \"ipp rsync\""),
    ])
    func invalidLinesSayWhy(line: String, message: String) {
        #expect(parse(line) == .invalid(message))
    }

    @Test func theByteFastPathAgreesWithTheFullParser() {
        let lines = ["631", " 631/tcp ", "631/UDP # printing", "00631", "0", "65535", "65536", "000000631", "631/tcpx",
                     "631/", "ipp", "rsync/udp", "", "# only a comment", "\t873\r", "a b", "1/tcp/udp",
                     "000047208", "047209", "0000000000000000000001/tcp", "99999999999999999999999", "000000"]
        for line in lines {
            #expect(EntryParser.parse(bytes: ArraySlice(line.utf8), servicesDatabase: testDatabase) == parse(line), "\(line)")
        }
        #expect(EntryParser.parse(bytes: [0x36, 0xFF], servicesDatabase: testDatabase) == nil)
    }

    @Test func aNumberMeansItsValueWhateverItsLeadingZeros() {
        #expect(parse("000047208") == .ports(text: "000047208", [PortKey(47208, .tcp), PortKey(47208, .udp)]))
        #expect(parse("047209/udp") == .ports(text: "047209/udp", [PortKey(47209, .udp)]))
        #expect(parse("0065536") == .invalid("port 0065536 is out of range 1-65535"))
        #expect(parse("000") == .invalid("port 000 is out of range 1-65535"))
    }

    @Test func whatALineHoldsIsEscapedAndCutInMessages() {
        #expect(parse("bad\u{202E}name x") == .invalid("expected one service name or port per line, found \"bad\\u{202E}name x\""))
        guard case .invalid(let message) = parse(String(repeating: "z", count: 10_000) + " x") else {
            Issue.record("a long bad line was accepted")
            return
        }
        #expect(message.count < 200)
    }

    @Test func fileNamesThatAreNotTextStillGiveOneFileLinePrefix() {
        #expect(ConfigurationProblem(file: "/etc/portreserve/a\nb", line: 3, message: "m").description == "/etc/portreserve/a\\u{A}b:3: m")
        #expect(printable(bytes: Array("/etc/p/x".utf8) + [0xFF, 0x41]) == "/etc/p/x\\xFFA")
    }

    @Test func aFileNameThatIsNotUTF8IsSkippedByName() throws {
        let etc = try TemporaryDirectory("conf")
        try etc.write("good", "631\n")
        let bad = Array((etc.path + "/bad").utf8) + [0xFF]
        let raw = bad.map { CChar(bitPattern: $0) } + [0]
        let fd = raw.withUnsafeBufferPointer { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o644) }
        #expect(fd >= 0)
        close(fd)
        let configuration = ConfigurationLoader(directories: [etc.path], servicesDatabase: testDatabase).load()
        #expect(configuration.services.map(\.name) == ["good"])
        #expect(configuration.problems.map(\.description) == ["\(etc.path): ignored \"bad\\xFF\": a service name must be valid UTF-8"])
    }

    @Test func linesMayBeAnyLength() {
        let long = String(repeating: " ", count: 100_000) + "631/tcp"
        #expect(parse(long) == .ports(text: "631/tcp", [PortKey(631, .tcp)]))
    }
}

@Suite struct ConfigurationLoaderTests {
    @Test func problemsNameFileAndLineAndTheRestIsKept() throws {
        let etc = try TemporaryDirectory("conf")
        let file = try etc.write("cups", "ipp\n\nbogus\n# note\n70000\n631/udp\n")
        let configuration = load(etc.path)
        #expect(configuration.problems.map(\.description) == [
            "\(file):3: unknown service \"bogus\" in the services database",
            "\(file):5: port 70000 is out of range 1-65535",
        ])
        let cups = try #require(configuration.services.first)
        #expect(cups.name == "cups")
        #expect(cups.entries.map(\.line) == [1, 6])
        #expect(cups.ports == [PortKey(631, .tcp), PortKey(631, .udp)])
    }

    @Test func namesWithDotOrTildeAreIgnoredAsTheOriginalDid() throws {
        let etc = try TemporaryDirectory("conf")
        for name in ["cups", "cups.rpmsave", "cups~", ".hidden", "cups.dpkg-old"] { try etc.write(name, "631\n") }
        let configuration = load(etc.path)
        #expect(configuration.services.map(\.name) == ["cups"])
        #expect(configuration.problems.isEmpty)
    }

    @Test func theFirstDirectoryWinsAndEmptyOrNullFilesMask() throws {
        let etc = try TemporaryDirectory("etc"), vendor = try TemporaryDirectory("vendor")
        try vendor.write("cups", "631\n")
        try vendor.write("rsync", "873\n")
        try vendor.write("ypbind", "834\n")
        try vendor.write("plain", "900\n")
        try vendor.write("nfs", "2049\n")
        try etc.write("cups", "632/tcp\n")          // overrides
        try etc.write("rsync", "")                   // masks
        try FileManager.default.createSymbolicLink(atPath: etc.path + "/ypbind", withDestinationPath: "/dev/null")
        try FileManager.default.createSymbolicLink(atPath: etc.path + "/nfs", withDestinationPath: etc.path + "/ypbind")
        let configuration = load(etc.path, vendor.path)
        #expect(configuration.services.map(\.name) == ["cups", "plain"])
        #expect(configuration.services[0].file == etc.path + "/cups")
        #expect(configuration.services[0].ports == [PortKey(632, .tcp)])
        #expect(configuration.problems.isEmpty)
    }

    @Test func servicesFromSeveralDirectoriesComeInNameOrder() throws {
        let etc = try TemporaryDirectory("etc"), vendor = try TemporaryDirectory("vendor")
        try etc.write("mid", "2\n")
        try etc.write("zed", "3\n")
        try vendor.write("alpha", "1\n")
        try vendor.write("zed", "4\n")
        let configuration = load(etc.path, vendor.path)
        #expect(configuration.services.map(\.name) == ["alpha", "mid", "zed"])
        #expect(configuration.services.last?.file == etc.path + "/zed")
    }

    @Test func oneBadFileNeverStopsTheOthers() throws {
        let etc = try TemporaryDirectory("conf")
        try etc.write("good", "873/tcp\n")
        let bad = try etc.write("bad", "")
        try Data([0x36, 0x33, 0x31, 0x0A, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: bad))
        try FileManager.default.createDirectory(atPath: etc.path + "/subdir", withIntermediateDirectories: false)
        try etc.write("with space", "1\n")
        try etc.write("fifo-like", "2\n")
        let configuration = load(etc.path, "/nonexistent/portreserve")
        #expect(configuration.services.map(\.name) == ["bad", "fifo-like", "good"])
        #expect(configuration.services[0].ports == [PortKey(631, .tcp), PortKey(631, .udp)])
        #expect(configuration.problems.map(\.description).sorted() == [
            "\(bad):2: not valid UTF-8",
            "\(etc.path)/subdir: ignored: a directory, not a file",
            "\(etc.path)/with space: ignored: service name \"with space\" contains spaces, control or format characters",
        ])
        // Only the file that is there but cannot be read leaves its service unknown; a bad line
        // does not, and a bad name is no service.
        #expect(configuration.unreadable == ["subdir": etc.path + "/subdir"])
    }

    @Test func systemDatabaseResolvesRealNames() {
        // /etc/services on every Debian system lists these.
        #expect(ServicesDatabase.system.port(of: "ssh", .tcp) == 22)
        #expect(ServicesDatabase.system.port(of: "domain", .udp) == 53)
        #expect(ServicesDatabase.system.port(of: "no-such-service-here", .tcp) == nil)
    }

    @Test func aSnapshotAnswersEveryNameAsGetservbynameDoes() throws {
        // Every name and alias of /etc/services, for both protocols: the snapshot's first-wins
        // table must give what one getservbyname_r call gives, including names listed twice.
        let text = try String(contentsOfFile: "/etc/services", encoding: .utf8)
        var names = Set<String>()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].split(whereSeparator: \.isWhitespace)
            guard fields.count >= 2 else { continue }
            names.insert(String(fields[0]))
            fields.dropFirst(2).forEach { names.insert(String($0)) }
        }
        #expect(names.count > 100)
        let snapshot = ServicesDatabase.system.snapshot()
        var differences: [String] = []
        for name in names.sorted() {
            for transport in TransportProtocol.allCases {
                let one = ServicesDatabase.system.port(of: name, transport), all = snapshot.port(of: name, transport)
                if one != all { differences.append("\(name)/\(transport.rawValue): \(String(describing: one)) vs \(String(describing: all))") }
            }
        }
        #expect(differences == [])
        #expect(snapshot.port(of: "no-such-service-here", .tcp) == nil)
    }

    @Test func aTestDatabaseIsItsOwnSnapshot() {
        #expect(testDatabase.snapshot().port(of: "ipp", .tcp) == testDatabase.port(of: "ipp", .tcp))
    }
}
