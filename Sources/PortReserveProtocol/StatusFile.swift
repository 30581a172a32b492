import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The counts of the STATUS= line and of the status file's summary: sockets held, the ports they
/// are on (a port counts once whatever its families), services still holding something, and
/// sockets not held that are being tried again (conflicts and failures).
public struct ReservationSummary: Equatable, Sendable {
    public var ports = 0
    public var services = 0
    public var retrying = 0
    public var sockets = 0

    public init(ports: Int = 0, services: Int = 0, retrying: Int = 0, sockets: Int = 0) {
        self.ports = ports
        self.services = services
        self.retrying = retrying
        self.sockets = sockets
    }
}

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
public struct StatusFile: Equatable, Sendable {
    public static let header = "portreserve-status 1"
    public static let fileName = "status"
    /// Far more than the status of the largest configuration measured; a larger file is not ours.
    public static let sizeLimit = 64 << 20

    /// Whether the daemon that wrote the file still runs, and why it stopped.
    public enum DaemonState: Equatable, Sendable {
        case running
        case stopped(reason: String)
    }

    /// The daemon that wrote the file: its pid, its state, and since when (seconds since the epoch).
    public struct Publisher: Equatable, Sendable {
        public var pid: Int32
        public var state: DaemonState
        public var since: Int

        public init(pid: Int32, state: DaemonState, since: Int) {
            self.pid = pid
            self.state = state
            self.since = since
        }
    }

    /// What became of one family's socket of a reserved port.
    public enum SocketStatus: String, Equatable, Sendable {
        case held, retrying, released
    }

    /// One service's port in one family.
    public struct Row: Equatable, Sendable {
        public var service: String
        public var port: PortKey
        public var family: AddressFamily
        public var status: SocketStatus
        /// Seconds since the epoch at which the status began.
        public var since: Int
        /// The other services that name the same port.
        public var sharedWith: [String]
        /// Why it is retried; for a released row, the service whose release closed it and the
        /// unit that asked. Escaped by `printable` in the file, and read back escaped.
        public var detail: String?

        public init(service: String, port: PortKey, family: AddressFamily, status: SocketStatus, since: Int,
                    sharedWith: [String] = [], detail: String? = nil) {
            self.service = service
            self.port = port
            self.family = family
            self.status = status
            self.since = since
            self.sharedWith = sharedWith
            self.detail = detail
        }
    }

    public var publisher: Publisher
    public var summary: ReservationSummary
    public var rows: [Row]

    public init(publisher: Publisher, summary: ReservationSummary, rows: [Row]) {
        self.publisher = publisher
        self.summary = summary
        self.rows = rows
    }

    /// The file's bytes. Appended field by field into one buffer, without string interpolation:
    /// the file is rewritten before READY=1 and after every batch of requests, one row per socket
    /// (interpolating them cost three quarters of the daemon's own work to READY=1 at 10 entries).
    public func encoded() -> [UInt8] {
        var out = ByteWriter(capacity: 64 + rows.count * 96)
        let space = UInt8(ascii: " "), newline = UInt8(ascii: "\n")
        out.append(Self.header)
        out.append(newline)
        out.append("daemon ")
        out.append(Int(publisher.pid))
        switch publisher.state {
        case .running: out.append(" running ")
        case .stopped: out.append(" stopped ")
        }
        out.append(publisher.since)
        out.append(space)
        if case .stopped(let reason) = publisher.state { out.append(printable(reason)) } else { out.append("-") }
        out.append(newline)
        out.append("summary ")
        for (index, count) in [summary.ports, summary.services, summary.retrying, summary.sockets].enumerated() {
            if index > 0 { out.append(space) }
            out.append(count)
        }
        out.append(newline)
        for row in rows {
            out.append("row ")
            out.append(row.service)
            out.append(space)
            out.append(Int(row.port.port))
            out.append(UInt8(ascii: "/"))
            out.append(row.port.transport.rawValue)
            out.append(space)
            out.append(row.family.rawValue)
            out.append(space)
            out.append(row.status.rawValue)
            out.append(space)
            out.append(row.since)
            out.append(space)
            if row.sharedWith.isEmpty {
                out.append(UInt8(ascii: "-"))
            } else {
                for (index, name) in row.sharedWith.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(name)
                }
            }
            out.append(space)
            if let detail = row.detail { out.append(printable(detail)) } else { out.append(UInt8(ascii: "-")) }
            out.append(newline)
        }
        return out.bytes
    }

    /// Reads a file `encoded()` wrote; an error names the line.
    public static func decode(_ bytes: [UInt8]) -> Result<StatusFile, RequestError> {
        var summary = ReservationSummary()
        var rows: [Row] = []
        var publisher: Publisher?
        let lines = String(decoding: bytes, as: UTF8.self).fields(separatedBy: UInt8(ascii: "\n"), omittingEmpty: false)
        guard lines.first == Substring(header) else {
            return .failure(RequestError("line 1: not a status file of this version (expected \"\(header)\")"))
        }
        for (index, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let words = line.fields(separatedBy: UInt8(ascii: " "), maxSplits: 7, omittingEmpty: false)
            if words.first == "daemon", words.count >= 5, let pid = Int32(words[1]), let since = Int(words[3]),
               words[2] == "running" || words[2] == "stopped" {
                let reason = words[4...].joined(separator: " ")
                publisher = Publisher(pid: pid, state: words[2] == "running" ? .running : .stopped(reason: reason), since: since)
            } else if words.first == "summary", words.count == 5 || words.count == 4,
               let ports = Int(words[1]), let services = Int(words[2]), let retrying = Int(words[3]) {
                // Four fields: written by 0.1.0 before sockets were counted.
                summary = ReservationSummary(ports: ports, services: services, retrying: retrying,
                                             sockets: words.count == 5 ? Int(words[4]) ?? 0 : 0)
            } else if words.first == "row", words.count == 8, let port = PortKey(words[2]),
                      let family = AddressFamily(rawValue: String(words[3])),
                      let status = SocketStatus(rawValue: String(words[4])), let since = Int(words[5]) {
                rows.append(Row(
                    service: String(words[1]), port: port, family: family, status: status, since: since,
                    sharedWith: words[6] == "-" ? [] : words[6].fields(separatedBy: UInt8(ascii: ",")).map(String.init),
                    detail: words[7] == "-" ? nil : String(words[7])))
            } else {
                return .failure(RequestError("line \(index + 1): malformed status line \"\(printable(line.prefix(80)))\""))
            }
        }
        guard let publisher else { return .failure(RequestError("the status file names no daemon")) }
        return .success(StatusFile(publisher: publisher, summary: summary, rows: rows))
    }

    /// The file the daemon published in `stateDirectory`, nil when none is there (no daemon ran in
    /// this boot). Anyone may read it; a link, a FIFO or a huge file there is refused, and an
    /// error names the file.
    public static func read(stateDirectory: String) -> Result<StatusFile?, RequestError> {
        let directory: CInt
        // The directory may be systemd's link to /run/private/; the file in it is never a link.
        do { directory = try openDirectory(stateDirectory, followingLinks: true) } catch {
            if error.errno == ENOENT { return .success(nil) }
            return .failure(RequestError(error.description))
        }
        defer { closeDescriptor(directory) }
        let path = stateDirectory + "/" + fileName
        let bytes: [UInt8]?
        do { bytes = try readOwnFile(directory, fileName, limit: sizeLimit, subject: path) } catch {
            return .failure(RequestError(error.description))
        }
        guard let bytes else { return .success(nil) }
        return decode(bytes).map { $0 }.mapError { RequestError("\(path): \($0.message)") }
    }
}
