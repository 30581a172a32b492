import SystemCalls
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// Why the daemon cannot have its control socket.
public enum ControlSocketError: Error, CustomStringConvertible {
    case alreadyRunning(String)
    case activation(ActivationError)
    case system(SystemError)

    public var description: String {
        switch self {
        case .alreadyRunning(let path):
            return "another portreserve daemon is already answering on \(path); stop it first (systemctl stop portreserve)"
        case .activation(let error): return "socket activation: \(error)"
        case .system(let error): return error.description
        }
    }
}

/// The datagram socket that requests arrive on: handed over by systemd, or made by the daemon
/// itself when it runs without socket activation.
public enum ControlSocket {
    /// Checks a socket passed by systemd and prepares it: credentials on every datagram (only root
    /// may release, and only the kernel's word for the sender counts) and non-blocking reads.
    public static func adopt(_ descriptor: ListenedDescriptor) throws(ControlSocketError) -> CInt {
        do { try SocketActivation.check(descriptor, is: .unixDatagram(path: nil)) } catch { throw .activation(error) }
        do {
            try enablePassCredentials(descriptor.fd)
            try setNonBlocking(descriptor.fd)
        } catch { throw .system(error) }
        return descriptor.fd
    }

    /// Creates the socket at `path`: the directory if missing, a stale socket file replaced, and
    /// a refusal if a live daemon is bound there. Anyone may send (status is public); the daemon
    /// itself checks who asks for a release.
    public static func create(at path: String) throws(ControlSocketError) -> CInt {
        let address = UnixAddress(path: path)
        let directory = parentDirectory(of: path)
        let answered: Bool
        do {
            if !directory.isEmpty { try makeDirectories(directory) }
            answered = try isAnswered(address)
        } catch {
            throw .system(error)
        }
        if answered { throw .alreadyRunning(path) }
        do throws(SystemError) {
            let fd = try makeUnixDatagramSocket()
            do throws(SystemError) {
                try bindUnix(fd, to: address)
                _ = chmod(path, 0o666)
                try enablePassCredentials(fd)
                try setNonBlocking(fd)
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
            _ = unlink(address.description)
            return false
        } catch where error.errno == ENOENT {
            return false
        }
    }

    private static func makeDirectories(_ directory: String) throws(SystemError) {
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw SystemError(call: "mkdir", subject: prefix, errno: errno)
            }
        }
    }
}
