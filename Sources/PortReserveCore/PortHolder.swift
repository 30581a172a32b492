import SystemCalls

/// Finds which process holds a port, the way `ss -p` does: the socket's inode from
/// /proc/self/net/{tcp,udp}{,6}, then the process with a descriptor on that inode. Used only on a
/// conflict, so its cost never touches a normal start.
public enum PortHolder {
    /// "cupsd (pid 812)", or nil when /proc does not tell (hidden processes, hardening).
    public static func describe(_ key: PortKey, _ family: AddressFamily) -> String? {
        // /proc/self/net rather than /proc/net: it stays visible under ProcSubset=pid.
        let table = "/proc/self/net/\(key.transport.rawValue)\(family == .ipv6 ? "6" : "")"
        guard let inode = socketInode(in: table, port: key.port) else { return nil }
        return process(holding: inode)
    }

    static func socketInode(in table: String, port: UInt16) -> String? {
        guard let text = readSmallFile(table) else { return nil }
        let wanted = ":" + String(port, radix: 16, uppercase: true).leftPadded(to: 4)
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[1].hasSuffix(wanted) else { continue }
            if fields[9] != "0" { return String(fields[9]) }
        }
        return nil
    }

    private static func process(holding inode: String) -> String? {
        let link = "socket:[\(inode)]"
        guard let processes = try? directoryEntries("/proc") else { return nil }
        for pid in processes where pid.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard let fds = try? directoryEntries("/proc/\(pid)/fd") else { continue }
            if fds.contains(where: { linkTarget("/proc/\(pid)/fd/\($0)") == link }) {
                let command = readSmallFile("/proc/\(pid)/comm")?.split(separator: "\n").first.map(String.init) ?? "?"
                return "\(command) (pid \(pid))"
            }
        }
        return nil
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
