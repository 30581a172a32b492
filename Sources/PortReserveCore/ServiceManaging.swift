import Logging
import Systemd

/// The daemon's view of its service manager, so tests can hand it a recorder and check exactly
/// what systemd would have been told.
public protocol ServiceManaging: AnyObject {
    func notify(_ messages: [NotifyMessage])
}

/// The real one: `sd_notify` through the Systemd module. A failure to notify is logged, never fatal:
/// the reservations matter more than the status line.
public final class SystemdServiceManager: ServiceManaging {
    private let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func notify(_ messages: [NotifyMessage]) {
        do { try ServiceManager.notify(messages) } catch {
            logger.warning("cannot notify the service manager: \(error)")
        }
    }
}
