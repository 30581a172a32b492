#if canImport(Glibc)
import Glibc
#endif

/// The names in a directory, without `.` and `..`. Wraps `opendir(3)` and `readdir(3)`.
public func directoryEntries(_ path: String) throws(SystemError) -> [String] {
    guard let handle = opendir(path) else { throw SystemError(call: "opendir", subject: path, errno: errno) }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
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
        let count = read(fd, &chunk, chunk.count)
        if count < 0 && errno == EINTR { continue }
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
