import Foundation
import Testing
import TestSupport

/// The daemon's options are read by a fast parser of its own and declared again for
/// ArgumentParser's --help and completions: these tests keep the two in step.
@Suite struct DaemonOptionTests {
    static let options = ["--config-dir <dir>", "--socket <path>", "--state-dir <dir>", "--fd-store-max <n>", "-d, --debug"]

    @Test func helpListsExactlyTheOptionsTheFastParserReads() throws {
        let help = try run(product("portreserve"), ["run", "--help"])
        #expect(help.status == 0)
        for option in Self.options { #expect(help.standardOutput.contains(option), "\(option)") }
        let listed = help.standardOutput.split(separator: "\n").filter { $0.hasPrefix("  -") }
        #expect(listed.count == Self.options.count + 2)  // and --version, -h, --help
    }

    @Test(arguments: [["run"], []])
    func everyOptionStartsTheDaemonWithOrWithoutRun(leading: [String]) throws {
        let port = unusedPorts(1)[0]
        let state = try TemporaryDirectory("state")
        let daemon = try RunningDaemon(["svc": "\(port)\n"], leading: leading,
                                       arguments: ["--state-dir=\(state.path)", "--fd-store-max", "0", "-d"])
        try daemon.waitUntilReady()
        #expect(daemon.log.contains("debug:"))
        // With a store of 0, the descriptors that would follow READY=1 at once never come.
        #expect(try daemon.nextNotification(startingWith: "FDSTORE=1", within: 1) == nil)
        #expect(isHeld(port))
        #expect(try daemon.portrelease(["svc"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: state.path + "/released"))
    }

    @Test func withoutPortreserveCliTheSubcommandsSaySoAndTheDaemonStillRuns() throws {
        let alone = try TemporaryDirectory("alone")
        let copy = alone.path + "/portreserve"
        try FileManager.default.copyItem(atPath: product("portreserve"), toPath: copy)
        // An installed portreserve-cli (/usr/libexec/portreserve) would answer instead: as root, it is
        // hidden under an empty /usr/libexec in a private mount namespace.
        let installed = FileManager.default.isExecutableFile(atPath: "/usr/libexec/portreserve/portreserve-cli")
        let result = installed && runningAsRoot
            ? try run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c",
                                            "mount -t tmpfs tmpfs /usr/libexec && exec \"$0\" status", copy])
            : try run(copy, ["status"])
        if installed && !runningAsRoot {
            #expect(result.status == 3)  // the installed one answers: no daemon on the default socket
            return
        }
        #expect(result.status == 69)
        #expect(result.standardError.contains("cannot run portreserve-cli"))
        #expect(result.standardError.contains(alone.path + "/portreserve-cli"))
    }

    @Test func anythingElseIsLeftToArgumentParser() throws {
        let result = try run(product("portreserve"), ["--frobnicate"])
        #expect(result.status == 64)
        #expect(result.standardError.contains("Unknown option '--frobnicate'"))
        for bad in ["x", "-1"] {
            let option = try run(product("portreserve"), ["--fd-store-max", bad])
            #expect(option.status == 64)
            #expect(option.standardError.contains("'--fd-store-max <n>'"), "\(option.standardError)")
        }
        let subcommand = try run(product("portreserve"), ["check", "--config-dir", "/nonexistent"])
        #expect(subcommand.status == 0)
    }

    @Test func portreserveCliRunByHandRunsTheDaemon() throws {
        let port = unusedPorts(1)[0]
        let directory = try TemporaryDirectory("cli-run")
        try directory.write("conf/svc", "\(port)\n")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: product("portreserve-cli"))
        process.arguments = ["--config-dir", directory.path + "/conf", "--socket", directory.path + "/run/socket"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = nil
        environment["JOURNAL_STREAM"] = nil
        process.environment = environment
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { process.terminate() }
        #expect(eventually { FileManager.default.fileExists(atPath: directory.path + "/run/state/status") })
        #expect(isHeld(port))
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(isFree(port))
    }
}
