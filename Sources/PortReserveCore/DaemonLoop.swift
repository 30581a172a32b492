import Logging
import PortReserveProtocol
import SystemCalls
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's one thread: waits on the control socket, the signals that matter (as a signalfd,
/// so they arrive as input rather than interrupting anything), and a wake-up descriptor through
/// which a test, or any other thread, can ask it to stop without kill(2).
public final class DaemonLoop: @unchecked Sendable {
    private let daemon: Daemon
    private let control: CInt
    private let logger: Logger
    private let wake: CInt
    private let stored: [ListenedDescriptor]
    /// Descriptors a sender passed with a request are closed here, never on the loop's thread.
    private let closer = BackgroundCloser()
    /// At most this many datagrams are handled between two looks at the signals: a flood of
    /// requests never keeps SIGTERM waiting.
    static let datagramsPerTurn = 256

    /// `stored` are the descriptors systemd kept in its store for us, to be taken back at start.
    public init(daemon: Daemon, control: CInt, stored: [ListenedDescriptor] = [], logger: Logger) throws(SystemError) {
        self.daemon = daemon
        self.control = control
        self.stored = stored
        self.logger = logger
        self.wake = try makeEventDescriptor()
    }

    deinit { closeDescriptor(wake) }

    /// Asks `run()` to stop as SIGTERM would. Safe from any thread.
    public func requestStop() {
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    /// Starts the daemon, serves requests and retries what it could not hold, and returns the exit
    /// status: 0 when a stop was asked for. It does not exit once everything is released, as the
    /// original did: a release then costs no start-up (and no start of systemd's rate limit), a
    /// reclaim has a daemon to hold its ports, and a socket waiting to be held has one to retry it.
    public func run() throws(SystemError) -> Int32 {
        let signals = try makeSignalDescriptor([SIGTERM, SIGINT, SIGHUP])
        defer { closeDescriptor(signals) }
        // A long start-up or reload (megabytes of configuration) still answers SIGTERM: the
        // configuration is read with an eye on the signals. A SIGHUP then reloads once it is done.
        var stopSignal: CInt?
        var reloadPending = false
        let stopAsked = { [wake] () -> Bool in
            var pollers = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            guard poll(&pollers, 2, 0) > 0 else { return false }
            if pollers[1].revents != 0 { stopSignal = SIGTERM }
            while stopSignal == nil, let signal = readSignal(signals) {
                if signal == SIGHUP { reloadPending = true } else { stopSignal = signal }
            }
            return stopSignal != nil
        }
        let stopName = { stopSignal == SIGINT ? "SIGINT" : "SIGTERM" }
        if !daemon.start(adopting: stored, interrupted: stopAsked) {
            daemon.stop(reason: "\(stopName()) during start-up")
            return 0
        }
        if reloadPending {
            reloadPending = false
            if !daemon.reload(interrupted: stopAsked) {
                daemon.stop(reason: "\(stopName()) during a reload")
                return 0
            }
        }
        // Requests may already be queued: a portrelease that socket-activated us is waiting.
        serveQueued()
        while true {
            daemon.logSuppressed()
            daemon.retryDue()
            // Retries change the status without a request.
            daemon.publishStatus()
            var pollers = [
                pollfd(fd: control, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
            ]
            // Wakes for nothing but input, the next bind attempt, and the summary of what the
            // journal was not told. With everything held or released, it sleeps until asked.
            let summary = daemon.secondsUntilLogSummary.map { min($0, 86_400) * 1000 + 10 }
            let timeout = [summary, daemon.millisecondsUntilRetry].compactMap { $0 }.min().map { CInt($0) } ?? -1
            _ = try retryingInterrupts("poll") { poll(&pollers, nfds_t(pollers.count), timeout) }
            if pollers[1].revents != 0, let signal = readSignal(signals) {
                if signal == SIGHUP {
                    if daemon.reload(interrupted: stopAsked) { continue }
                    daemon.stop(reason: "\(stopName()) during a reload")
                    return 0
                }
                daemon.stop(reason: signal == SIGINT ? "SIGINT" : "SIGTERM")
                return 0
            }
            if pollers[2].revents != 0 {
                daemon.stop(reason: "stop requested")
                return 0
            }
            if pollers[0].revents != 0 { serveQueued() }
        }
    }

    /// Handles the datagrams queued on the control socket, up to `datagramsPerTurn`, without
    /// blocking: every send is non-blocking, and a reply that does not fit is dropped (its
    /// client sends again). The replies go out once the status is published, so whoever a reply
    /// has told "released" reads "released" in `portreserve status` too; one publication serves
    /// the whole batch.
    private func serveQueued() {
        var answers: [(UnixAddress, [[UInt8]])] = []
        defer {
            daemon.publishStatus()
            for (sender, replies) in answers {
                for reply in replies {
                    // A full queue or a sender gone: the release itself is done either way, and a
                    // client that got no answer asks again.
                    do {
                        if try !sendDatagram(control, reply, to: sender, nonBlocking: true) {
                            logger.debug("cannot answer \(sender): its queue is full")
                        }
                    } catch {
                        logger.debug("cannot answer \(sender): \(error)")
                    }
                }
            }
        }
        for _ in 0..<Self.datagramsPerTurn {
            let datagram: ReceivedDatagram?
            do {
                datagram = try receiveDatagram(control, capacity: RequestCodec.maximumRequestSize + 1, wait: false)
            } catch {
                logger.error("cannot read the control socket: \(error)")
                return
            }
            guard let datagram else { return }
            closer.close(datagram.descriptors)  // nobody may plant descriptors on us
            let replies = daemon.handle(datagram)
            if !replies.isEmpty { answers.append((datagram.sender, replies)) }
        }
    }
}
