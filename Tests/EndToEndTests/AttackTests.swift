import Foundation
import SystemCalls
import Testing
import TestSupport

/// The control plane as a hostile local user sees it: each attack that once stalled, looped or
/// flooded the daemon, tried as `nobody` (who can no longer reach the socket at all) and, where
/// root could still make it, as root (whom the daemon must survive too). After each one, root's
/// release must still work, which is what every `ExecStartPre=portrelease` depends on.
@Suite(.serialized, .enabled(if: runningAsRoot, "needs root to act as nobody and to bind reserved sockets"))
struct AttackTests {
    /// Binds a socket at DIR/socket, swaps DIR for a link to the daemon's socket directory, and
    /// sends one bad request from it: a reply to its address lands on the daemon's own socket.
    static let redirectedReply = """
        import os, socket, sys
        directory, daemon = sys.argv[1], sys.argv[2]
        os.mkdir(directory)
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sender.bind(directory + "/" + os.path.basename(daemon))
        os.rename(directory, directory + ".moved")
        os.symlink(os.path.dirname(daemon), directory)
        try:
            sender.sendto(b"\\x01 not a request", daemon)
        except PermissionError:
            print("denied"); sys.exit(3)
        print("sent")
        """

    @Test func aReplyRedirectedAtTheDaemonsOwnSocketIsNeverSent() throws {
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["svc": "\(port)\n"])
        chmod(daemon.directory.path, 0o755)
        try daemon.waitUntilReady()
        let scratch = try TemporaryDirectory("attack")
        chmod(scratch.path, 0o777)
        let asNobody = try run("/usr/bin/setpriv", ["--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                                                    "/usr/bin/python3", "-c", Self.redirectedReply, scratch.path + "/nobody", daemon.socketPath])
        #expect(asNobody.status == 3 && asNobody.standardOutput == "denied\n")
        // Root can reach the socket; the daemon still never answers a path, so nothing loops.
        let asRoot = try run("/usr/bin/python3", ["-c", Self.redirectedReply, scratch.path + "/root", daemon.socketPath])
        #expect(asRoot.status == 0 && asRoot.standardOutput == "sent\n")
        let release = try daemon.portrelease(["svc"])
        #expect(release.status == 0)
        #expect(isFree(port))
        // The request above was handled before the release: one bad request, and no answer to
        // ourselves read as another one.
        #expect(daemon.log.components(separatedBy: "bad request from").count - 1 == 1, "\(daemon.log)")
    }

    /// A TCP socket with a full send buffer and a long SO_LINGER, passed with a request and then
    /// closed by its sender, so that the daemon's close(2) would be the last one and wait.
    static let lingeringDescriptor = """
        import array, socket, struct, sys, time
        daemon = sys.argv[1]
        listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(1)
        client = socket.socket(); client.connect(listener.getsockname()); client.setblocking(False)
        try:
            while True: client.send(b"x" * 65536)
        except BlockingIOError:
            pass
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); sender.bind("")
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [client.fileno()]))]
        try:
            sender.sendmsg([b".portreserve/1 release\\nnosuch\\n"], rights, 0, daemon)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 60))
            print("sent", flush=True)
        except PermissionError:
            print("refused by the kernel", flush=True)
        client.close()
        time.sleep(70)
        """

    @Test func aPassedLingeringSocketNeverStallsTheLoop() throws {
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["svc": "\(port)\n"])
        try daemon.waitUntilReady()
        let attacker = Process()
        attacker.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        attacker.arguments = ["-c", Self.lingeringDescriptor, daemon.socketPath]
        let output = Pipe()
        attacker.standardOutput = output
        try attacker.run()
        defer { attacker.terminate() }
        var said = ""
        while !said.hasSuffix("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the attacker ended without saying
            said += String(decoding: chunk, as: UTF8.self)
        }
        // Refused where the kernel has SO_PASSRIGHTS (6.16 and later); closed off the loop elsewhere.
        #expect(said == "sent\n" || said == "refused by the kernel\n", "the attacker said \"\(said)\"")
        // Within its default timeout, which a close(2) waiting out the linger would exceed.
        let release = try daemon.portrelease(["svc"])
        #expect(release.status == 0, "\(said) \(release.standardError)")
        #expect(isFree(port))
    }

    @Test func aFloodOfGarbageWritesAFewEntriesAndRootStillReleases() throws {
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["svc": "\(port)\n"])
        try daemon.waitUntilReady()
        let client = try autoboundDatagramSocket()
        defer { closeDescriptor(client) }
        try setNonBlocking(client)
        // Never read: the replies pile up on our side, not the daemon's problem.
        for index in 0..<2000 {
            _ = try? sendDatagram(client, Array("\u{1B}]0;garbage \(index)\u{7}".utf8), to: UnixAddress(path: daemon.socketPath), nonBlocking: true)
        }
        let names = (0..<10_000).map { "n\($0)" }.joined(separator: "\n")
        // From a blocking socket: it waits for room behind the flood on a slow machine, where
        // the flooding socket would fail with EAGAIN.
        let asker = try autoboundDatagramSocket()
        defer { closeDescriptor(asker) }
        try sendDatagram(asker, Array(".portreserve/1 release\n\(names)\n".utf8), to: UnixAddress(path: daemon.socketPath))
        #expect(try daemon.portrelease(["svc"]).status == 0)
        #expect(isFree(port))
        let log = daemon.log
        let badRequests = log.components(separatedBy: "bad request from").count - 1
        #expect(badRequests >= 1 && badRequests <= 10)
        #expect(log.components(separatedBy: "nothing is reserved under the names").count - 1 == 1)
        #expect(!log.contains("\u{1B}"))  // what senders write is escaped, never replayed raw
    }

    /// 16 MiB of names no services database knows: minutes of look-ups before the fix.
    static let junk: String = {
        var junk = ""
        junk.reserveCapacity(16 << 20)
        var index = 0
        while junk.utf8.count < (16 << 20) - 16 {
            junk += "junk\(index)\n"
            index += 1
        }
        return junk
    }()

    @Test func sigtermDuringALongStartUpIsAnsweredAtOnce() throws {
        let directory = try TemporaryDirectory("slow-start")
        try directory.write("conf/junk", Self.junk)
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["svc": "\(port)\n"], directory: directory)
        #expect(eventually { daemon.process.isRunning })
        usleep(300_000)
        daemon.process.terminate()
        #expect(daemon.exitStatus(within: 20) == 0)
        #expect(daemon.log.contains("stopping: SIGTERM during start-up"), "\(daemon.log.suffix(400))")
        #expect(try daemon.nextNotification(startingWith: "READY=1", within: 0.1) == nil)
        #expect(isFree(port))
    }

    @Test func sigtermDuringALongReloadIsAnsweredAtOnce() throws {
        let port = unusedPorts(1)[0]
        let daemon = try RunningDaemon(["svc": "\(port)\n"])
        try daemon.waitUntilReady()
        try daemon.directory.write("conf/junk", Self.junk)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(try daemon.nextNotification(startingWith: "RELOADING=1") != nil)
        daemon.process.terminate()
        #expect(daemon.exitStatus(within: 20) == 0)
        #expect(daemon.log.contains("stopping: SIGTERM during a reload"), "\(daemon.log.suffix(400))")
        #expect(isFree(port))
    }
}
