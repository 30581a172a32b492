import Logging
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

    /// Starts the daemon, serves requests, and returns the exit status: 0 when everything was
    /// released or a stop was asked for.
    public func run() throws(SystemError) -> Int32 {
        let signals = try makeSignalDescriptor([SIGTERM, SIGINT, SIGHUP])
        defer { closeDescriptor(signals) }
        daemon.start(adopting: stored)
        // Requests may already be queued: a portrelease that socket-activated us is waiting.
        serveQueued()
        while !daemon.isFinished {
            var pollers = [
                pollfd(fd: control, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
            ]
            _ = try retryingInterrupts("poll") { poll(&pollers, nfds_t(pollers.count), -1) }
            if pollers[1].revents != 0, let signal = readSignal(signals) {
                if signal == SIGHUP {
                    daemon.reload()
                    continue
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
        // A last look: a request that arrived while the final release was handled still gets its answer.
        serveQueued()
        daemon.stop(reason: "every reservation has been released")
        return 0
    }

    /// Handles every datagram queued on the control socket, without blocking.
    private func serveQueued() {
        while true {
            let datagram: ReceivedDatagram?
            do {
                datagram = try receiveDatagram(control, capacity: RequestCodec.maximumRequestSize + 1, wait: false)
            } catch {
                logger.error("cannot read the control socket: \(error)")
                return
            }
            guard let datagram else { return }
            for reply in daemon.handle(datagram) where !datagram.sender.isUnnamed {
                do { try sendDatagram(control, reply, to: datagram.sender, nonBlocking: true) } catch {
                    // The sender gave up or is gone; the release itself is done either way.
                    logger.debug("cannot answer \(datagram.sender): \(error)")
                }
            }
        }
    }
}
