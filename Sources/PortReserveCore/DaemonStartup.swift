import Logging
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's control socket, whether the daemon made its file (and so removes it at exit),
/// and the reserved sockets systemd kept in its descriptor store.
public struct ControlSocketHandle {
    public let fd: CInt
    public let createdPath: String?
    public var stored: [ListenedDescriptor] = []
}

/// Finding the control socket at start: the one systemd passed, or one of our own.
public enum DaemonStartup {
    public static func controlSocket(path: String, logger: Logger) throws(ControlSocketError) -> ControlSocketHandle {
        let passed: [ListenedDescriptor]
        do { passed = try SocketActivation.descriptors() } catch { throw .activation(.system(error)) }
        if passed.isEmpty {
            logger.debug("not socket-activated: creating \(path)")
            return ControlSocketHandle(fd: try ControlSocket.create(at: path), createdPath: path)
        }
        // The control socket is the one Unix socket; the Internet sockets come from the store.
        let isInternet = { (descriptor: ListenedDescriptor) -> Bool in
            if case .socket(let family, _) = descriptor.kind { return family == AF_INET || family == AF_INET6 }
            return false
        }
        let descriptor: ListenedDescriptor
        do { descriptor = try SocketActivation.single(.unixDatagram(path: nil), among: passed.filter { !isInternet($0) }) } catch {
            throw .activation(error)
        }
        return ControlSocketHandle(
            fd: try ControlSocket.adopt(descriptor), createdPath: nil, stored: passed.filter(isInternet))
    }
}
