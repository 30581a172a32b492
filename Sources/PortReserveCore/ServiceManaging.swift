import Logging
import SystemCalls
import SystemPackage
import Systemd

/// The daemon's view of its service manager, so tests can hand it a recorder and check exactly
/// what systemd would have been told.
public protocol ServiceManaging: AnyObject {
    /// Whether a service manager receives notifications at all; without one, there is no store to fill.
    var isListening: Bool { get }
    /// Sends `messages`, with `descriptors` for the descriptor store.
    func notify(_ messages: [NotifyMessage], descriptors: [CInt])
    /// Returns once the manager has processed everything sent before.
    func barrier()
}

extension ServiceManaging {
    public func notify(_ messages: [NotifyMessage]) { notify(messages, descriptors: []) }
}

/// The real one: `sd_notify` through the Systemd module. A failure to notify is logged, never fatal:
/// the reservations matter more than the status line.
public final class SystemdServiceManager: ServiceManaging {
    private let logger: Logger
    public let isListening: Bool

    public init(logger: Logger) {
        self.logger = logger
        self.isListening = environmentValue("NOTIFY_SOCKET") != nil
    }

    public func notify(_ messages: [NotifyMessage], descriptors: [CInt]) {
        do { try ServiceManager.notify(messages, descriptors: descriptors.map(FileDescriptor.init(rawValue:))) } catch {
            logger.warning("cannot notify the service manager: \(error)")
        }
    }

    public func barrier() {
        do { try ServiceManager.barrier() } catch {
            logger.warning("the service manager did not confirm the descriptor store changes: \(error)")
        }
    }
}
