import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// How a request to the daemon ended.
public enum ControlOutcome<Answer> {
    /// No daemon: no socket file, or nobody bound to it. For a release that means the port is free.
    case noDaemon
    case answered(Answer)
    /// The daemon answered that the request was wrong.
    case rejected(String)
    /// The daemon refused the request: its sender may not make it (only root may release).
    case refused(String)
    /// The control socket is there but this user may not send to it (it is root's, mode 0600).
    case permissionDenied(String)
    /// A daemon is there but did not answer in time.
    case timedOut
}

/// The client side of the control socket, used by `portrelease` and `portreserve reclaim`.
///
/// It binds an autobound abstract address, so the daemon can answer it and no file is left behind
/// (the daemon answers nothing else), sends one request, and waits for the answer until `timeout`.
/// It is connected to the daemon's socket, so the kernel delivers datagrams from that socket only.
public struct ControlClient: Sendable {
    public let socketPath: String
    public let timeoutSeconds: Double

    public init(socketPath: String, timeoutSeconds: Double) {
        self.socketPath = socketPath
        self.timeoutSeconds = timeoutSeconds
    }

    /// Releases `names` and returns once the daemon has closed their sockets.
    public func release(_ names: [String]) throws(SystemError) -> ControlOutcome<[(String, ReleaseReply)]> {
        try request(.release(names), resendAfter: Self.resendInterval, decode: RequestCodec.decodeReleaseReply)
    }

    /// A release unanswered for this long is sent again (a release is idempotent: the second one
    /// answers "already released" once the first is done), so one reply the daemon could not
    /// deliver costs a second, not the whole timeout.
    static let resendInterval = 1.0

    /// Takes released services' ports back; a stopped daemon is started again by socket activation.
    public func reclaim(_ names: [String]) throws(SystemError) -> ControlOutcome<[(String, ReclaimReply)]> {
        try request(.reclaim(names), resendAfter: nil, decode: RequestCodec.decodeReclaimReply)
    }

    /// Reloads the daemon's configuration and returns, once it is in force, the daemon's status line.
    public func reload() throws(SystemError) -> ControlOutcome<String> {
        try request(.reload, resendAfter: nil, decode: RequestCodec.decodeReloadReply)
    }

    /// Sends `request` and decodes its reply.
    private func request<Answer>(
        _ request: Request, resendAfter: Double?, decode: ([[UInt8]]) -> Result<Answer, RequestError>
    ) throws(SystemError) -> ControlOutcome<Answer> {
        switch try exchange(request, resendAfter: resendAfter) {
        case .noDaemon: return .noDaemon
        case .timedOut: return .timedOut
        case .rejected(let message): return .rejected(message)
        case .refused(let why): return .refused(why)
        case .permissionDenied(let why): return .permissionDenied(why)
        case .answered(let replies):
            switch decode(replies) {
            case .success(let results): return .answered(results)
            case .failure(let error): return .rejected(error.message)
            }
        }
    }

    /// The datagrams of the daemon's answer to `request`, up to the last one, or why there is none.
    private func exchange(_ request: Request, resendAfter: Double?) throws(SystemError) -> ControlOutcome<[[UInt8]]> {
        let fd = try makeUnixDatagramSocket()
        defer { closeDescriptor(fd) }
        try bindUnix(fd, to: UnixAddress(pathBytes: []))
        let end = Self.now() + timeoutSeconds
        let daemon = UnixAddress(path: socketPath)
        // Connected, so that poll(2) can say when the daemon's queue has room again: under a flood
        // of other senders the request waits for its turn, until the deadline, instead of failing.
        do { try connectUnix(fd, to: daemon) } catch where [ENOENT, ECONNREFUSED, ENOTDIR].contains(error.errno) {
            return .noDaemon
        } catch where error.errno == EACCES || error.errno == EPERM {
            return .permissionDenied("\(socketPath) is root's alone (\(error.reason)): only root may release ports")
        }
        let payload = RequestCodec.encode(request)
        func send() throws(SystemError) -> ControlOutcome<[[UInt8]]>? {
            while true {
                do {
                    if try sendDatagram(fd, payload, nonBlocking: true) { return nil }
                } catch where error.errno == ECONNREFUSED {
                    return .noDaemon
                }
                // The daemon's queue is full: wait for room, until the deadline.
                let remaining = end - Self.now()
                if remaining <= 0 { return .timedOut }
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = try retryingInterrupts("poll") { poll(&poller, 1, CInt(min(remaining * 1000 + 1, 86_400_000))) }
            }
        }
        if let outcome = try send() { return outcome }
        var answers: [[UInt8]] = []
        var resendAt = resendAfter.map { Self.now() + $0 }
        while true {
            let now = Self.now()
            if now >= end { return .timedOut }
            if let due = resendAt, now >= due, answers.isEmpty {
                if let outcome = try send() { return outcome }
                resendAt = resendAfter.map { Self.now() + $0 }
            }
            let wait = min(end, resendAt ?? end) - Self.now()
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = try retryingInterrupts("poll") { poll(&poller, 1, CInt(max(0, min(wait * 1000 + 1, 86_400_000)))) }
            if ready == 0 { continue }
            guard let datagram = try receiveDatagram(fd, capacity: RequestCodec.maximumReplySize, wait: false) else { continue }
            // Only the daemon's socket answers; the kernel already keeps others out of a connected socket.
            guard datagram.sender == daemon else { continue }
            switch RequestCodec.decodeFailure(datagram.payload) {
            case .rejected(let message)?: return .rejected(message)
            case .refused(let why)?: return .refused(why)
            case nil: break
            }
            answers.append(datagram.payload)
            if RequestCodec.isLastReply(datagram.payload, to: request) { return .answered(answers) }
        }
    }
}

extension ControlClient {
    static func now() -> Double { monotonicSeconds() }
}
