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
    private let notify: CInt
    /// Filled by a reader thread: a real service manager reads notifications at once, and a
    /// daemon whose notify socket fills up would block in sd_notify.
    private let notifications = NotificationQueue()

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
        notify = try boundDatagramSocket(at: notifyPath)
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
        try process.run()
        let fd = notify, queue = notifications
        Thread.detachNewThread {
            while let datagram = try? receive(on: fd, within: 600) {
                // Like a service manager that drops what it is handed: closing a BARRIER=1 pipe
                // answers the barrier, and closing stored sockets keeps this process from holding ports.
                datagram.descriptors.forEach(closeDescriptor)
                queue.append(String(decoding: datagram.payload, as: UTF8.self))
            }
        }
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        shutdown(notify, CInt(SHUT_RDWR))
        closeDescriptor(notify)
    }

    /// The next sd_notify message, or nil after `seconds`.
    func nextNotification(within seconds: Double = 20) throws -> String? {
        var message: String?
        _ = eventually(within: seconds) {
            message = notifications.pop()
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
        Issue.record("the daemon never sent READY=1; its log:\n\(log)")
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

private final class NotificationQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func append(_ message: String) { lock.withLock { messages.append(message) } }

    func pop() -> String? { lock.withLock { messages.isEmpty ? nil : messages.removeFirst() } }
}
