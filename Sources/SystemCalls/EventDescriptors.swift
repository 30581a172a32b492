import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// An eventfd, non-blocking: a counter another thread can bump to wake a poll loop. Wraps `eventfd(2)`.
public func makeEventDescriptor() throws(SystemError) -> CInt {
    try retryingInterrupts("eventfd") { eventfd(0, CInt(EFD_CLOEXEC) | CInt(EFD_NONBLOCK)) }
}

/// Blocks `signals` for this thread and returns a signalfd that reads them, so a poll loop takes
/// signals as input instead of being interrupted by handlers. Wraps `pthread_sigmask(3)` and
/// `signalfd(2)`.
public func makeSignalDescriptor(_ signals: [CInt]) throws(SystemError) -> CInt {
    var set = sigset_t()
    sigemptyset(&set)
    for signal in signals { sigaddset(&set, signal) }
    let result = pthread_sigmask(SIG_BLOCK, &set, nil)
    if result != 0 { throw SystemError(call: "pthread_sigmask", errno: result) }
    return try retryingInterrupts("signalfd") { signalfd(-1, &set, CInt(SFD_CLOEXEC) | CInt(SFD_NONBLOCK)) }
}

/// The next signal queued on a signalfd, or nil when none is.
public func readSignal(_ fd: CInt) -> CInt? {
    var info = signalfd_siginfo()
    let count = read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
    return count == MemoryLayout<signalfd_siginfo>.size ? CInt(info.ssi_signo) : nil
}
