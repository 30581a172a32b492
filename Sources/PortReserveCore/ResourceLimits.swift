import Logging
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// Descriptor limits: a large configuration needs more sockets than the usual soft limit of 1024.
enum ResourceLimits {
    /// Descriptors the daemon keeps for its own work whatever the configuration: sd_notify and the
    /// journal open a socket per message, replies, /proc reads. Without them a daemon that used
    /// every descriptor for reservations could not even say READY=1.
    static let reservedForTheDaemon = 32

    /// How many sockets the reservations may hold: the soft limit, less what is open now and
    /// the daemon's own reserve.
    static func socketBudget() -> Int {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return Int.max }
        let open = (try? directoryEntries("/proc/self/fd").count) ?? 16
        return max(0, Int(clamping: limit.rlim_cur) - open - reservedForTheDaemon)
    }

    /// Raises RLIMIT_NOFILE's soft limit, up to the hard limit, when `needed` exceeds it. What
    /// still does not fit is reported by the reservations that fail, not here.
    static func ensureDescriptors(_ needed: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0, limit.rlim_cur < rlim_t(needed) else { return }
        let old = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        if setrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 {
            logger.debug("raised the descriptor limit from \(old) to \(limit.rlim_cur)")
        }
        if limit.rlim_max < rlim_t(needed) {
            logger.warning("the descriptor limit (\(limit.rlim_max)) is lower than the \(needed) this configuration needs: some ports will not be held")
        }
    }

    private static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
}
