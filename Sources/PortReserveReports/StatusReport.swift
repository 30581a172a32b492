import PortReserveConfiguration
import PortReserveCore
import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// What `portreserve status` shows: the daemon's rows, or what the configuration would reserve
/// when no daemon runs. It renders text; the executable prints it.
public struct StatusReport: Equatable, Sendable {
    /// One row of the report. `state` is held, retrying, released, or configured (no daemon).
    public struct Row: Equatable, Sendable {
        public var service: String
        public var port: PortKey
        public var family: AddressFamily?
        public var state: String
        public var since: Int?
        public var sharedWith: [String]
        /// Why it is retried; for a released row, the service whose release closed it and the unit that asked.
        public var detail: String?
        /// Who has the port now, for rows we do not hold: filled in by `withOccupants`.
        public var occupancy: PortHolder.Occupancy?

        /// The unit whose request released the socket, when it came from one.
        public var releasingUnit: String? {
            guard state == "released", let detail else { return nil }
            let words = detail.split(separator: " ")
            return words.count == 2 ? String(words[1]) : nil
        }

        /// A released port in use by a process outside the unit that released it: the promise
        /// broken, or a port handed to another service on purpose. Worth a look either way.
        public var isTaken: Bool {
            guard case .occupied(let occupant)? = occupancy, let unit = releasingUnit else { return false }
            return occupant.unit != unit
        }
    }

    public var summary: ReservationSummary
    public var rows: [Row]
    /// The daemon that published the report, when one did: its pid, and why it stopped if it did.
    public var publisher: StatusFile.Publisher?

    /// A daemon published it and still runs.
    public var running: Bool { publisher?.state == .running }

    /// The report of a status file the daemon published. `isAlive` says whether a pid still runs
    /// portreserve: a daemon killed without a chance to publish "stopped" left "running" behind.
    public init(published file: StatusFile, isAlive: (Int32) -> Bool) {
        var publisher = file.publisher
        if publisher.state == .running && !isAlive(publisher.pid) {
            publisher.state = .stopped(reason: "pid \(publisher.pid) is gone without saying why (killed?)")
        }
        self.init(summary: file.summary, rows: file.rows.map {
            Row(service: $0.service, port: $0.port, family: $0.family, state: $0.status.rawValue, since: $0.since,
                sharedWith: $0.sharedWith, detail: $0.detail)
        }, publisher: publisher)
    }

    init(summary: ReservationSummary, rows: [Row], publisher: StatusFile.Publisher?) {
        self.summary = summary
        self.rows = rows
        self.publisher = publisher
    }

    /// The report in a status file's bytes; `read` is what the CLI uses, this is for tests.
    static func decode(_ bytes: [UInt8], isAlive: (Int32) -> Bool) -> Result<StatusReport, RequestError> {
        StatusFile.decode(bytes).map { StatusReport(published: $0, isAlive: isAlive) }
    }

    /// The status the daemon published in `stateDirectory`, nil when none is there (no daemon ran
    /// in this boot). Errors name the file.
    public static func read(stateDirectory: String) -> Result<StatusReport?, RequestError> {
        StatusFile.read(stateDirectory: stateDirectory).map { file in file.map { StatusReport(published: $0, isAlive: isPortreserve) } }
    }

    /// Whether `pid` is a running portreserve (kill(2) with no signal: EPERM means it runs as
    /// someone else; its name tells a reused pid apart where /proc shows it).
    static func isPortreserve(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let name = readSmallFile("/proc/\(pid)/comm") else { return true }
        return name.hasPrefix("portreserve")
    }

    /// The report with, for every row not held (released or retried), who has its port now.
    /// Reads /proc: run as root, it names every process; as another user, those it may see.
    public func withOccupants(_ snapshot: PortHolder.Snapshot = PortHolder.Snapshot()) -> StatusReport {
        var report = self
        let wanted = report.rows.indices.compactMap { index -> (Int, SocketSlot)? in
            let row = report.rows[index]
            guard row.state != "held", row.state != "configured", let family = row.family else { return nil }
            return (index, SocketSlot(row.port, family))
        }
        for ((index, _), occupancy) in zip(wanted, snapshot.occupancies(of: wanted.map(\.1))) {
            report.rows[index].occupancy = occupancy
        }
        return report
    }

    /// What `configuration` would reserve, for when no daemon runs.
    public static func wouldReserve(_ configuration: Configuration) -> StatusReport {
        var owners: [PortKey: [String]] = [:]
        for service in configuration.services { for port in service.ports { owners[port, default: []].append(service.name) } }
        let rows = configuration.services.flatMap { service in
            service.ports.map { port in
                Row(service: service.name, port: port, family: nil, state: "configured", since: nil,
                    sharedWith: owners[port, default: []].filter { $0 != service.name }, detail: nil)
            }
        }
        let summary = ReservationSummary(ports: owners.count, services: configuration.services.filter { !$0.ports.isEmpty }.count)
        return StatusReport(summary: summary, rows: rows, publisher: nil)
    }

    /// An aligned table and one summary line.
    public func text() -> String {
        var lines = [["SERVICE", "PORT", "PROTO", "FAMILY", "STATE", "SINCE", "DETAIL"]]
        for row in rows {
            var state = row.state
            if !row.sharedWith.isEmpty { state += " (shared with \(row.sharedWith.joined(separator: ",")))" }
            lines.append([
                row.service, "\(row.port.port)", row.port.transport.rawValue, row.family?.rawValue ?? "both", state,
                row.since.map(Self.localTime) ?? "-", Self.detailText(row),
            ])
        }
        let widths = (0..<7).map { column in lines.map { $0[column].count }.max() ?? 0 }
        var text = lines.map { cells in
            var line = ""
            for (column, cell) in cells.enumerated() {
                line += column == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count + 2)
            }
            return String(line.reversed().drop(while: { $0 == " " }).reversed())
        }.joined(separator: "\n")
        let counts = "\(summary.sockets) sockets on \(summary.ports) ports for \(summary.services) services, \(summary.retrying) retrying"
        switch publisher?.state {
        case .running?: text += "\nHolding \(counts)"
        case .stopped(let reason)?:
            text += "\nNot running since \(Self.localTime(publisher!.since)) (\(reason)); above, what it last published"
        case nil: text += "\nNot running; the configuration would reserve \(summary.ports) ports for \(summary.services) services"
        }
        return text + "\n"
    }

    /// The DETAIL column: why a socket is retried, who released it, and who has its port now.
    static func detailText(_ row: Row) -> String {
        var parts: [String] = []
        if row.state == "released", let detail = row.detail {
            let words = detail.split(separator: " ")
            parts.append("by \(words.first ?? "")" + (words.count == 2 ? " (\(words[1]))" : ""))
        } else if let detail = row.detail {
            parts.append(detail)
        }
        switch row.occupancy {
        case nil: break
        case .free?: parts.append("port free")
        case .hidden?: parts.append("port in use (by a process this user cannot see: run as root)")
        case .occupied(let occupant)?: parts.append((row.isTaken ? "TAKEN by " : "now ") + occupant.description)
        }
        return parts.joined(separator: "; ")
    }

    /// The `--json` form: a stable schema for scripts, documented in the README.
    public func json() -> String {
        let rowsJSON = rows.map { row in
            "{\"service\":\(Self.quoted(row.service)),\"port\":\(row.port.port),\"protocol\":\"\(row.port.transport.rawValue)\","
                + "\"family\":\(row.family.map { "\"\($0.rawValue)\"" } ?? "null"),\"state\":\(Self.quoted(row.state)),"
                + "\"since\":\(row.since.map(String.init) ?? "null"),"
                + "\"shared_with\":[\(row.sharedWith.map(Self.quoted).joined(separator: ","))],"
                + "\"detail\":\(row.detail.map(Self.quoted) ?? "null"),"
                + "\"occupant\":\(Self.occupantJSON(row.occupancy)),\"taken\":\(row.isTaken)}"
        }
        return "{\"version\":1,\"running\":\(running),\"summary\":{\"ports\":\(summary.ports),\"services\":\(summary.services),"
            + "\"conflicts\":\(summary.retrying),\"retrying\":\(summary.retrying),\"sockets\":\(summary.sockets)},"
            + "\"reservations\":[\(rowsJSON.joined(separator: ","))]}\n"
    }

    /// null (not looked at), "free", "hidden", or the process.
    static func occupantJSON(_ occupancy: PortHolder.Occupancy?) -> String {
        switch occupancy {
        case nil: return "null"
        case .free?: return "\"free\""
        case .hidden?: return "\"hidden\""
        case .occupied(let occupant)?:
            return "{\"command\":\(quoted(occupant.command)),\"pid\":\(occupant.pid),\"unit\":\(occupant.unit.map(quoted) ?? "null")}"
        }
    }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    static func localTime(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        localtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
