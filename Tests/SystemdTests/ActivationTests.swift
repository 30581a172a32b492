import Foundation
import SystemCalls
import SystemPackage
import Testing
import TestSupport

@testable import Systemd

/// Runs the probe under the real `systemd-socket-activate`, which passes descriptors exactly as
/// systemd does (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES), and compares what the wrapper reports.
@Suite struct ActivationTests {
    let probe = product("systemd-probe")

    /// Starts the probe behind systemd-socket-activate, pokes the socket so it execs the probe,
    /// and returns the probe's output.
    private func activate(_ listenArguments: [String], poke: () throws -> Void, probeArguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-socket-activate")
        process.arguments = listenArguments + [probe] + probeArguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        try poke()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    private func pokeDatagram(_ path: String) throws {
        #expect(eventually { FileManager.default.fileExists(atPath: path) })
        let fd = try makeUnixDatagramSocket()
        defer { closeDescriptor(fd) }
        try sendDatagram(fd, Array("wake".utf8), to: UnixAddress(path: path))
    }

    @Test func datagramSocketArrivesWithItsNameAndCloseOnExec() throws {
        let directory = try TemporaryDirectory("activation")
        let path = directory.path + "/control"
        let output = try activate(
            ["--datagram", "-l", path, "--fdname=control"], poke: { try pokeDatagram(path) },
            probeArguments: ["activation", "all"])
        #expect(output == """
            fd=3 name=control kind=Unix datagram socket cloexec=true
            LISTEN_FDS=<unset>
            LISTEN_PID=<unset>
            LISTEN_FDNAMES=<unset>

            """)
    }

    @Test func singleAcceptsTheExpectedSocketAtItsPath() throws {
        let directory = try TemporaryDirectory("activation")
        let path = directory.path + "/control"
        let output = try activate(
            ["--datagram", "-l", path, "--fdname=control"], poke: { try pokeDatagram(path) },
            probeArguments: ["activation", "single", path])
        #expect(output.hasPrefix("single fd=3 name=control kind=Unix datagram socket\n"))
    }

    @Test func singleRefusesASocketBoundElsewhere() throws {
        let directory = try TemporaryDirectory("activation")
        let path = directory.path + "/control"
        let output = try activate(
            ["--datagram", "-l", path, "--fdname=control"], poke: { try pokeDatagram(path) },
            probeArguments: ["activation", "single", "/run/elsewhere"])
        #expect(output.hasPrefix(
            "error: expected a Unix datagram socket bound to /run/elsewhere, found fd 3 \"control\" (Unix datagram socket)\n"))
    }

    @Test func tooManyDescriptorsAreListed() throws {
        let directory = try TemporaryDirectory("activation")
        let first = directory.path + "/one", second = directory.path + "/two"
        let output = try activate(
            ["--datagram", "-l", first, "-l", second, "--fdname=one:two"], poke: { try pokeDatagram(first) },
            probeArguments: ["activation", "single"])
        #expect(output.hasPrefix("""
            error: expected one descriptor, a Unix datagram socket, found 2: \
            fd 3 "one" (Unix datagram socket), fd 4 "two" (Unix datagram socket)\n
            """))
    }

    @Test func wrongKindSaysWhatWasFound() throws {
        // A TCP listener on loopback, poked by connecting to it, on a port checked to be free (a
        // port picked blindly could be an ephemeral port in use, and the listener would fail).
        let port = Int(unusedPorts(1)[0])
        let output = try activate(
            ["-l", "127.0.0.1:\(port)"],
            poke: {
                _ = eventually {
                    let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
                    defer { close(fd) }
                    var address = sockaddr_in()
                    address.sin_family = sa_family_t(AF_INET)
                    address.sin_port = in_port_t(UInt16(port).bigEndian)
                    address.sin_addr.s_addr = inet_addr("127.0.0.1")
                    return withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                        }
                    }
                }
            },
            probeArguments: ["activation", "single"])
        #expect(output.hasPrefix(
            "error: expected a Unix datagram socket, found fd 3 \"unknown\" (IPv4 TCP socket)\n"))
    }

    @Test func noDescriptorsIsATypedError() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["LISTEN_FDS"] = nil
        environment["LISTEN_PID"] = nil
        let result = try run(probe, ["activation", "single"], environment: environment)
        #expect(result.standardOutput.hasPrefix(
            "error: expected a Unix datagram socket from the service manager, found no passed descriptors (LISTEN_FDS not set)\n"))
    }

    @Test func descriptorsForAnotherProcessAreIgnored() throws {
        // LISTEN_PID names another process: the descriptors are not ours (sd_listen_fds(3)).
        let result = try run(probe, ["activation", "all"], adding: ["LISTEN_FDS": "1", "LISTEN_PID": "1"])
        #expect(result.standardOutput == "LISTEN_FDS=<unset>\nLISTEN_PID=<unset>\nLISTEN_FDNAMES=<unset>\n")
    }

    @Test func descriptorKindNamesWhatIsOpen() throws {
        var fds: [CInt] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        #expect(DescriptorKind(of: FileDescriptor(rawValue: fds[0])).description == "pipe")
        #expect(DescriptorKind(of: FileDescriptor(rawValue: 9999)).description == "not an open descriptor")
        let udp6 = socket(AF_INET6, CInt(SOCK_DGRAM.rawValue), 0)
        defer { close(udp6) }
        #expect(DescriptorKind(of: FileDescriptor(rawValue: udp6)).description == "IPv6 UDP socket")
    }
}
