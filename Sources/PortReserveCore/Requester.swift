import Logging
import PortReserveProtocol
import SystemCalls
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// Who sent a request, from the kernel's credentials, for decisions and for the journal.
struct Requester: CustomStringConvertible {
    let pid: pid_t?
    let uid: uid_t?
    let unit: String?

    init(_ credentials: PeerCredentials?) {
        // pid 0 is the kernel's filler for a datagram queued before SO_PASSCRED was on: the
        // sender is unknown, and its uid reads as the overflow uid, not as who really sent it.
        let known = credentials.flatMap { $0.pid > 0 ? $0 : nil }
        pid = known?.pid
        uid = known?.uid
        unit = known.flatMap { Units.unit(of: $0.pid) }
    }

    var description: String {
        guard let pid, let uid else { return "an unknown sender" }
        return "pid \(pid) uid \(uid)" + (unit.map { " (\(printable($0)))" } ?? "")
    }

    var fields: Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let pid { metadata[JournalFieldName.requesterPID] = "\(pid)" }
        if let uid { metadata[JournalFieldName.requesterUID] = "\(uid)" }
        if let unit { metadata[JournalFieldName.requesterUnit] = "\(unit)" }
        return metadata
    }
}
