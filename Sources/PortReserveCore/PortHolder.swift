#if canImport(Glibc)
import Glibc
#endif

/// Finds which process holds a port, the way `ss -p` does: the socket's inode from
/// /proc/net/{tcp,udp}{,6}, then the process with a descriptor on that inode. Used only on a
/// conflict, so its cost never touches a normal start.
public enum PortHolder {
    /// "cupsd (pid 812)", or nil when /proc does not tell (hidden processes, hardening).
    public static func describe(_ key: PortKey, _ family: AddressFamily) -> String? {
        let table = "/proc/net/\(key.transport.rawValue)\(family == .ipv6 ? "6" : "")"
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
        guard let proc = opendir("/proc") else { return nil }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let pid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard !pid.isEmpty, pid.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let fds = opendir("/proc/\(pid)/fd") else { continue }
            defer { closedir(fds) }
            while let fd = readdir(fds) {
                let name = withUnsafeBytes(of: fd.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                var target = [CChar](repeating: 0, count: 64)
                let length = readlink("/proc/\(pid)/fd/\(name)", &target, target.count - 1)
                guard length > 0,
                      String(decoding: target.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) == link
                else { continue }
                let command = readSmallFile("/proc/\(pid)/comm")?.split(separator: "\n").first.map(String.init) ?? "?"
                return "\(command) (pid \(pid))"
            }
        }
        return nil
    }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += chunk.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
