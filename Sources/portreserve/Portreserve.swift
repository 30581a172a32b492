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
        subcommands: [Run.self, Status.self, Check.self],
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

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the daemon holds (any user may ask).",
        discussion: """
            Prints one row per service, port, protocol and family with its state (held, conflict, failed, \
            released; shared with other services) and since when, then a summary line. When no daemon runs, \
            says so, shows what the configuration would reserve, and exits 3 (LSB "not running").
            """)

    @OptionGroup var location: Location

    @Flag(help: "Print JSON (schema version 1, described in the README) instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Seconds to wait for the daemon's answer.", valueName: "seconds"))
    var timeout: Double = Defaults.releaseTimeoutSeconds

    func run() throws {
        let outcome: ControlOutcome<[[UInt8]]>
        do { outcome = try ControlClient(socketPath: location.socketPath, timeoutSeconds: timeout).statusDatagrams() } catch {
            throw CommandFailure("portreserve status: \(error)")
        }
        switch outcome {
        case .noDaemon:
            let report = StatusReport.wouldReserve(location.loader.load())
            print(json ? report.json() : report.text(), terminator: "")
            throw ExitCode(3)
        case .timedOut:
            throw CommandFailure("portreserve status: the daemon at \(location.socketPath) did not answer within \(timeout) seconds")
        case .rejected(let message):
            throw CommandFailure("portreserve status: the daemon rejected the request: \(message)")
        case .answered(let datagrams):
            switch StatusReport.decode(datagrams) {
            case .success(let report): print(json ? report.json() : report.text(), terminator: "")
            case .failure(let error): throw CommandFailure("portreserve status: \(error)")
            }
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the configuration without touching any port.",
        discussion: """
            Prints every problem as FILE:LINE: message, including ports named by two services or twice in \
            one file. Exits 0 when the configuration is clean, 1 otherwise.
            """)

    @OptionGroup var location: Location

    func run() throws {
        let configuration = location.loader.load()
        let findings = ConfigurationCheck.findings(configuration)
        for finding in findings { print(finding) }
        if !findings.isEmpty { throw ExitCode.failure }
        let ports = Set(configuration.services.flatMap(\.ports)).count
        print("\(configuration.services.count) services, \(ports) ports: no problems")
    }
}

/// A failure whose message is the whole story: printed as it is, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
