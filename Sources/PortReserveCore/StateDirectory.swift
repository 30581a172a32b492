import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// Why a file of the state directory cannot be used.
public struct StateError: Error, Equatable, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The daemon's own directory under /run (systemd's `RuntimeDirectory=`, a tmpfs that a reboot
/// empties): the record of services released in this boot, and the status it publishes.
///
/// Every file in it is opened relative to the directory's descriptor, never through a link, and
/// only after the directory was checked to be ours and writable by nobody else: whatever another
/// user controls is never followed, read into memory unbounded, or written through.
public final class StateDirectory: @unchecked Sendable {
    public let path: String
    private var descriptor: CInt?

    public init(path: String) { self.path = path }

    deinit { if let descriptor { closeDescriptor(descriptor) } }

    /// `--state-dir` when given; else the runtime directory systemd made for the service
    /// (RUNTIME_DIRECTORY, from RuntimeDirectory=); else `state` beside the control socket, which
    /// is the same `/run/portreserve/state` for the system socket. `portreserve status` finds the
    /// published status by the same rule.
    public static func path(given: String?, socketPath: String,
                            runtimeDirectory: String? = environmentValue("RUNTIME_DIRECTORY")) -> String {
        if let given { return given }
        if let runtime = runtimeDirectory?.split(separator: ":").first { return String(runtime) }
        let directory = parentDirectory(of: socketPath)
        return (directory.isEmpty ? "." : directory) + "/state"
    }

    /// The directory's descriptor, made (mode 0755, so anyone can read the status) when missing.
    /// Refused when it is not ours or others can write it. A link is followed only where nobody
    /// but root (or we) could have made it, as systemd does for some runtime directories.
    func open() throws(StateError) -> CInt {
        if let descriptor { return descriptor }
        do {
            try makeDirectories(path)
            if let link = try pathStatus(path, followingLinks: false), link.st_mode & S_IFMT == S_IFLNK {
                let parent = parentDirectory(of: path).isEmpty ? "." : parentDirectory(of: path)
                guard let info = try pathStatus(parent), !Self.othersCanWrite(info) else {
                    throw StateError("\(path) is a link in \(parent), which others can write: refused, such links are never followed")
                }
            }
        } catch let error as StateError {
            throw error
        } catch {
            throw StateError("\(error)")
        }
        let fd: CInt
        do { fd = try openDirectory(path, followingLinks: true) } catch {
            throw StateError(error.errno == ENOTDIR ? "\(path) is not a directory: refused" : error.description)
        }
        let info: stat
        do { info = try fileStatus(fd, subject: path) } catch {
            closeDescriptor(fd)
            throw StateError(error.description)
        }
        if info.st_uid != geteuid() && info.st_uid != 0 {
            closeDescriptor(fd)
            throw StateError("\(path) belongs to uid \(info.st_uid), not to this daemon: refused")
        }
        if info.st_mode & 0o022 != 0 {
            closeDescriptor(fd)
            throw StateError("\(path) is writable by other users (mode \(String(info.st_mode & 0o7777, radix: 8))): refused")
        }
        descriptor = fd
        return fd
    }

    /// Others than its owner (root or we) may create or replace entries in the directory `info` describes.
    private static func othersCanWrite(_ info: stat) -> Bool {
        info.st_mode & 0o022 != 0 || (info.st_uid != 0 && info.st_uid != geteuid())
    }

    /// Publishes `bytes` as `NAME`, readable by everyone, replacing the old file in one rename.
    func publish(_ name: String, _ bytes: [UInt8]) throws(StateError) {
        let directory = try open()
        do { try replaceOwnFile(directory, name, bytes, mode: 0o644, subject: path + "/" + name) } catch {
            throw StateError(error.description)
        }
    }
}

/// The names released in this boot, one per line. A daemon started again by socket activation
/// reads it and does not take back ports their services already have.
public struct ReleasedRecord: Sendable {
    public let directory: StateDirectory
    static let fileName = "released"
    /// Far more than any configuration's names (each at most 255 bytes): a larger record is not ours.
    static let sizeLimit = 4 << 20

    public init(_ directory: StateDirectory) { self.directory = directory }

    public var path: String { directory.path + "/" + Self.fileName }

    /// What the record holds: the names, and the lines that are not names (skipped).
    public struct Contents: Equatable, Sendable {
        public var names: Set<String> = []
        /// "FILE:LINE: why" for the first few bad lines, and how many there were in all.
        public var problems: [String] = []
        public var badLines = 0
    }

    /// The recorded names; none when there is no record yet. Lines may end in CRLF (a record
    /// edited by hand); a line that is no service name is reported and skipped.
    public func load() throws(StateError) -> Contents {
        let fd = try directory.open()
        let bytes: [UInt8]?
        do { bytes = try readOwnFile(fd, Self.fileName, limit: Self.sizeLimit, subject: path) } catch {
            throw StateError(error.description)
        }
        var contents = Contents()
        guard let bytes else { return contents }
        var lineNumber = 0
        for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw
            if line.isEmpty { continue }
            let why: String
            if let name = String(validating: line, as: UTF8.self) {
                guard let invalid = RequestCodec.whyInvalid(name: name) ?? (name == "*" ? "\"*\" is no service name" : nil) else {
                    contents.names.insert(name)
                    continue
                }
                why = invalid
            } else {
                why = "not valid UTF-8"
            }
            contents.badLines += 1
            if contents.problems.count < 3 { contents.problems.append("\(path):\(lineNumber): \(why)") }
        }
        return contents
    }

    /// Adds `names` with one append, so a crash leaves whole lines.
    public func append(_ names: [String]) throws(StateError) {
        guard !names.isEmpty else { return }
        let fd = try directory.open()
        do { try appendToOwnFile(fd, Self.fileName, Array(names.map { $0 + "\n" }.joined().utf8), mode: 0o644, subject: path) } catch {
            throw StateError(error.description)
        }
    }

    /// Forgets `names`, rewriting the record through a temporary file and rename(2), so a crash
    /// leaves the old record or the new one, never half of one.
    public func remove(_ names: [String]) throws(StateError) {
        let current = try load().names
        let dropped = Set(names)
        guard !current.isDisjoint(with: dropped) else { return }
        try directory.publish(Self.fileName, Array(current.subtracting(dropped).sorted().map { $0 + "\n" }.joined().utf8))
    }
}
