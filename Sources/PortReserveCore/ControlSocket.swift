import SystemCalls
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// Why the daemon cannot have its control socket.
public enum ControlSocketError: Error, CustomStringConvertible {
    case alreadyRunning(String)
    /// Something that is not a socket (a directory, a file, a link) is at the socket's path.
    case notASocket(String)
    case activation(ActivationError)
    case system(SystemError)

    public var description: String {
        switch self {
        case .alreadyRunning(let path):
            return "another portreserve daemon is already answering on \(path); stop it first (systemctl stop portreserve)"
        case .notASocket(let path):
            return "\(path) exists and is not a socket: refusing to replace it (remove it, or choose another --socket)"
        case .activation(let error): return "socket activation: \(error)"
        case .system(let error): return error.description
        }
    }
}

/// The datagram socket that requests arrive on: handed over by systemd, or made by the daemon
/// itself when it runs without socket activation.
public enum ControlSocket {
    /// Checks a socket passed by systemd and prepares it: credentials on every datagram (only root
    /// may release, and only the kernel's word for the sender counts), non-blocking reads, and
    /// passed descriptors refused where the kernel can.
    public static func adopt(_ descriptor: ListenedDescriptor) throws(ControlSocketError) -> CInt {
        do { try SocketActivation.check(descriptor, is: .unixDatagram(path: nil)) } catch { throw .activation(error) }
        do {
            try enablePassCredentials(descriptor.fd.rawValue)
            try setNonBlocking(descriptor.fd.rawValue)
        } catch { throw .system(error) }
        refusePassedDescriptors(descriptor.fd.rawValue)
        return descriptor.fd.rawValue
    }

    /// Creates the socket at `path`: the directory if missing, a stale socket file replaced, and
    /// a refusal if a live daemon is bound there or something else is at the path. The socket is
    /// root's alone (mode 0600, set by the umask at bind(2), so it is never open to others even
    /// for a moment): only root can reach the release path. Status is published in a file.
    public static func create(at path: String) throws(ControlSocketError) -> CInt {
        let address = UnixAddress(path: path)
        let directory = parentDirectory(of: path)
        let answered: Bool
        do {
            if !directory.isEmpty { try makeDirectories(directory) }
            if let info = try pathStatus(path, followingLinks: false), info.st_mode & S_IFMT != S_IFSOCK { throw ControlSocketError.notASocket(path) }
            answered = try isAnswered(address)
        } catch let error as ControlSocketError {
            throw error
        } catch {
            throw .system(error as! SystemError)
        }
        if answered { throw .alreadyRunning(path) }
        do throws(SystemError) {
            let fd = try makeUnixDatagramSocket()
            do throws(SystemError) {
                let umaskBefore = umask(0o177)
                defer { umask(umaskBefore) }
                try bindUnix(fd, to: address)
                try enablePassCredentials(fd)
                try setNonBlocking(fd)
                refusePassedDescriptors(fd)
            } catch {
                closeDescriptor(fd)
                throw error
            }
            return fd
        } catch {
            throw .system(error)
        }
    }

    /// Whether a socket is bound at `address`. A socket file nobody is bound to (left by a daemon
    /// that died) is removed, so the caller can bind there.
    private static func isAnswered(_ address: UnixAddress) throws(SystemError) -> Bool {
        let probe = try makeUnixDatagramSocket()
        defer { closeDescriptor(probe) }
        do {
            try connectUnix(probe, to: address)
            return true
        } catch where error.errno == ECONNREFUSED {
            removeSocketFile(address.description)
            return false
        } catch where error.errno == ENOENT {
            return false
        }
    }

    /// Removes `path` if, and only if, a socket is there: the one file the daemon ever unlinks.
    public static func removeSocketFile(_ path: String) {
        if let info = try? pathStatus(path, followingLinks: false), info.st_mode & S_IFMT == S_IFSOCK { _ = unlink(path) }
    }
}
