import Foundation
import Testing
import TestSupport

@Suite struct StatusCommandTests {
    @Test func statusShowsTheDaemonsRowsAndAnyUserMayAsk() throws {
        let ports = unusedPorts(2)
        let daemon = try RunningDaemon(["web": "\(ports[0])/tcp\n", "dns": "\(ports[1])/udp\n"])
        try daemon.waitUntilReady()
        let result = try run(product("portreserve"), ["status", "--socket", daemon.socketPath])
        #expect(result.status == 0)
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines.first?.hasPrefix("SERVICE") == true)
        #expect(lines[1].hasPrefix("dns      \(ports[1])  udp    ipv4    held"))
        #expect(lines.last == "Holding 4 sockets on 2 ports for 2 services, 0 retrying")
        if runningAsRoot {
            chmod(daemon.directory.path, 0o755)
            let asNobody = try run("/usr/bin/setpriv", ["--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                                                        product("portreserve"), "status", "--json", "--socket", daemon.socketPath])
            #expect(asNobody.status == 0)
            #expect(asNobody.standardOutput.hasPrefix(#"{"version":1,"running":true,"summary":{"ports":2,"services":2,"conflicts":0,"retrying":0,"sockets":4}"#))
        }
    }

    @Test func withoutADaemonStatusExitsThreeAndShowsTheConfiguration() throws {
        let directory = try TemporaryDirectory("status")
        try directory.write("conf/web", "48631/tcp\n")
        let result = try run(product("portreserve"),
                             ["status", "--config-dir", directory.path + "/conf", "--socket", directory.path + "/none"])
        #expect(result.status == 3)
        #expect(result.standardOutput.hasSuffix("Not running; the configuration would reserve 1 ports for 1 services\n"))
        #expect(result.standardOutput.contains("web      48631  tcp    both    configured"))
    }

    @Test func checkExitsOneAndNamesEveryProblem() throws {
        let directory = try TemporaryDirectory("check")
        let bad = try directory.write("conf/bad", "70000\n@unit lpd\n")
        try directory.write("conf/good", "48631\n@unit cupsd.service\n@reclaim yes\n")
        try directory.write("conf/manual", "48632\n@hook no\n")
        let result = try run(product("portreserve"), ["check", "--config-dir", directory.path + "/conf"])
        #expect(result.status == 1)
        // Every problem, then what portreserve-generator hooks for each service.
        #expect(result.standardOutput == """
            \(bad):1: port 70000 is out of range 1-65535
            \(bad):2: "lpd" is not a service unit: expected NAME.service
            bad: hooks bad.service (released before start)
            good: hooks cupsd.service (released before start, reclaimed after stop)
            manual: not hooked (@hook no): its unit must run portrelease manual itself

            """)
        try FileManager.default.removeItem(atPath: bad)
        let clean = try run(product("portreserve"), ["check", "--config-dir", directory.path + "/conf"])
        #expect(clean.status == 0)
        #expect(clean.standardOutput.hasSuffix("2 services, 4 ports: no problems\n"))
    }

    @Test func checkReportsFilesTheDaemonsUserCannotRead() throws {
        let directory = try TemporaryDirectory("check")
        let secret = try directory.write("conf/secret", "48631\n")
        try directory.write("conf/open", "48632\n")
        chmod(secret, 0o600)  // as the C daemon's installs often left them: it ran as root
        let result = try run(product("portreserve"), ["check", "--config-dir", directory.path + "/conf"])
        #expect(result.status == 1)
        #expect(result.standardOutput.hasPrefix("\(secret): the user portreserve cannot read it (mode 600); the daemon runs as portreserve "
            + "and will skip it at boot: chmod o+r \(secret)\n"))
        chmod(directory.path + "/conf", 0o700)
        let hidden = try run(product("portreserve"), ["check", "--config-dir", directory.path + "/conf"])
        #expect(hidden.standardOutput.hasPrefix("\(directory.path)/conf: the user portreserve cannot list it (mode 700)"))
    }
}
