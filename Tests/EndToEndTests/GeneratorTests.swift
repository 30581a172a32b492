import Foundation
import Testing
import TestSupport

/// The built portreserve-generator, run as systemd runs it: the output directories as arguments,
/// the configuration directories (here temporary ones) layered as the daemon layers them.
@Suite struct GeneratorTests {
    func generate(_ directory: TemporaryDirectory, _ configDirectories: [String]) throws -> ProcessResult {
        try run(product("portreserve-generator"),
                [directory.path + "/normal", directory.path + "/early", directory.path + "/late"],
                adding: ["PORTRESERVE_CONFIG_DIRS": configDirectories.joined(separator: ":")])
    }

    func dropIns(_ directory: TemporaryDirectory) -> [String] {
        let root = directory.path + "/normal"
        let units = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return units.flatMap { unit in
            ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + unit)) ?? []).map { unit + "/" + $0 }
        }.sorted()
    }

    @Test func everyConfiguredServiceIsHookedAndOptedOutOrMaskedOnesAreNot() throws {
        let directory = try TemporaryDirectory("generator")
        let etc = directory.path + "/etc", vendor = directory.path + "/vendor"
        try directory.write("etc/cups", "ipp\n@unit cups.service\n@reclaim yes\n")
        try directory.write("etc/rsync", "rsync\n")
        try directory.write("etc/manual", "48900\n@hook no\n")
        try directory.write("etc/masked", "")                       // masks the vendor file
        try directory.write("vendor/masked", "48901\n")
        try directory.write("vendor/statd", "662\n@unit rpc-statd.service\n")
        try directory.write("etc/rsync~", "backup, never a service\n")
        let result = try generate(directory, [etc, vendor])
        #expect(result.status == 0)
        #expect(result.standardError.isEmpty, "\(result.standardError)")
        #expect(dropIns(directory) == [
            "cups.service.d/portreserve-cups.conf", "rpc-statd.service.d/portreserve-statd.conf",
            "rsync.service.d/portreserve-rsync.conf",
        ])
        let cups = try String(contentsOfFile: directory.path + "/normal/cups.service.d/portreserve-cups.conf", encoding: .utf8)
        #expect(cups.contains("from \(etc)/cups"))
        #expect(cups.contains("ExecStartPre=+/usr/sbin/portrelease cups\n"))
        #expect(cups.contains("ExecStopPost=-+/usr/sbin/portreserve reclaim cups\n"))
        let rsync = try String(contentsOfFile: directory.path + "/normal/rsync.service.d/portreserve-rsync.conf", encoding: .utf8)
        #expect(!rsync.contains("ExecStopPost"))
    }

    @Test func aBadFileIsReportedAndSkippedAndNeverFailsTheBoot() throws {
        let directory = try TemporaryDirectory("generator-bad")
        let etc = directory.path + "/etc"
        try directory.write("etc/good", "873\n")
        try directory.write("etc/bad", "@unit not-a-unit\n@unit fine.service\n")
        try directory.write("etc/portreserve.conf", "@reclaim yes\n@hook sometimes\n")
        let result = try generate(directory, [etc, directory.path + "/missing"])
        #expect(result.status == 0)
        #expect(result.standardError.contains("portreserve-generator: \(etc)/bad:1: \"not-a-unit\" is not a service unit"))
        #expect(result.standardError.contains("\(etc)/portreserve.conf:2: @hook takes yes or no"))
        // The defaults file's good line still counts: every service reclaims.
        let good = try String(contentsOfFile: directory.path + "/normal/good.service.d/portreserve-good.conf", encoding: .utf8)
        #expect(good.contains("ExecStopPost=-+/usr/sbin/portreserve reclaim good"))
        #expect(dropIns(directory).contains("fine.service.d/portreserve-bad.conf"))
    }

    @Test func misuseSaysHowItIsRun() throws {
        let result = try run(product("portreserve-generator"), ["relative"])
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("usage: portreserve-generator NORMAL_DIR"))
    }
}
