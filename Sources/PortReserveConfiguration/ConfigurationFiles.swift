import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The file-system side of configuration loading, kept apart so the parser only sees bytes:
/// which file holds each service (the layering of the directories), and its bytes.
public enum ConfigurationFiles {
    public enum Contents: Equatable {
        case contents([UInt8])
        /// An empty file or a link to /dev/null: hides a file of the same name in a later directory.
        case masked
        case unreadable(String)
    }

    /// Configuration files are small; anything larger is a mistake, not a configuration.
    public static let maximumSize = 16 << 20

    /// The names in `directory` that may be service files (no `.`, no `~`), sorted, and those
    /// that are not UTF-8 (which no request can name), as bytes, for the message that skips them.
    /// A missing directory is empty, since the vendor directory usually does not exist.
    public static func list(_ directory: String) -> Swift.Result<(names: [String], undecodable: [[UInt8]]), SystemError> {
        do {
            var names: [String] = [], undecodable: [[UInt8]] = []
            // Bytes, not Characters: the names are compared a thousand at a time at start-up.
            for bytes in try directoryEntryBytes(directory)
            where !bytes.contains(UInt8(ascii: ".")) && !bytes.contains(UInt8(ascii: "~")) {
                if let name = String(validating: bytes, as: UTF8.self) { names.append(name) } else { undecodable.append(bytes) }
            }
            return .success((names.sorted(), undecodable))
        } catch where error.errno == ENOENT || error.errno == ENOTDIR {
            return .success(([], []))
        } catch {
            return .failure(error)
        }
    }

    /// makedev(1, 3) in glibc's encoding; the macro does not reach Swift.
    static let nullDevice: dev_t = (1 << 8) | 3

    public static func read(_ path: String) -> Contents {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 { return .unreadable("cannot open: \(SystemError(call: "open", errno: errno).reason)") }
        defer { closeDescriptor(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .unreadable("cannot stat: \(SystemError(call: "fstat", errno: errno).reason)") }
        // A link to /dev/null is told by what it opens, as systemd's null_or_empty() does: one
        // readlink(2) less per file, and a link to a link to /dev/null masks too.
        if info.st_mode & S_IFMT == S_IFCHR && info.st_rdev == nullDevice { return .masked }
        if info.st_mode & S_IFMT == S_IFDIR { return .unreadable("ignored: a directory, not a file") }
        guard info.st_mode & S_IFMT == S_IFREG else { return .unreadable("ignored: not a regular file") }
        if info.st_size == 0 { return .masked }
        guard info.st_size <= maximumSize else { return .unreadable("ignored: larger than \(maximumSize >> 20) MiB") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let (count, code) = bytes.withUnsafeMutableBytes { buffer in
                valueOrErrno { Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled) }
            }
            if count < 0 { return .unreadable("cannot read: \(SystemError(call: "read", errno: code).reason)") }
            if count == 0 { break }
            filled += count
        }
        return .contents(Array(bytes.prefix(filled)))
    }

    /// The file of each service, in name order: the first directory that has a name wins (an
    /// empty file or a link to /dev/null there masks it: `read` says so), as tmpfiles.d does.
    /// Names with `.` or `~` are never services (backups, packaging leftovers), as in the original.
    public static func layered(_ directories: [String]) -> (files: [(name: String, path: String)], problems: [ConfigurationProblem]) {
        var problems: [ConfigurationProblem] = []
        // Each directory's names come sorted, so only names from several directories need sorting again.
        var chosen: [(name: String, path: String)] = []
        var seen = Set<String>()
        var directoriesWithNames = 0
        for directory in directories {
            let names: [String]
            switch list(directory) {
            case .success(let listed):
                names = listed.names
                for name in listed.undecodable {
                    problems.append(ConfigurationProblem(
                        file: directory, line: nil,
                        message: "ignored \"\(printable(bytes: name))\": a service name must be valid UTF-8"))
                }
            case .failure(let error):
                problems.append(ConfigurationProblem(file: directory, line: nil, message: "cannot read directory: \(error.reason)"))
                continue
            }
            if !names.isEmpty { directoriesWithNames += 1 }
            for name in names where !seen.contains(name) {
                let path = directory + "/" + name
                if let why = unusableName(name) {
                    problems.append(ConfigurationProblem(file: path, line: nil, message: why))
                    continue
                }
                seen.insert(name)
                chosen.append((name, path))
            }
        }
        if directoriesWithNames > 1 { chosen.sort { $0.name < $1.name } }
        return (chosen, problems)
    }

    /// Why a file name cannot be a service name, or nil when it can: the rule of a name in a
    /// release request (`ServiceName`), so that every configured service can be released. Names
    /// with `.` or `~` never get here: they are backups and packaging leftovers, ignored as the
    /// original did.
    public static func unusableName(_ name: String) -> String? {
        if name == "*" { return "ignored: \"*\" means every service in a release request" }
        return ServiceName.whyInvalid(name).map { "ignored: " + $0 }
    }
}
