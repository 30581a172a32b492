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
    /// A daemon is there but did not answer in time.
    case timedOut
}

/// The client side of the control socket, used by `portrelease` and `portreserve status`.
///
/// It binds an autobound abstract address, so the daemon can answer it and no file is left behind,
/// sends one request, and waits for the answer until `timeout`.
public struct ControlClient: Sendable {
    public let socketPath: String
    public let timeoutSeconds: Double

    public init(socketPath: String, timeoutSeconds: Double) {
        self.socketPath = socketPath
        self.timeoutSeconds = timeoutSeconds
    }

    /// Releases `names` and returns once the daemon has closed their sockets.
    public func release(_ names: [String]) throws(SystemError) -> ControlOutcome<[(String, ReleaseReply)]> {
        try perNameRequest(.release(names))
    }

    /// Takes released services' ports back; a daemon that had exited is started again by socket activation.
    public func reclaim(_ names: [String]) throws(SystemError) -> ControlOutcome<[(String, ReleaseReply)]> {
        try perNameRequest(.reclaim(names))
    }

    private func perNameRequest(_ request: Request) throws(SystemError) -> ControlOutcome<[(String, ReleaseReply)]> {
        let last = Array((RequestCodec.prefix + "release\n").utf8)
        switch try exchange(request, until: { $0.starts(with: last) }) {
        case .noDaemon: return .noDaemon
        case .timedOut: return .timedOut
        case .rejected(let message): return .rejected(message)
        case .answered(let replies):
            switch RequestCodec.decodeReleaseReply(replies) {
            case .success(let results): return .answered(results)
            case .failure(let error): return .rejected(error.message)
            }
        }
    }

    /// The daemon's status datagrams, all of them, in order.
    public func statusDatagrams() throws(SystemError) -> ControlOutcome<[[UInt8]]> {
        let last = Array((RequestCodec.prefix + "status end\n").utf8)
        return try exchange(.status, until: { $0.starts(with: last) })
    }

    private func exchange(
        _ request: Request, until isLast: ([UInt8]) -> Bool
    ) throws(SystemError) -> ControlOutcome<[[UInt8]]> {
        let fd = try makeUnixDatagramSocket()
        defer { closeDescriptor(fd) }
        try bindUnix(fd, to: UnixAddress(pathBytes: []))
        let end = Self.now() + timeoutSeconds
        // Connected, so that poll(2) can say when the daemon's queue has room again: under a flood
        // of other senders the request waits for its turn, until the deadline, instead of failing.
        do { try connectUnix(fd, to: UnixAddress(path: socketPath)) } catch where [ENOENT, ECONNREFUSED, ENOTDIR].contains(error.errno) {
            return .noDaemon
        }
        let payload = RequestCodec.encode(request)
        while true {
            do {
                try sendDatagram(fd, payload, nonBlocking: true)
                break
            } catch where error.errno == ECONNREFUSED {
                return .noDaemon
            } catch where error.errno == EAGAIN {
                let remaining = end - Self.now()
                if remaining <= 0 { return .timedOut }
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = try retryingInterrupts("poll") { poll(&poller, 1, CInt(min(remaining * 1000 + 1, 86_400_000))) }
            }
        }
        var answers: [[UInt8]] = []
        let errorHeader = Array((RequestCodec.prefix + "error\n").utf8)
        while true {
            let remaining = end - Self.now()
            if remaining <= 0 { return .timedOut }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = try retryingInterrupts("poll") { poll(&poller, 1, CInt(min(remaining * 1000 + 1, 86_400_000))) }
            if ready == 0 { continue }
            guard let datagram = try receiveDatagram(fd, capacity: RequestCodec.maximumReplySize, wait: false) else { continue }
            if datagram.payload.starts(with: errorHeader) {
                return .rejected(String(decoding: datagram.payload.dropFirst(errorHeader.count), as: UTF8.self)
                    .trimmingCharacters(in: "\n"))
            }
            answers.append(datagram.payload)
            if isLast(datagram.payload) { return .answered(answers) }
        }
    }
}

extension ControlClient {
    static func now() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        String(drop(while: { $0 == character }).reversed().drop(while: { $0 == character }).reversed())
    }
}
