import Foundation
import PortReserveProtocol
import Testing
import TestSupport

/// One version, in the programs and in both packages.
@Suite struct VersionTests {
    static let top = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func everyProgramPrintsThePackagesVersion() throws {
        for program in ["portreserve", "portrelease", "portreserve-cli"] {
            let result = try run(product(program), ["--version"])
            #expect(result.status == 0)
            #expect(result.standardOutput == Version.current + "\n", "\(program)")
        }
        let changelog = try String(contentsOf: Self.top.appendingPathComponent("packaging/debian/changelog"), encoding: .utf8)
        #expect(changelog.hasPrefix("portreserve (\(Version.current)) "))
        let spec = try String(contentsOf: Self.top.appendingPathComponent("packaging/rpm/portreserve.spec"), encoding: .utf8)
        #expect(spec.split(separator: "\n").contains { $0.hasPrefix("Version:") && $0.hasSuffix(" \(Version.current)") })
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg"), "needs dpkg"))
    func itUpgradesTheCOriginalsLastRelease() throws {
        // 0.0.5 was the C portreserve's last release, in Debian and in Fedora.
        #expect(try run("/usr/bin/dpkg", ["--compare-versions", Version.current, "gt", "0.0.5"]).status == 0)
        #expect(try run("/usr/bin/dpkg", ["--compare-versions", Version.current, "gt", "0.0.5-23"]).status == 0)
    }
}
