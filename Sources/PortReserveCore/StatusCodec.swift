/// The daemon's state as it publishes it for `portreserve status`: a file in the state directory,
/// readable by everyone and replaced in one rename on every change, so no unprivileged process
/// ever needs to talk to the daemon.
///
///     portreserve-status 1
///     daemon 612 running 1764403200 -
///     summary 2 1 1 3
///     row cups 631/tcp ipv4 held 1764403200 - -
///     row cups 631/tcp ipv6 retrying 1764403200 - conflict: Address already in use; held by cupsd (pid 812)
///     row cups 631/udp ipv4 released 1764403300 - cups cups.service
///
/// The summary counts ports, services, sockets retried and sockets held. A released row's detail
/// is the service whose release closed it, then the requester's unit when it had one.
///
/// Every field but the last has no spaces; the last (a reason, a detail) is escaped by
/// `printable`, so no line of it can be forged.
public enum StatusCodec {
    public static let header = "portreserve-status 1"
    public static let fileName = "status"
    /// Far more than the status of the largest configuration measured; a larger file is not ours.
    public static let sizeLimit = 64 << 20

    /// Whether the daemon that wrote the file still runs, and why it stopped.
    public enum DaemonState: Equatable, Sendable {
        case running
        case stopped(reason: String)
    }

    public static func encode(pid: Int32, state: DaemonState, since: Int, summary: ReservationSummary, rows: [StatusRow]) -> [UInt8] {
        var text = header + "\n"
        switch state {
        case .running: text += "daemon \(pid) running \(since) -\n"
        case .stopped(let reason): text += "daemon \(pid) stopped \(since) \(printable(reason))\n"
        }
        text += "summary \(summary.ports) \(summary.services) \(summary.retrying) \(summary.sockets)\n"
        for row in rows {
            let state: String, detail: String
            switch row.state {
            case .held: (state, detail) = ("held", "-")
            case .conflict(let error, let holder):
                (state, detail) = ("retrying", "conflict: " + error.reason + (holder.map { "; held by " + $0 } ?? ""))
            case .failed(let error): (state, detail) = ("retrying", "failed: " + error.reason)
            case .released(let by, let unit): (state, detail) = ("released", by + (unit.map { " " + $0 } ?? ""))
            }
            let shared = row.sharedWith.isEmpty ? "-" : row.sharedWith.joined(separator: ",")
            text += "row \(row.service) \(row.port) \(row.family.rawValue) \(state) \(row.since) \(shared) \(printable(detail))\n"
        }
        return Array(text.utf8)
    }
}
