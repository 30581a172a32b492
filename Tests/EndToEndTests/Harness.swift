import Foundation
import SystemCalls
import Testing
import TestSupport

/// The real `portreserve` binary, started on a configuration of the test's own, with a
/// NOTIFY_SOCKET the test owns, so "ready" means what systemd would see: READY=1.
final class RunningDaemon {
    let directory: TemporaryDirectory
    let process = Process()
    let socketPath: String
    let logPath: String
    /// Reads the daemon's NOTIFY_SOCKET for as long as the daemon runs, as systemd does.
    private let manager: FakeServiceManager

    /// `files` maps a service name to its configuration text.
    init(_ files: [String: String], directory: TemporaryDirectory? = nil, leading: [String] = [], arguments: [String] = [],
         launcher: [String] = []) throws {
        let directory = try directory ?? TemporaryDirectory("e2e")
        self.directory = directory
        for (name, text) in files { try directory.write("conf/\(name)", text) }
        socketPath = directory.path + "/run/socket"
        logPath = directory.path + "/daemon.log"
        let notifyPath = directory.path + "/notify"
        unlink(notifyPath)  // a directory reused by a second daemon
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let daemonArguments = leading + ["--config-dir", directory.path + "/conf", "--socket", socketPath] + arguments
        if launcher.isEmpty {
            process.executableURL = URL(fileURLWithPath: product("portreserve"))
            process.arguments = daemonArguments
        } else {
            process.executableURL = URL(fileURLWithPath: launcher[0])
            process.arguments = Array(launcher.dropFirst()) + [product("portreserve")] + daemonArguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notifyPath
        environment["JOURNAL_STREAM"] = nil
        process.environment = environment
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        manager = try FakeServiceManager(at: notifyPath)
        do { try process.run() } catch {
            manager.stop()
            throw error
        }
    }

    /// Never waits without bound: a daemon that outlives SIGTERM by 10 s is a failure of the
    /// test that owned it (systemd would SIGKILL it too), not a hang of the whole run.
    deinit {
        if process.isRunning {
            process.terminate()
            if exitStatus(within: 10) == nil {
                Issue.record("the daemon did not exit within 10 s of SIGTERM; killed. \(manager.failure ?? "")\nIts log:\n\(log)")
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        manager.stop()
    }

    /// The next sd_notify message, or nil after `seconds`.
    func nextNotification(within seconds: Double = 20) throws -> String? {
        var message: String?
        _ = eventually(within: seconds) {
            message = manager.pop()
            return message != nil
        }
        return message
    }

    /// The next notification that starts with `prefix`, skipping others (descriptor store traffic).
    func nextNotification(startingWith prefix: String, within seconds: Double = 20) throws -> String? {
        while let message = try nextNotification(within: seconds) {
            if message.hasPrefix(prefix) { return message }
        }
        return nil
    }

    /// Waits for READY=1 and returns the whole message (with its STATUS=).
    @discardableResult
    func waitUntilReady() throws -> String {
        while let message = try nextNotification() {
            if message.split(separator: "\n").contains("READY=1") { return message }
        }
        Issue.record("the daemon never sent READY=1. \(manager.failure ?? "")\nIts log:\n\(log)")
        return ""
    }

    /// The exit status, once the process has ended within `seconds`; nil if it is still running.
    func exitStatus(within seconds: Double = 10) -> Int32? {
        guard eventually(within: seconds, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Runs the real portrelease against this daemon.
    func portrelease(_ arguments: [String], as user: String? = nil) throws -> ProcessResult {
        let command = [product("portrelease"), "--socket", socketPath] + arguments
        if let user {
            return try run("/usr/bin/setpriv", ["--reuid", user, "--regid", user == "nobody" ? "nogroup" : user,
                                                "--clear-groups"] + command)
        }
        return try run(command[0], Array(command.dropFirst()))
    }
}

/// Every protocol and family of `port` is taken.
func isHeld(_ port: UInt16) -> Bool { Probe.allCases.allSatisfy { !canBind(port, $0) } }

/// Every protocol and family of `port` is free.
func isFree(_ port: UInt16) -> Bool { Probe.allCases.allSatisfy { canBind(port, $0) } }

/// The service manager's side of NOTIFY_SOCKET, on a thread of its own: it reads every message at
/// once and closes every descriptor passed with one (stored sockets, BARRIER=1 pipes), as systemd
/// does. Otherwise the daemon's sd_notify blocks on a full socket and its barrier waits out its
/// timeout.
///
/// The thread owns the socket and is the only one to close it, after `stop()`: a socket closed
/// under a reader that goes on polling its number would read whatever reuses that number (another
/// test's socket, in this one process), and a reader gone quietly would leave its daemon blocked.
/// It reads through `receive(on:)`, which waits out signals; any error is kept in `failure` for the
/// test to show.
private final class FakeServiceManager: @unchecked Sendable {
    private let fd: CInt
    private let lock = NSLock()
    private var messages: [String] = []
    private var stopRequested = false
    private var readerDone = false
    private var failureText: String?

    init(at path: String) throws {
        fd = try boundDatagramSocket(at: path)
        Thread.detachNewThread { [self] in read() }
    }

    /// Why the reader stopped before it was asked to, if it did.
    var failure: String? { lock.withLock { failureText } }

    /// The oldest message not yet taken.
    func pop() -> String? { lock.withLock { messages.isEmpty ? nil : messages.removeFirst() } }

    /// Ends the reader; the socket is closed by whichever of the two comes last.
    func stop() {
        lock.withLock {
            stopRequested = true
            if readerDone { closeDescriptor(fd) } else { shutdown(fd, CInt(SHUT_RDWR)) }  // wakes its poll
        }
    }

    private func read() {
        while true {
            let datagram: ReceivedDatagram?
            do { datagram = try receive(on: fd, within: 3600) } catch {
                fail("\(error)")
                break
            }
            if lock.withLock({ stopRequested }) { break }
            guard let datagram else { continue }
            datagram.descriptors.forEach(closeDescriptor)
            let text = String(decoding: datagram.payload, as: UTF8.self)
            lock.withLock { messages.append(text) }
        }
        lock.withLock {
            readerDone = true
            if stopRequested { closeDescriptor(fd) }
        }
    }

    private func fail(_ why: String) {
        lock.withLock { failureText = "The fake service manager stopped reading NOTIFY_SOCKET: \(why)." }
    }
}
