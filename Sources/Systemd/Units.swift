import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// Which systemd unit a process belongs to.
public enum Units {
    /// The system unit of `pid` ("cups.service"), nil when it is in none (a user session, the
    /// kernel) or its /proc entry is not visible. Wraps `sd_pid_get_unit(3)`, which reads the
    /// process's cgroup as systemd names it.
    ///
    ///     if let unit = Units.unit(of: peer.pid) { print("asked by \(unit)") }
    public static func unit(of pid: pid_t) -> String? {
        guard pid > 0 else { return nil }
        var unit: UnsafeMutablePointer<CChar>?
        guard sd_pid_get_unit(pid, &unit) >= 0, let unit else { return nil }
        defer { free(unit) }
        return String(cString: unit)
    }
}
