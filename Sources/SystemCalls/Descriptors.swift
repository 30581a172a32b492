#if canImport(Glibc)
import Glibc
#endif

/// Closes a descriptor once. `close(2)` must not be retried on EINTR on Linux: the descriptor is
/// gone either way, and a retry could close a descriptor another thread has just been given.
/// Closing one twice is such a bug (the second close may hit someone else's descriptor): a debug
/// build stops on the EBADF it gives, as swift-nio does.
public func closeDescriptor(_ fd: CInt) {
    let result = Glibc.close(fd)
    assert(result == 0 || Glibc.errno != EBADF, "closed descriptor \(fd) twice, or one that was never open")
}

/// Sets `FD_CLOEXEC` so that programs we start never inherit the descriptor. Wraps `fcntl(2)`.
public func setCloseOnExec(_ fd: CInt) throws(SystemError) {
    let flags = try retryingInterrupts("fcntl(F_GETFD)", subject: "fd \(fd)") { fcntl(fd, F_GETFD) }
    if flags & FD_CLOEXEC == 0 {
        _ = try retryingInterrupts("fcntl(F_SETFD)", subject: "fd \(fd)") { fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }
}

/// Turns on `O_NONBLOCK`, for sockets that a poll loop drains. Wraps `fcntl(2)`.
public func setNonBlocking(_ fd: CInt) throws(SystemError) {
    let flags = try retryingInterrupts("fcntl(F_GETFL)", subject: "fd \(fd)") { fcntl(fd, F_GETFL) }
    if flags & O_NONBLOCK == 0 {
        _ = try retryingInterrupts("fcntl(F_SETFL)", subject: "fd \(fd)") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }
}

/// The environment variable `name`, or nil. Wraps `getenv(3)`.
public func environmentValue(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

/// Writes `text` to `fd` (stderr by default) with as few write(2) calls as it takes, so lines from
/// several processes or threads do not interleave. Errors are dropped: there is nowhere left to report them.
public func writeAll(_ text: String, to fd: CInt = 2) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let (written, _) = valueOrErrno { write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            if written <= 0 { return }
            offset += written
        }
    }
}

/// Seconds since boot on the clock that only goes forward (CLOCK_MONOTONIC), with nanoseconds:
/// what timeouts, retries and log budgets count in, whatever happens to the wall clock.
public func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// `monotonicSeconds()` in whole milliseconds.
public func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int(now.tv_sec) * 1000 + Int(now.tv_nsec) / 1_000_000
}
