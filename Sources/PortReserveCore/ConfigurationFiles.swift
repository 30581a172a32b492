import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The file-system side of configuration loading, kept apart so the parser only sees bytes.
enum ConfigurationFiles {
    enum Contents: Equatable {
        case contents([UInt8])
        /// An empty file or a link to /dev/null: hides a file of the same name in a later directory.
        case masked
        case unreadable(String)
    }

    /// Configuration files are small; anything larger is a mistake, not a configuration.
    static let maximumSize = 16 << 20

    /// The names in `directory` that may be service files (no `.`, no `~`), sorted, and those
    /// that are not UTF-8 (which no request can name), as bytes, for the message that skips them.
    /// A missing directory is empty, since the vendor directory usually does not exist.
    static func list(_ directory: String) -> Swift.Result<(names: [String], undecodable: [[UInt8]]), SystemError> {
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

    static func read(_ path: String) -> Contents {
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
            let count = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return .unreadable("cannot read: \(SystemError(call: "read", errno: errno).reason)") }
            if count == 0 { break }
            filled += count
        }
        return .contents(Array(bytes.prefix(filled)))
    }
}
