import Logging
import PortReserveCore
import PortReserveProtocol
import Systemd
import SystemdLogging

#if canImport(Glibc)
import Glibc
#endif

/// What the daemon is started with.
struct DaemonOptions: Equatable {
    var configDirectories: [String] = []
    var socketPath = Defaults.socketPath
    var stateDirectory: String?
    var descriptorStoreLimit = DaemonSettings.defaultDescriptorStoreLimit
    var debug = false

    /// The daemon's own options, `portreserve [run] [--config-dir DIR]... [--socket PATH]
    /// [--state-dir DIR] [--fd-store-max N] [-d|--debug]`, or nil for anything else (a subcommand, --help, an error),
    /// which portreserve-cli (ArgumentParser) then handles and explains.
    static func parse(_ arguments: ArraySlice<String>) -> DaemonOptions? {
        var options = DaemonOptions()
        var rest = arguments
        if rest.first == "run" { rest.removeFirst() }
        while let argument = rest.popFirst() {
            var name = argument, value: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            switch name {
            case "-d", "--debug":
                guard value == nil else { return nil }
                options.debug = true
            case "--fd-store-max":
                guard let given = value ?? rest.popFirst(), let limit = Int(given), limit >= 0 else { return nil }
                options.descriptorStoreLimit = limit
            case "--config-dir", "--socket", "--state-dir":
                guard let given = value ?? rest.popFirst(), !given.isEmpty, !given.hasPrefix("-") else { return nil }
                switch name {
                case "--config-dir": options.configDirectories.append(given)
                case "--socket": options.socketPath = given
                default: options.stateDirectory = given
                }
            default:
                return nil
            }
        }
        return options
    }
}

/// Runs the daemon to its end and returns the exit status.
func runDaemon(_ options: DaemonOptions) -> Int32 {
    var handler = JournalLogHandler(label: "portreserve")
    handler.logLevel = options.debug ? .debug : .info
    let logger = Logger(label: "portreserve") { _ in handler }
    do {
        let control = try DaemonStartup.controlSocket(path: options.socketPath, logger: logger)
        // A socket file we made goes with us, so clients see "no daemon" rather than a dead socket.
        defer { if let path = control.createdPath { ControlSocket.removeSocketFile(path) } }
        let directories = options.configDirectories.isEmpty ? ConfigurationLoader.defaultDirectories : options.configDirectories
        let daemon = Daemon(
            settings: DaemonSettings(
                configuration: ConfigurationLoader(directories: directories),
                state: StateDirectory(path: StateDirectory.path(given: options.stateDirectory, socketPath: options.socketPath)),
                descriptorStoreLimit: options.descriptorStoreLimit),
            serviceManager: SystemdServiceManager(logger: logger), logger: logger)
        let loop = try DaemonLoop(daemon: daemon, control: control.fd, stored: control.stored, logger: logger)
        return try loop.run()
    } catch {
        logger.critical("\(error)")
        return 1
    }
}
