/// The status reply: a summary line and one row per service, port and family, split over as many
/// datagrams as it needs (`RequestCodec.split`) so that a status of
/// thousands of ports never hits the socket's size limit.
///
///     .portreserve/1 status end
///     summary 2 1 0
///     row cups 631/tcp ipv4 held 1764403200 - -
///     row cups 631/tcp ipv6 conflict 1764403200 - Address already in use; cupsd (pid 812)
public enum StatusCodec {
    public static func encode(summary: ReservationSummary, rows: [StatusRow]) -> [[UInt8]] {
        var lines = ["summary \(summary.ports) \(summary.services) \(summary.conflicts)"]
        for row in rows {
            let state: String, detail: String
            switch row.state {
            case .held: (state, detail) = ("held", "-")
            case .conflict(let error, let holder): (state, detail) = ("conflict", error.reason + (holder.map { "; " + $0 } ?? ""))
            case .failed(let error): (state, detail) = ("failed", error.reason)
            case .released(let by): (state, detail) = ("released", by)
            }
            let shared = row.sharedWith.isEmpty ? "-" : row.sharedWith.joined(separator: ",")
            lines.append("row \(row.service) \(row.port) \(row.family.rawValue) \(state) \(row.since) \(shared) \(detail)")
        }
        return RequestCodec.split(lines, more: "status more", last: "status end")
    }
}
