import PortReserveProtocol
import SystemCalls
import Systemd

/// A process that has a socket on a port: what `ss -p` shows, plus its systemd unit.
public struct PortOccupant: Equatable, Sendable, CustomStringConvertible {
    public var command: String
    public var pid: Int32
    public var unit: String?

    public init(command: String, pid: Int32, unit: String?) {
        self.command = command
        self.pid = pid
        self.unit = unit
    }

    /// "rpc.statd (pid 812, rpc-statd.service)"
    public var description: String {
        "\(printable(command)) (pid \(pid)\(unit.map { ", " + printable($0) } ?? ""))"
    }
}

/// Finds which process has a socket on a port, the way `ss -p` does: the socket's inode from
/// /proc/self/net/{tcp,udp}{,6}, then the process with a descriptor on that inode.
///
/// What it sees depends on who asks. Root sees every process. The daemon runs as its own user
/// with ProtectProc=default: it reads the tables, but not other users' descriptors, so it can
/// tell a port is in use but rarely by whom. A TCP socket that is bound but not listening (a
/// reservation, say) is in no table at all.
public enum PortHolder {
    /// "cupsd (pid 812)" for each slot, or nil where /proc does not tell (hidden processes,
    /// hardening): one scan for them all. Used after conflicts, once per batch, so its cost never
    /// touches a normal start and never grows with the number of conflicts.
    public static func describe(_ slots: [SocketSlot]) -> [String?] {
        Snapshot().occupancies(of: slots).map { occupancy in
            if case .occupied(let occupant) = occupancy { occupant.description } else { nil }
        }
    }

    /// What is on a port now, as far as /proc tells.
    public enum Occupancy: Equatable, Sendable {
        /// No socket in the tables has the port: free (or a TCP socket bound without listening).
        case free
        /// In use by this process.
        case occupied(PortOccupant)
        /// In use, by a process this user cannot see.
        case hidden
    }

    /// The four socket tables read once, and the processes' descriptors scanned once for every
    /// inode asked about together (stopping when all are found), however many ports are asked.
    public final class Snapshot {
        /// Per table ("tcp", "udp6"), the inodes of sockets on each local port.
        private var tables: [String: [UInt16: String]] = [:]

        public init() {}

        /// Who has each slot's port, in order: one scan of /proc for all of them.
        public func occupancies(of slots: [SocketSlot]) -> [Occupancy] {
            let inodes = slots.map(inode(of:))
            let owners = Self.scanProcesses(for: Set(inodes.compactMap { $0 }))
            return inodes.map { inode in
                guard let inode else { return .free }
                return owners[inode].map(Occupancy.occupied) ?? .hidden
            }
        }

        public func occupancy(of slot: SocketSlot) -> Occupancy { occupancies(of: [slot])[0] }

        public func occupant(of slot: SocketSlot) -> PortOccupant? {
            if case .occupied(let occupant) = occupancy(of: slot) { return occupant }
            return nil
        }

        private func inode(of slot: SocketSlot) -> String? {
            let name = slot.key.transport.rawValue + (slot.family == .ipv6 ? "6" : "")
            if tables[name] == nil {
                // /proc/self/net rather than /proc/net: it stays visible under ProcSubset=pid.
                tables[name] = Self.inodesByPort(readSmallFile("/proc/self/net/" + name) ?? "")
            }
            return tables[name]?[slot.key.port]
        }

        /// Local port to inode, from a /proc/net table; sockets without an inode (TIME_WAIT) are
        /// no one's. A port with a listening socket or a bound one keeps the first seen.
        static func inodesByPort(_ text: String) -> [UInt16: String] {
            var result: [UInt16: String] = [:]
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[9] != "0", let colon = fields[1].lastIndex(of: ":"),
                      let port = UInt16(fields[1][fields[1].index(after: colon)...], radix: 16) else { continue }
                if result[port] == nil { result[port] = String(fields[9]) }
            }
            return result
        }

        /// The process with a descriptor on each of `inodes`, as far as /proc lets this user see.
        /// The unit is looked up only for the processes found.
        private static func scanProcesses(for inodes: Set<String>) -> [String: PortOccupant] {
            var result: [String: PortOccupant] = [:]
            guard !inodes.isEmpty, let processes = try? directoryEntries("/proc") else { return result }
            let links = Set(inodes.map { "socket:[\($0)]" })
            for name in processes where name.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
                guard let pid = Int32(name), let fds = try? directoryEntries("/proc/\(name)/fd") else { continue }
                var occupant: PortOccupant?
                for fd in fds {
                    guard let link = linkTarget("/proc/\(name)/fd/\(fd)"), links.contains(link) else { continue }
                    let inode = String(link.dropFirst("socket:[".count).dropLast())
                    guard result[inode] == nil else { continue }
                    if occupant == nil {
                        let command = readSmallFile("/proc/\(name)/comm")?.split(separator: "\n").first.map(String.init) ?? "?"
                        occupant = PortOccupant(command: command, pid: pid, unit: Units.unit(of: pid))
                    }
                    result[inode] = occupant
                }
                if result.count == inodes.count { break }
            }
            return result
        }
    }
}
