import CSystemd
import SystemCalls
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One assignment of the `sd_notify(3)` protocol. Each case is a line systemd understands; the
/// service manager acts on them in the order they are sent.
public enum NotifyMessage: Equatable, Sendable {
    /// Start-up (or a reload) is finished: units ordered after this one may start now.
    case ready
    /// A reload has begun. systemd 253+ wants the CLOCK_MONOTONIC time of the request with it, so
    /// the case carries it; `ServiceManager.reloading()` fills it in.
    case reloading(monotonicMicroseconds: UInt64)
    /// The service is shutting down on purpose, so systemd does not treat the exit as a failure.
    case stopping
    /// A single line shown by `systemctl status`. Line breaks are folded into spaces.
    case status(String)
    /// The errno-style reason of a failure, shown by `systemctl status`.
    case errno(CInt)
    /// The main process is another one than the sender (after a fork, for example).
    case mainPID(pid_t)
    /// Keep the descriptors sent with this message in the store under `name`. `poll: false`
    /// (FDPOLL=0) keeps descriptors that would poll as hung up, such as TCP sockets that are bound
    /// but not listening; without it systemd drops them at once.
    case fdStore(name: String, poll: Bool)
    /// Drop every descriptor stored under `name`.
    case fdStoreRemove(name: String)
    /// Any other assignment, sent as `NAME=value` (`WATCHDOG=1` for a service that keeps a watchdog).
    case custom(name: String, value: String)

    /// The protocol lines for this message.
    var lines: [String] {
        switch self {
        case .ready: return ["READY=1"]
        case .reloading(let usec): return ["RELOADING=1", "MONOTONIC_USEC=\(usec)"]
        case .stopping: return ["STOPPING=1"]
        case .status(let text): return ["STATUS=" + Self.singleLine(text)]
        case .errno(let code): return ["ERRNO=\(code)"]
        case .mainPID(let pid): return ["MAINPID=\(pid)"]
        case .fdStore(let name, let poll):
            return ["FDSTORE=1", "FDNAME=\(name)"] + (poll ? [] : ["FDPOLL=0"])
        case .fdStoreRemove(let name): return ["FDSTOREREMOVE=1", "FDNAME=\(name)"]
        case .custom(let name, let value): return ["\(name)=" + Self.singleLine(value)]
        }
    }

    /// `text` with each line break (any of Unicode's) made a space. Printable ASCII, which
    /// every status line of a daemon usually is, has none and comes back as it is: going through
    /// the characters cost 40,000 instructions a STATUS= line, twice per request (callgrind).
    static func singleLine(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        return String(text.map { $0.isNewline ? " " : $0 })
    }
}

/// Whether a notification reached a service manager.
public enum NotifyOutcome: Equatable, Sendable {
    /// The service manager received the message.
    case sent
    /// No service manager listens (`NOTIFY_SOCKET` is not set): the process was started by hand,
    /// which is not an error.
    case noServiceManager
}

/// Why a notification was not sent.
public enum NotifyError: Error, Equatable, CustomStringConvertible {
    /// A name systemd would refuse (FDNAME=, or a custom variable): caught before sending, so that
    /// a malformed store entry never fails silently on the other side.
    case invalidName(String, reason: String)
    /// The call itself failed.
    case system(SystemError)

    public var description: String {
        switch self {
        case .invalidName(let name, let reason): "cannot notify \"\(name)\": \(reason)"
        case .system(let error): error.description
        }
    }
}

/// The calls of the systemd notification protocol: readiness, status, reloads and the descriptor store.
///
///     try ServiceManager.notify([.ready, .status("Holding 4 ports")])     // .sent, or .noServiceManager
///     try ServiceManager.notify([.fdStore(name: "cups.631.tcp", poll: false)], descriptors: [fd])
///     try ServiceManager.barrier()                                        // systemd has handled all of it
public enum ServiceManager {
    /// Sends `messages` as one datagram, with `descriptors` attached for the descriptor store.
    ///
    /// Wraps `sd_pid_notify_with_fds(3)`.
    @discardableResult
    public static func notify(
        _ messages: [NotifyMessage], descriptors: [FileDescriptor] = [], unsetEnvironment: Bool = false
    ) throws(NotifyError) -> NotifyOutcome {
        let state = try text(of: messages)
        let result: CInt = descriptors.map(\.rawValue).withUnsafeBufferPointer { fds in
            sd_pid_notify_with_fds(0, unsetEnvironment ? 1 : 0, state, fds.baseAddress, UInt32(fds.count))
        }
        do {
            return try negativeErrnoOrThrow("sd_pid_notify_with_fds", subject: state, result) > 0 ? .sent : .noServiceManager
        } catch {
            throw .system(error)
        }
    }

    /// Sends a single message.
    @discardableResult
    public static func notify(_ message: NotifyMessage) throws(NotifyError) -> NotifyOutcome {
        try notify([message])
    }

    /// `RELOADING=1` stamped with the current CLOCK_MONOTONIC time, as systemd 253+ requires.
    public static func reloading() -> NotifyMessage {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return .reloading(monotonicMicroseconds: UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000)
    }

    /// Waits until the service manager has processed every message sent before, so that, for
    /// example, a descriptor removed from the store is really closed before the caller goes on.
    ///
    /// Wraps `sd_notify_barrier(3)`.
    @discardableResult
    public static func barrier(timeout: Duration = .seconds(5)) throws(SystemError) -> NotifyOutcome {
        let (seconds, attoseconds) = timeout.components
        let microseconds = UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000_000)
        let result = sd_notify_barrier(0, microseconds)
        return try negativeErrnoOrThrow("sd_notify_barrier", result) > 0 ? .sent : .noServiceManager
    }

    /// The datagram text for `messages`, refusing names systemd would reject rather than letting a
    /// malformed store entry fail silently on the other side.
    static func text(of messages: [NotifyMessage]) throws(NotifyError) -> String {
        for message in messages {
            switch message {
            case .fdStore(let name, _), .fdStoreRemove(let name):
                guard isValidDescriptorName(name) else {
                    throw .invalidName("FDNAME=\(name)", reason: "1-255 printable ASCII characters, no colon")
                }
            case .custom(let name, _):
                guard !name.isEmpty, name.utf8.allSatisfy({ $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\n") })
                else {
                    throw .invalidName("\(name)=", reason: "a variable name, without = or a line break")
                }
            default: break
            }
        }
        return messages.flatMap(\.lines).joined(separator: "\n")
    }

    /// systemd's rule for descriptor names: 1-255 printable ASCII characters (spaces allowed), no colon.
    public static func isValidDescriptorName(_ name: String) -> Bool {
        let bytes = name.utf8
        return (1...255).contains(bytes.count)
            && bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }
    }
}
