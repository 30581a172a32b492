import PortReserveConfiguration
import PortReserveCore
import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// `portreserve check`: every problem of a configuration, and the overlaps a daemon would accept
/// silently (two files naming one port, one file naming a port twice), as `FILE:LINE: message`.
public enum ConfigurationCheck {
    public static func findings(_ configuration: Configuration, directories: [String] = []) -> [ConfigurationProblem] {
        var findings = configuration.problems + unreadableByTheDaemon(configuration, directories: directories)
        var firstSeen: [PortKey: (service: ServiceConfiguration, line: Int)] = [:]
        for service in configuration.services {
            var inFile: [PortKey: Int] = [:]
            for entry in service.entries {
                for port in entry.ports {
                    if let line = inFile[port] {
                        findings.append(ConfigurationProblem(
                            file: service.file, line: entry.line, message: "\(port) was already named on line \(line)"))
                        continue
                    }
                    inFile[port] = entry.line
                    if let first = firstSeen[port] {
                        findings.append(ConfigurationProblem(
                            file: service.file, line: entry.line,
                            message: "\(port) is also reserved for \(first.service.name) (\(first.service.file):\(first.line)); "
                                + "releasing either service frees it"))
                    } else {
                        firstSeen[port] = (service, entry.line)
                    }
                }
            }
        }
        return findings
    }

    /// The user the shipped unit runs the daemon as (`User=` in portreserve.service).
    public static let daemonUser = "portreserve"

    /// Files and directories the daemon will not be able to read under the shipped unit, which
    /// runs it as `daemonUser` (others' permissions where that user does not exist yet). A file
    /// only root can read, common after a migration from the C daemon (which ran as root), would
    /// be skipped at boot.
    static func unreadableByTheDaemon(_ configuration: Configuration, directories: [String]) -> [ConfigurationProblem] {
        let user = getpwnam(daemonUser)
        let (uid, gid) = user.map { ($0.pointee.pw_uid, $0.pointee.pw_gid) } ?? (uid_t.max, gid_t.max)
        func allows(_ info: stat, _ wanted: mode_t) -> Bool {
            let shift: mode_t = info.st_uid == uid ? 6 : info.st_gid == gid ? 3 : 0
            return (info.st_mode >> shift) & wanted == wanted
        }
        var findings: [ConfigurationProblem] = []
        var usedDirectories = Set(directories)
        for service in configuration.services { usedDirectories.insert(parentDirectory(of: service.file)) }
        for directory in usedDirectories.sorted() {
            guard let info = try? pathStatus(directory), !allows(info, 0o5) else { continue }
            findings.append(ConfigurationProblem(
                file: directory, line: nil,
                message: "the user \(daemonUser) cannot list it (mode \(String(info.st_mode & 0o7777, radix: 8))); the daemon runs as "
                    + "\(daemonUser) and will not see the files in it at boot: chmod o+rx \(printable(directory))"))
        }
        for service in configuration.services {
            guard let info = try? pathStatus(service.file), !allows(info, 0o4) else { continue }
            findings.append(ConfigurationProblem(
                file: service.file, line: nil,
                message: "the user \(daemonUser) cannot read it (mode \(String(info.st_mode & 0o7777, radix: 8))); the daemon runs as "
                    + "\(daemonUser) and will skip it at boot: chmod o+r \(printable(service.file))"))
        }
        return findings
    }
}
