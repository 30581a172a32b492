import Foundation
import SystemCalls
import Testing
import TestSupport

@Suite struct RobustnessTests {
    @Test func garbageGetsErrorsAndTheDaemonKeepsWorking() throws {
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["svc": "\(port)\n"])
        try daemon.waitUntilReady()
        let client = try autoboundDatagramSocket()
        defer { closeDescriptor(client) }
        let garbage: [[UInt8]] = [
            [], [0xC3, 0x28], Array(".portreserve/1 reboot\n".utf8), Array("two words".utf8),
            Array(repeating: 0x41, count: 70_000), Array(".portreserve/1 release\n".utf8),
        ]
        for payload in garbage {
            try sendDatagram(client, payload, to: UnixAddress(path: daemon.socketPath))
            let reply = try #require(try receive(on: client, within: 10))
            #expect(String(decoding: reply.payload, as: UTF8.self).hasPrefix(".portreserve/1 error\n"))
        }
        #expect(daemon.process.isRunning)
        #expect(isHeld(port))
        #expect(try daemon.portrelease(["svc"]).status == 0)
        #expect(isFree(port))
    }

    @Test func aSecondDaemonOnTheSameSocketRefusesToStart() throws {
        let port = unusedPorts(1)[0]
        let first = try RunningDaemon(["svc": "\(port)\n"])
        try first.waitUntilReady()
        let second = try run(product("portreserve"), ["--config-dir", first.directory.path + "/conf", "--socket", first.socketPath],
                             adding: ["JOURNAL_STREAM": "0:0"])
        #expect(second.status == 1)
        #expect(second.standardError.contains(
            "another portreserve daemon is already answering on \(first.socketPath); stop it first"))
        #expect(first.process.isRunning && isHeld(port))
    }

    @Test func somethingElseAtTheSocketPathIsNeverReplaced() throws {
        let directory = try TemporaryDirectory("not-a-socket")
        try FileManager.default.createDirectory(atPath: directory.path + "/run/socket", withIntermediateDirectories: true)
        try directory.write("conf/svc", "\(unusedPorts(1)[0])\n")
        let result = try run(product("portreserve"), ["--config-dir", directory.path + "/conf", "--socket", directory.path + "/run/socket"],
                             adding: ["JOURNAL_STREAM": "0:0"])
        #expect(result.status == 1)
        #expect(result.standardError.contains(
            "\(directory.path)/run/socket exists and is not a socket: refusing to replace it (remove it, or choose another --socket)"))
        var info = stat()
        #expect(lstat(directory.path + "/run/socket", &info) == 0 && info.st_mode & S_IFMT == S_IFDIR)
    }

    @Test func aStaleSocketFileIsReplaced() throws {
        let directory = try TemporaryDirectory("stale")
        try FileManager.default.createDirectory(atPath: directory.path + "/run", withIntermediateDirectories: true)
        closeDescriptor(try boundDatagramSocket(at: directory.path + "/run/socket"))  // the file stays, nobody is bound
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["svc": "\(port)\n"], directory: directory)
        try daemon.waitUntilReady()
        #expect(try daemon.portrelease(["svc"]).status == 0)
        #expect(isFree(port))
    }

    @Test func tooFewDescriptorsStillGiveReadyAndAnsweredReleases() throws {
        // 30 ports need 120 sockets; the hard limit allows 100 descriptors in all.
        let ports = unusedPorts(30)
        var files: [String: String] = [:]
        for (index, port) in ports.enumerated() { files[String(format: "s%02d", index)] = "\(port)\n" }
        let daemon = try RunningDaemon(files, launcher: ["/usr/bin/prlimit", "--nofile=100:100", "--"])
        let ready = try daemon.waitUntilReady()
        #expect(ready.hasPrefix("READY=1\nSTATUS=Holding "))
        #expect(eventually { daemon.log.contains("error: could not hold ") })  // logged just after READY=1
        #expect(isHeld(ports[0]))
        // Status says precisely which sockets are not held, and why.
        let status = try run(product("portreserve"), ["status", "--socket", daemon.socketPath])
        let failed = status.standardOutput.split(separator: "\n").filter { $0.contains(" retrying ") }
        #expect(!failed.isEmpty)
        #expect(failed.allSatisfy { $0.contains("failed: Too many open files") })
        let held = status.standardOutput.split(separator: "\n").filter { $0.contains(" held ") }
        #expect(held.count + failed.count == 120)
        #expect(try daemon.portrelease(["s00"]).status == 0)
        #expect(isFree(ports[0]))
    }

    @Test func sigtermClosesEverythingAndExitsZero() throws {
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["svc": "\(port)\n"])
        try daemon.waitUntilReady()
        daemon.process.terminate()
        #expect(daemon.exitStatus() == 0)
        #expect(try daemon.nextNotification(startingWith: "STOPPING=1", within: 5) != nil)
        #expect(isFree(port))
    }
}

@Suite struct PortreleaseCommandTests {
    @Test func helpDescribesEveryOptionAndExitsZero() throws {
        let result = try run(product("portrelease"), ["--help"])
        #expect(result.status == 0)
        for option in ["--timeout <seconds>", "--socket <path>", "--quiet", "--verbose", "<name>"] {
            #expect(result.standardOutput.contains(option))
        }
    }

    @Test func optionsTakeInlineValuesAndNamesMayFollowADoubleDash() throws {
        let result = try run(product("portrelease"), ["--socket=/nonexistent/socket", "--timeout=0.5", "-v", "--", "cups"])
        #expect(result.status == 0)
        #expect(result.standardError == "portrelease: no portreserve daemon at /nonexistent/socket: nothing to release\n")
    }

    @Test func noDaemonMeansNothingToReleaseAndSuccess() throws {
        let result = try run(product("portrelease"), ["--socket", "/nonexistent/portreserve/socket", "cups"])
        #expect(result.status == 0)
        #expect(result.standardError.isEmpty)
    }

    @Test func aDaemonThatDoesNotAnswerIsAnError() throws {
        let directory = try TemporaryDirectory("silent")
        let silent = try boundDatagramSocket(at: directory.path + "/socket")
        defer { closeDescriptor(silent) }
        let result = try run(product("portrelease"), ["--socket", directory.path + "/socket", "--timeout", "0.2", "cups"])
        #expect(result.status == 2)
        #expect(result.standardError == "portrelease: the daemon at \(directory.path)/socket did not answer within 0.2 seconds\n")
    }

    /// reload and reclaim give the same exits without an answer: 2 when it does not come, 3 when no
    /// daemon runs, each line naming the command and the socket.
    @Test(arguments: ["reload", "reclaim"])
    func theControlCommandsSayWhyThereIsNoAnswer(command: String) throws {
        let directory = try TemporaryDirectory("silent")
        let names = command == "reclaim" ? ["cups"] : []
        let silent = try boundDatagramSocket(at: directory.path + "/socket")
        defer { closeDescriptor(silent) }
        let unanswered = try run(product("portreserve-cli"), [command, "--socket", directory.path + "/socket", "--timeout", "0.2"] + names)
        #expect(unanswered.status == 2)
        #expect(unanswered.standardError == "portreserve \(command): the daemon at \(directory.path)/socket did not answer within 0.2 seconds\n")
        let missing = try run(product("portreserve-cli"), [command, "--socket", directory.path + "/none"] + names)
        #expect(missing.status == 3)
        let meaning = command == "reload" ? ": nothing to reload" : " (portreserve.socket is not active and none runs): nothing holds the ports"
        #expect(missing.standardError == "portreserve \(command): no daemon at \(directory.path)/none\(meaning)\n")
    }

    @Test(arguments: [
        ([String](), "Error: Missing expected argument '<name> ...'"),
        (["--timeout=-1", "cups"], "Error: --timeout must be between 0 and 86400 seconds, got -1.0"),
        (["bad name"], "Error: service name \"bad name\" contains spaces, control or format characters"),
        (["a/b"], "Error: service name \"a/b\" contains /"),
        (["--timeout", "soon", "cups"], "Error: The value 'soon' is invalid for '--timeout <seconds>'"),
        (["--frobnicate", "cups"], "Error: Unknown option '--frobnicate'"),
        (["--socket"], "Error: Missing value for '--socket <path>'"),
    ])
    func badArgumentsSayWhatIsWrong(arguments: [String], message: String) throws {
        let result = try run(product("portrelease"), arguments)
        #expect(result.status == 64)
        #expect(result.standardError.hasPrefix(message), "\(result.standardError)")
    }
}
