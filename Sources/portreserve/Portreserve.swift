import ArgumentParser
import Logging
import PortReserveCore
import Systemd

#if canImport(Glibc)
import Glibc
#endif

@main
struct Portreserve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portreserve",
        abstract: "Hold well-known ports at boot until their services ask for them.",
        discussion: """
            Binds every port named in the configuration directories, then gives each service's ports up \
            when `portrelease NAME` asks. Exits once everything is released. Under systemd the control \
            socket comes from portreserve.socket; without it the daemon creates it.
            """,
        subcommands: [Run.self],
        defaultSubcommand: Run.self
    )
}

/// The options every subcommand shares: where the configuration and the control socket are.
struct Location: ParsableArguments {
    @Option(name: .customLong("config-dir"),
            help: ArgumentHelp("A configuration directory; repeat for several, the first wins on a name clash.",
                               discussion: "Default: /etc/portreserve, then /usr/lib/portreserve.", valueName: "dir"))
    var configDirectories: [String] = []

    @Option(name: .customLong("socket"), help: ArgumentHelp("The control socket.", valueName: "path"))
    var socketPath: String = Defaults.socketPath

    var loader: ConfigurationLoader {
        ConfigurationLoader(directories: configDirectories.isEmpty ? ConfigurationLoader.defaultDirectories : configDirectories)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon in the foreground (the default).")

    @OptionGroup var location: Location

    @Option(name: .customLong("state-dir"),
            help: ArgumentHelp("Where the record of released services is kept (it must not survive a reboot).",
                               discussion: "Default: $RUNTIME_DIRECTORY under systemd, else the socket's directory.",
                               valueName: "dir"))
    var stateDirectory: String?

    @Flag(name: [.customShort("d"), .long], help: "Stay in the foreground and log more (the original's -d).")
    var debug = false

    func run() throws {
        var handler = JournalLogHandler(label: "portreserve")
        handler.logLevel = debug ? .debug : .info
        let logger = Logger(label: "portreserve") { _ in handler }
        do {
            let control = try DaemonStartup.controlSocket(path: location.socketPath, logger: logger)
            // A socket file we made goes with us, so clients see "no daemon" rather than a dead socket.
            defer { if let path = control.createdPath { unlink(path) } }
            let daemon = Daemon(
                settings: DaemonSettings(
                    configuration: location.loader, releasedRecord: ReleasedRecord(stateDirectory: stateDirectory, socketPath: location.socketPath)),
                serviceManager: SystemdServiceManager(logger: logger), logger: logger)
            let loop = try DaemonLoop(daemon: daemon, control: control.fd, logger: logger)
            throw ExitCode(try loop.run())
        } catch let exit as ExitCode {
            throw exit
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
    }
}
