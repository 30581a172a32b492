import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The names released in this boot, one per line, in a file under /run (a tmpfs, so a reboot
/// forgets it). A daemon started again by socket activation reads it and does not take back ports
/// their services already have.
public struct ReleasedRecord: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// The record in `stateDirectory` when one is given; else in the runtime directory systemd
    /// made for the service (RUNTIME_DIRECTORY, from RuntimeDirectory=); else beside the socket.
    public init(stateDirectory: String?, socketPath: String, runtimeDirectory: String? = environmentValue("RUNTIME_DIRECTORY")) {
        if let directory = stateDirectory ?? runtimeDirectory?.split(separator: ":").first.map(String.init) {
            self.init(path: directory + "/released")
        } else {
            self.init(besideSocket: socketPath)
        }
    }

    /// The record beside a control socket: `/run/portreserve/released` for the system socket.
    public init(besideSocket socketPath: String) {
        let directory = parentDirectory(of: socketPath)
        self.path = (directory.isEmpty ? "." : directory) + "/released"
    }

    /// The recorded names; none when the file does not exist yet.
    public func load() -> Set<String> {
        guard let text = readSmallFile(path) else { return [] }
        return Set(text.split(separator: "\n").map(String.init))
    }

    /// Adds `names` with one append, so a crash leaves whole lines.
    public func append(_ names: [String]) throws(SystemError) {
        guard !names.isEmpty else { return }
        let fd = try retryingInterrupts("open", subject: path) {
            open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        }
        defer { closeDescriptor(fd) }
        try Self.write(names.map { $0 + "\n" }.joined(), to: fd, path: path)
    }

    /// Writes all of `text`, or throws: a short record must never pass for a whole one.
    private static func write(_ text: String, to fd: CInt, path: String) throws(SystemError) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Result { () throws(SystemError) in
                    try retryingInterrupts("write", subject: path) { Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
                }
            }
            offset += try written.get()
        }
    }

    /// Forgets `names`, rewriting the record through a temporary file and rename(2), so a crash
    /// leaves the old record or the new one, never half of one.
    public func remove(_ names: [String]) throws(SystemError) {
        let current = load()
        let dropped = Set(names)
        guard !current.isDisjoint(with: dropped) else { return }
        let temporary = path + ".new"
        let fd = try retryingInterrupts("open", subject: temporary) {
            open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        }
        do {
            try Self.write(current.subtracting(dropped).sorted().map { $0 + "\n" }.joined(), to: fd, path: temporary)
        } catch {
            closeDescriptor(fd)
            _ = unlink(temporary)
            throw error
        }
        closeDescriptor(fd)
        _ = try retryingInterrupts("rename", subject: "\(temporary) to \(path)") { rename(temporary, path) }
    }
}
