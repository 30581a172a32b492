#if canImport(Glibc)
import Glibc
#endif

/// The names in a directory, without `.` and `..`. Wraps `opendir(3)` and `readdir(3)`.
public func directoryEntries(_ path: String) throws(SystemError) -> [String] {
    try directoryEntryBytes(path).map { String(decoding: $0, as: UTF8.self) }
}

/// The names in a directory as the kernel has them, bytes that need not be UTF-8.
public func directoryEntryBytes(_ path: String) throws(SystemError) -> [[UInt8]] {
    guard let handle = opendir(path) else { throw SystemError(call: "opendir", subject: path, errno: errno) }
    defer { closedir(handle) }
    var names: [[UInt8]] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
        if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
    }
    return names
}

/// Where a symbolic link points, or nil when `path` is not one. Wraps `readlink(2)`.
public func linkTarget(_ path: String) -> String? {
    var target = [CChar](repeating: 0, count: 4096)
    let length = readlink(path, &target, target.count - 1)
    guard length > 0 else { return nil }
    return String(decoding: target.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The whole text of a small file (a /proc file, a state record), or nil when it cannot be read.
public func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { closeDescriptor(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let (count, _) = valueOrErrno { read(fd, &chunk, chunk.count) }
        if count <= 0 { break }
        bytes += chunk.prefix(count)
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The directory part of `path` ("" for a bare name), as dirname(3) would give it for the paths
/// this project builds.
public func parentDirectory(of path: String) -> String {
    path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
}

// Files in a directory the caller owns, always named relative to its descriptor and never
// through a symbolic link: a path someone else controls is never followed.

/// Opens the directory `path` for the `*At` calls below; a link to a directory is followed only
/// with `followingLinks`. Wraps `open(2)`.
public func openDirectory(_ path: String, followingLinks: Bool = false) throws(SystemError) -> CInt {
    let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followingLinks ? 0 : O_NOFOLLOW)
    return try retryingInterrupts("open", subject: path) { open(path, flags) }
}

/// What `fstat(2)` says of `fd`.
public func fileStatus(_ fd: CInt, subject: @autoclosure () -> String) throws(SystemError) -> stat {
    var info = stat()
    _ = try retryingInterrupts("fstat", subject: subject()) { fstat(fd, &info) }
    return info
}

/// What `stat(2)` says of what `path` leads to, or with `followingLinks: false` what `lstat(2)`
/// says of `path` itself (a link is described, not followed); nil when nothing is there.
public func pathStatus(_ path: String, followingLinks: Bool = true) throws(SystemError) -> stat? {
    var info = stat()
    if (followingLinks ? stat(path, &info) : lstat(path, &info)) == 0 { return info }
    let code = errno
    if code == ENOENT { return nil }
    throw SystemError(call: followingLinks ? "stat" : "lstat", subject: path, errno: code)
}

/// Why a file in a directory of ours cannot be used, beyond what a system call says.
public enum OwnFileError: Error, Equatable, CustomStringConvertible, Sendable {
    case system(SystemError)
    /// Not a regular file (a FIFO, a socket, a device, a directory): never read or written.
    case notRegular(String)
    /// Larger than the caller allows: never read into memory.
    case tooLarge(String, limit: Int)

    public var description: String {
        switch self {
        case .system(let error):
            // open(O_NOFOLLOW) on a link fails with ELOOP; say what it means.
            if error.errno == ELOOP { return "\(error.subject) is a symbolic link: refused, links are never followed here" }
            return error.description
        case .notRegular(let path): return "\(path) is not a regular file: refused"
        case .tooLarge(let path, let limit): return "\(path) is larger than \(limit) bytes: refused"
        }
    }
}

/// The whole of the regular file `name` in directory `directory` (opened with `openDirectory`),
/// or nil when there is none. A link, a FIFO or anything larger than `limit` bytes is refused
/// without blocking or reading it. `subject` names the file in errors.
public func readOwnFile(_ directory: CInt, _ name: String, limit: Int, subject: String) throws(OwnFileError) -> [UInt8]? {
    guard let (fd, info) = try openOwnFile(directory, name, O_RDONLY, subject: subject) else { return nil }
    defer { closeDescriptor(fd) }
    guard info.st_size <= limit else { throw .tooLarge(subject, limit: limit) }
    var bytes = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
    var filled = 0
    while filled < bytes.count {
        let (count, code) = bytes.withUnsafeMutableBytes { buffer in
            valueOrErrno { read(fd, buffer.baseAddress! + filled, buffer.count - filled) }
        }
        if count < 0 { throw .system(SystemError(call: "read", subject: subject, errno: code)) }
        if count == 0 { break }
        filled += count
        // It grew while we read: still bounded.
        if filled == bytes.count && filled <= limit { bytes += [UInt8](repeating: 0, count: min(limit + 1 - filled, 65536)) }
    }
    guard filled <= limit else { throw .tooLarge(subject, limit: limit) }
    return Array(bytes.prefix(filled))
}

/// Appends `bytes` to the regular file `name` in `directory` with one write, creating it with
/// `mode`; a link or a FIFO there is refused. A crash leaves whole lines when each call is one.
public func appendToOwnFile(_ directory: CInt, _ name: String, _ bytes: [UInt8], mode: mode_t, subject: String) throws(OwnFileError) {
    guard let (fd, _) = try openOwnFile(directory, name, O_WRONLY | O_APPEND | O_CREAT, mode: mode, subject: subject) else {
        throw .system(SystemError(call: "open", subject: subject, errno: ENOENT))
    }
    defer { closeDescriptor(fd) }
    do { try writeWhole(fd, bytes, subject: subject) } catch { throw .system(error) }
}

/// Opens the regular file `name` in `directory` with `flags`, never through a link and without
/// blocking on a FIFO, and returns it with its status; nil when it does not exist.
private func openOwnFile(_ directory: CInt, _ name: String, _ flags: CInt, mode: mode_t = 0,
                         subject: String) throws(OwnFileError) -> (CInt, stat)? {
    let fd: CInt
    do {
        fd = try retryingInterrupts("open", subject: subject) {
            openat(directory, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode)
        }
    } catch where error.errno == ENOENT {
        return nil
    } catch {
        throw .system(error)
    }
    let info: stat
    do { info = try fileStatus(fd, subject: subject) } catch {
        closeDescriptor(fd)
        throw .system(error)
    }
    guard info.st_mode & S_IFMT == S_IFREG else {
        closeDescriptor(fd)
        throw .notRegular(subject)
    }
    return (fd, info)
}

/// Replaces `name` in `directory` with `bytes` through a temporary file and rename(2), so a
/// reader sees the old contents or the new, never half. The temporary is created with O_EXCL
/// (a leftover of ours from a crash is removed first) and given `mode` whatever the umask.
public func replaceOwnFile(_ directory: CInt, _ name: String, _ bytes: [UInt8], mode: mode_t, subject: String) throws(SystemError) {
    let temporary = "." + name + ".new"
    let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC
    var fd = openat(directory, temporary, flags, mode)
    if fd < 0 && errno == EEXIST {
        _ = unlinkat(directory, temporary, 0)
        fd = openat(directory, temporary, flags, mode)
    }
    if fd < 0 { throw SystemError(call: "open", subject: subject + ".new", errno: errno) }
    do {
        _ = try retryingInterrupts("fchmod", subject: subject + ".new") { fchmod(fd, mode) }
        try writeWhole(fd, bytes, subject: subject + ".new")
    } catch {
        closeDescriptor(fd)
        _ = unlinkat(directory, temporary, 0)
        throw error
    }
    closeDescriptor(fd)
    _ = try retryingInterrupts("rename", subject: "\(subject).new to \(subject)") { renameat(directory, temporary, directory, name) }
}

/// Writes all of `bytes`, or throws: a short file must never pass for a whole one.
func writeWhole(_ fd: CInt, _ bytes: [UInt8], subject: String) throws(SystemError) {
    var offset = 0
    while offset < bytes.count {
        let (count, code) = bytes.withUnsafeBytes { buffer in
            valueOrErrno { write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
        }
        if count < 0 { throw SystemError(call: "write", subject: subject, errno: code) }
        offset += count
    }
}

/// Makes `directory` and its missing parents, mode 0755 (less the umask). Wraps `mkdir(2)`.
public func makeDirectories(_ directory: String) throws(SystemError) {
    var prefix = directory.hasPrefix("/") ? "" : "."
    for component in directory.split(separator: "/") {
        prefix += "/" + component
        let (_, code) = valueOrErrno { mkdir(prefix, 0o755) }
        if code != 0 && code != EEXIST { throw SystemError(call: "mkdir", subject: prefix, errno: code) }
    }
}
