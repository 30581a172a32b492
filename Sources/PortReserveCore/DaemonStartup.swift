import Logging
import Systemd

/// The daemon's control socket and whether the daemon made its file (and so removes it at exit).
public struct ControlSocketHandle {
    public let fd: CInt
    public let createdPath: String?
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
        let descriptor: ListenedDescriptor
        do { descriptor = try SocketActivation.single(.unixDatagram(path: nil), among: passed) } catch {
            throw .activation(error)
        }
        return ControlSocketHandle(fd: try ControlSocket.adopt(descriptor), createdPath: nil)
    }
}
