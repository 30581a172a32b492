import Foundation
import SystemCalls
import Testing
import TestSupport

@Suite struct ReleaseTests {
    @Test func everyPortIsFreeTheMomentPortreleaseExits() throws {
        // 200 services of one port each; each portrelease must leave its port bindable at once,
        // in every protocol and family, before the next line of this test runs.
        let ports = unusedPorts(200)
        var files: [String: String] = [:]
        for (index, port) in ports.enumerated() { files["s\(index)"] = "\(port)\n" }
        let daemon = try RunningDaemon(files)
        let ready = try daemon.waitUntilReady()
        #expect(ready == "READY=1\nSTATUS=Holding 800 sockets on 400 ports for 200 services, 0 retrying")
        for port in ports { #expect(isHeld(port), "port \(port) should be held at READY") }
        var failures: [String] = []
        for (index, port) in ports.enumerated() {
            let result = try daemon.portrelease(["s\(index)"])
            if result.status != 0 || !result.standardError.isEmpty { failures.append("s\(index): \(result)") }
            for probe in Probe.allCases where !canBind(port, probe) { failures.append("s\(index): \(port) \(probe) still taken") }
            // One broken release says what broke; 200 of them waiting out the timeout say nothing more.
            if !failures.isEmpty { break }
        }
        #expect(failures.isEmpty, "\(failures)\n\(daemon.log.suffix(2000))")
        // Everything is released: the daemon stays (a late release costs no start-up), and a
        // stop takes its socket file with it.
        #expect(daemon.exitStatus(within: 0.5) == nil)
        #expect(try daemon.portrelease(["-v", "s0"]).standardError == "s0: already released\n")
        daemon.process.terminate()
        #expect(daemon.exitStatus() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
    }

    @Test func theOriginalDatagramStillReleases() throws {
        let ports = unusedPorts(2)
        let daemon = try RunningDaemon(["legacy": "\(ports[0])\n", "other": "\(ports[1])/tcp\n"])
        try daemon.waitUntilReady()
        // Exactly what the original portrelease sends: the bare name from an unbound socket.
        let fd = try makeUnixDatagramSocket()
        defer { closeDescriptor(fd) }
        try sendDatagram(fd, Array("legacy".utf8), to: UnixAddress(path: daemon.socketPath))
        #expect(eventually { isFree(ports[0]) })
        #expect(!canBind(ports[1], .tcp4) && !canBind(ports[1], .tcp6))
        #expect(try daemon.nextNotification(startingWith: "STATUS=") == "STATUS=Holding 2 sockets on 1 ports for 1 services, 0 retrying")
        try sendDatagram(fd, Array("*".utf8), to: UnixAddress(path: daemon.socketPath))
        #expect(eventually { canBind(ports[1], .tcp4) })
    }

    @Test func starReleasesEverythingAndAnswersPerService() throws {
        let ports = unusedPorts(2)
        let daemon = try RunningDaemon(["a": "\(ports[0])\n", "b": "\(ports[1])\n"])
        try daemon.waitUntilReady()
        let result = try daemon.portrelease(["--verbose", "*"])
        #expect(result.status == 0)
        #expect(result.standardError == "a: released \(ports[0])/tcp \(ports[0])/udp\nb: released \(ports[1])/tcp \(ports[1])/udp\n")
        #expect(isFree(ports[0]) && isFree(ports[1]))
    }

    @Test func releasingThousandsAtOnceGetsTheWholeAnswer() throws {
        // 2,000 long names: the answer is over 100 kB, more than one datagram carries.
        let ports = unusedPorts(2000)
        var files: [String: String] = [:]
        for (index, port) in ports.enumerated() { files["a-rather-long-service-name-\(index)"] = "\(port)/udp\n" }
        let daemon = try RunningDaemon(files)
        try daemon.waitUntilReady()
        let result = try daemon.portrelease(["--verbose", "*"])
        #expect(result.status == 0, "\(result.standardError.suffix(300))")
        #expect(result.standardError.split(separator: "\n").count == 2000)
        #expect(canBind(ports[1999], .udp4))
    }

    @Test func overlappingFilesShareAPortAndEitherReleasesIt() throws {
        let ports = unusedPorts(2)
        let daemon = try RunningDaemon(["first": "\(ports[0])/udp\n\(ports[1])/udp\n", "second": "\(ports[1])/udp\n"])
        try daemon.waitUntilReady()
        let result = try daemon.portrelease(["-v", "second"])
        #expect(result.standardError == "second: released \(ports[1])/udp\n")
        #expect(canBind(ports[1], .udp4) && canBind(ports[1], .udp6))
        #expect(!canBind(ports[0], .udp4))
        #expect(try daemon.portrelease(["-v", "second"]).standardError == "second: already released\n")
    }

    @Test func aConflictIsReportedAndEverythingElseIsHeld() throws {
        let ports = unusedPorts(2)
        let listener = holdPort(ports[0], .tcp4)
        defer { close(listener) }
        #expect(listen(listener, 1) == 0)
        let daemon = try RunningDaemon(["busy": "\(ports[0])/tcp\n\(ports[1])/tcp\n"])
        #expect(try daemon.waitUntilReady() == "READY=1\nSTATUS=Holding 3 sockets on 2 ports for 1 services, 1 retrying")
        // Logged just after READY=1.
        #expect(eventually { daemon.log.contains(
            "conflict: cannot reserve 0.0.0.0:\(ports[0])/tcp for busy: Address already in use, held by ") })
        #expect(eventually { daemon.log.contains("(pid \(getpid()))") })
        #expect(!canBind(ports[0], .tcp6) && !canBind(ports[1], .tcp4) && !canBind(ports[1], .tcp6))
    }

    @Test func aRestartedDaemonDoesNotReserveWhatWasReleased() throws {
        let ports = unusedPorts(2)
        let first = try RunningDaemon(["gone": "\(ports[0])\n", "kept": "\(ports[1])\n"])
        try first.waitUntilReady()
        #expect(try first.portrelease(["gone"]).status == 0)
        first.process.terminate()
        #expect(first.exitStatus() == 0)
        #expect(isFree(ports[1]))
        // Started again on the same socket, as socket activation would: "gone" stays free.
        let second = try RunningDaemon(["gone": "\(ports[0])\n", "kept": "\(ports[1])\n"], directory: first.directory)
        let ready = try second.waitUntilReady()
        #expect(ready == "READY=1\nSTATUS=Holding 4 sockets on 2 ports for 1 services, 0 retrying")
        #expect(isFree(ports[0]))
        #expect(isHeld(ports[1]))
        #expect(eventually { second.log.contains("gone was released earlier in this boot: not reserving it again") })
    }

    @Test func aSocketActivatedDaemonAnswersTheRequestThatStartedIt() throws {
        // After everything was released and the daemon was stopped, a late portrelease starts it
        // again through the socket, and it must answer without taking anything back.
        let port = unusedPorts(1)[0]
        let first = try RunningDaemon(["late": "\(port)\n"])
        try first.waitUntilReady()
        #expect(try first.portrelease(["late"]).status == 0)
        first.process.terminate()
        #expect(first.exitStatus() == 0)
        // Like systemd with PassCredentials=yes: a socket that passes credentials, bound at the
        // path; the daemon is started only once a datagram waits on it.
        let second = try RunningDaemon(
            ["late": "\(port)\n"], directory: first.directory, launcher: ["/usr/bin/python3", "-c", socketActivator, first.socketPath])
        #expect(eventually { FileManager.default.fileExists(atPath: second.socketPath) })
        let result = try second.portrelease(["-v", "late"])
        #expect(result.standardError == "late: already released\n")
        #expect(result.status == 0)
        #expect(isFree(port))
        second.process.terminate()
        #expect(second.exitStatus() == 0)
    }

    /// A boot-time conflict is not given up: once its holder exits, the daemon holds the port,
    /// says so once, and status agrees. Every port conflicting does not make it exit.
    @Test func aConflictIsHeldOnceItsHolderExits() throws {
        let ports = unusedPorts(1)
        var four: CInt? = holdPort(ports[0], .udp4), six: CInt? = holdPort(ports[0], .udp6)
        defer { for fd in [four, six].compactMap({ $0 }) { close(fd) } }
        let daemon = try RunningDaemon(["statd": "\(ports[0])/udp\n"])
        #expect(try daemon.waitUntilReady() == "READY=1\nSTATUS=Holding 0 sockets on 0 ports for 0 services, 2 retrying")
        #expect(daemon.exitStatus(within: 1.5) == nil)
        let status = try run(product("portreserve-cli"), ["status", "--socket", daemon.socketPath])
        #expect(status.standardOutput.contains("retrying"), "\(status.standardOutput)")
        close(four!); close(six!)
        four = nil; six = nil
        #expect(eventually { !canBind(ports[0], .udp4) && !canBind(ports[0], .udp6) })
        #expect(eventually { daemon.log.contains("holding 0.0.0.0:\(ports[0])/udp for statd at last") })
        #expect(try daemon.nextNotification(startingWith: "STATUS=Holding 2 sockets") != nil)
        #expect(eventually {
            (try? run(product("portreserve-cli"), ["status", "--socket", daemon.socketPath]).standardOutput)?
                .contains("Holding 2 sockets on 1 ports for 1 services, 0 retrying") == true
        })
    }

    /// A reclaim says exactly which socket is not held, exits 1, and with --wait waits for the retry.
    @Test func reclaimReportsSocketsNotHeldAndWaitsWhenAsked() throws {
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["cups": "\(port)/tcp\n"])
        try daemon.waitUntilReady()
        #expect(try daemon.portrelease(["cups"]).status == 0)
        var four: CInt? = holdPort(port, .tcp4)
        defer { if let four { close(four) } }
        let reclaim = { (extra: [String]) throws -> ProcessResult in
            try run(product("portreserve-cli"), ["reclaim", "--socket", daemon.socketPath] + extra + ["cups"])
        }
        let failed = try reclaim([])
        #expect(failed.status == 1)
        #expect(failed.standardError.hasPrefix("portreserve reclaim: cups: 0.0.0.0:\(port)/tcp is not held (Address already in use); tried again in "),
                "\(failed.standardError)")
        #expect(!canBind(port, .tcp6))
        // Another reclaim while the port is taken keeps the IPv6 socket; then the holder goes.
        let holder = four!
        four = nil
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { close(holder) }
        let waited = try reclaim(["--wait", "20"])
        #expect(waited.status == 0, "\(waited.standardError)")
        #expect(!canBind(port, .tcp4) && !canBind(port, .tcp6))
    }

    /// A port shared with a released service stays released when the other is reclaimed: the
    /// reclaim says so at once and asks only once, since no retry can hold it, whatever --wait says.
    @Test func aReclaimOfAPortReleasedForAnotherServiceDoesNotWaitForIt() throws {
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["cups": "\(port)/tcp\n", "lpd": "\(port)/tcp\n"])
        try daemon.waitUntilReady()
        #expect(try daemon.portrelease(["lpd"]).status == 0)
        let result = try run(product("portreserve-cli"), ["reclaim", "--socket", daemon.socketPath, "--wait", "5", "cups"])
        #expect(result.status == 1)
        #expect(result.standardError.contains("portreserve reclaim: cups: 0.0.0.0:\(port)/tcp is not held (released for another service)"),
                "\(result.standardError)")
        #expect(eventually { daemon.log.components(separatedBy: "reclaimed cups for").count == 2 }, "\(daemon.log)")
        #expect(isFree(port))
    }

    /// `systemctl reload` runs `portreserve reload`: when it returns, the new configuration is in
    /// force (a SIGHUP returns before the daemon has read anything).
    @Test func reloadReturnsOnceTheNewConfigurationIsInForce() throws {
        let ports = unusedPorts(2)
        let daemon = try RunningDaemon(["cups": "\(ports[0])\n"])
        try daemon.waitUntilReady()
        try daemon.directory.write("conf/rsync", "\(ports[1])\n")
        try FileManager.default.removeItem(atPath: daemon.directory.path + "/conf/cups")
        let result = try run(product("portreserve-cli"), ["reload", "--socket", daemon.socketPath])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(isHeld(ports[1]) && isFree(ports[0]))
        #expect(result.standardOutput == "Holding 4 sockets on 2 ports for 1 services, 0 retrying\n")
        let missing = try run(product("portreserve-cli"), ["reload", "--socket", daemon.directory.path + "/none"])
        #expect(missing.status == 3 && missing.standardError.contains("nothing to reload"))
    }

    @Test func reclaimWithoutADaemonSaysSoAndFails() throws {
        let directory = try TemporaryDirectory()
        let result = try run(product("portreserve-cli"), ["reclaim", "--socket", directory.path + "/socket", "cups"])
        #expect(result.status == 3)
        #expect(result.standardError.contains("no daemon at \(directory.path)/socket"))
    }

    @Test(.enabled(if: runningAsRoot, "needs root to run portrelease as another user"))
    func anotherUserCannotReachTheReleasePath() throws {
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["guarded": "\(port)\n"])
        chmod(daemon.directory.path, 0o755)
        try daemon.waitUntilReady()
        var info = stat()
        #expect(lstat(daemon.socketPath, &info) == 0 && info.st_mode & 0o777 == 0o600 && info.st_uid == 0)
        let result = try daemon.portrelease(["guarded"], as: "nobody")
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("portrelease: \(daemon.socketPath) is root's alone (Permission denied): only root may release ports; "
            + "run it as root (in a unit's ExecStartPre=, prefix the command with + when the unit has User=)\n"))
        #expect(isHeld(port))
        // Nor can the original's datagram, nor a payload that claims to be root's, reach it.
        for payload in ["guarded", ".portreserve/1 release\\nguarded\\nuid=0\\n"] {
            let sent = try run("/usr/bin/setpriv", ["--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "/bin/sh", "-c",
                                                    "printf '\(payload)' | /usr/bin/socat -u STDIN UNIX-SENDTO:\(daemon.socketPath)"])
            #expect(sent.status != 0)
            #expect(sent.standardError.contains("Permission denied"))
        }
        #expect(isHeld(port))
        #expect(!daemon.log.contains("refused"))  // nothing reached the daemon, so nothing was logged
        #expect(try daemon.portrelease(["guarded"]).status == 0)
        #expect(isFree(port))
    }
}

/// A minimal socket activator in the manner of systemd's: binds the datagram socket with
/// SO_PASSCRED, waits for the first datagram, then execs the daemon with LISTEN_FDS=1 on fd 3.
/// (systemd-socket-activate cannot turn on SO_PASSCRED, and without it the activating request
/// carries no credentials.)
let socketActivator = """
    import os, select, socket, sys
    path, program = sys.argv[1], sys.argv[2:]
    control = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    control.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    control.bind(path)
    select.select([control], [], [])
    os.dup2(control.fileno(), 3)
    os.set_inheritable(3, True)  # dup2 onto itself keeps close-on-exec
    os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="portreserve.socket")
    os.execv(program[0], program)
    """
