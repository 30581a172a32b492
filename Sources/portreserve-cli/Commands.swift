import ArgumentParser
import Logging
import PortReserveCore
import SystemCalls
import Systemd

#if canImport(Glibc)
import Glibc
#endif

struct Portreserve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portreserve",
        abstract: "Hold well-known ports at boot until their services ask for them.",
        discussion: """
            Binds every port named in the configuration directories, then gives each service's ports up \
            when `portrelease NAME` asks. Exits once everything is released. Under systemd the control \
            socket comes from portreserve.socket; without it the daemon creates it.
            """,
        version: Version.current,
        subcommands: [Run.self, Status.self, Check.self, Reclaim.self],
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

    @Option(name: .customLong("fd-store-max"),
            help: ArgumentHelp("The most sockets copied into systemd's descriptor store (0: none).",
                               discussion: """
                                   Default: \(DaemonSettings.defaultDescriptorStoreLimit). Stored sockets keep their ports \
                                   held across a restart; systemd's cost of storing grows with the square of the count. \
                                   Keep the unit's FileDescriptorStoreMax= at least this.
                                   """,
                               valueName: "n"))
    var descriptorStoreLimit: Int = DaemonSettings.defaultDescriptorStoreLimit

    @Flag(name: [.customShort("d"), .long], help: "Stay in the foreground and log more (the original's -d).")
    var debug = false

    func validate() throws {
        guard descriptorStoreLimit >= 0 else { throw ValidationError("--fd-store-max must be 0 or more") }
    }

    /// `portreserve` runs the daemon itself whenever its own parser accepts the options, and
    /// hands everything else here. So this is reached either for what that parser refused and
    /// ArgumentParser did not (an empty value), or when portreserve-cli was run by hand, where it
    /// does what `portreserve` would: it runs the daemon, the program beside it or in sbin.
    func run() throws {
        if environmentValue(handedOverVariable) != nil {
            throw ValidationError("the daemon cannot start with these options: \(CommandLine.arguments.dropFirst().joined(separator: " "))")
        }
        let candidates = daemonCandidates(executable: linkTarget("/proc/self/exe"))
        guard let path = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw CommandFailure("portreserve-cli runs portreserve's commands; the daemon itself is portreserve, "
                + "which was not found at \(candidates.joined(separator: ", "))")
        }
        let argv = (["portreserve"] + CommandLine.arguments.dropFirst()).map { strdup($0) } + [nil]
        execv(path, argv)
        throw CommandFailure("portreserve-cli: cannot run \(path): \(SystemError(call: "execv", errno: errno).reason)")
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the daemon holds (any user may read it).",
        discussion: """
            Reads the status the daemon publishes in its state directory (nobody needs to reach the control \
            socket) and prints one row per service, port, protocol and family with its state (held, conflict, \
            failed, released; shared with other services) and since when, then a summary line. When no daemon \
            runs, says so, shows what it last published (or what the configuration would reserve), and exits 3 \
            (LSB "not running").
            """)

    @OptionGroup var location: Location

    @Option(name: .customLong("state-dir"),
            help: ArgumentHelp("Where the daemon publishes its status.",
                               discussion: "Default: state beside the control socket (/run/portreserve/state).",
                               valueName: "dir"))
    var stateDirectory: String?

    @Flag(help: "Print JSON (schema version 1, described in the README) instead of a table.")
    var json = false

    func run() throws {
        let directory = stateDirectory ?? StateDirectory.path(given: nil, socketPath: location.socketPath, runtimeDirectory: nil)
        switch StatusReport.read(stateDirectory: directory) {
        case .failure(let error):
            throw CommandFailure("portreserve status: \(error)")
        case .success(let published):
            let report = published ?? StatusReport.wouldReserve(location.loader.load())
            print(json ? report.json() : report.text(), terminator: "")
            if !report.running { throw ExitCode(3) }
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
        let findings = ConfigurationCheck.findings(configuration, directories: location.loader.directories)
        for finding in findings { print(finding) }
        if !findings.isEmpty { throw ExitCode.failure }
        let ports = Set(configuration.services.flatMap(\.ports)).count
        print("\(configuration.services.count) services, \(ports) ports: no problems")
    }
}

struct Reclaim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reserve a released service's ports again (root only), for ExecStopPost=.",
        discussion: """
            Once the real service has stopped, its ports are free, and an RPC service could take them before \
            it starts again. `ExecStopPost=/usr/sbin/portreserve reclaim NAME` makes the daemon (started \
            again by socket activation if it had exited) hold them again and forget the release. Exits 0 \
            when done or when no daemon runs, 1 when refused or when a port could not be held, 2 on timeout.
            """)

    @OptionGroup var location: Location

    @Option(help: ArgumentHelp("Seconds to wait for the daemon's answer.", valueName: "seconds"))
    var timeout: Double = Defaults.releaseTimeoutSeconds

    @Argument(help: ArgumentHelp("Service names, or * for all.", valueName: "name"))
    var names: [String]

    func validate() throws {
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds, got \(timeout)") }
        for name in names {
            if let why = RequestCodec.whyInvalid(name: name) { throw ValidationError(why) }
        }
    }

    func run() throws {
        let outcome: ControlOutcome<[(String, ReleaseReply)]>
        do { outcome = try ControlClient(socketPath: location.socketPath, timeoutSeconds: timeout).reclaim(names) } catch {
            throw CommandFailure("portreserve reclaim: \(error)")
        }
        switch outcome {
        case .noDaemon:
            return  // nothing runs to hold the ports; the next boot reserves them anyway
        case .timedOut:
            writeAll("portreserve reclaim: the daemon at \(location.socketPath) did not answer within \(timeout) seconds\n")
            throw ExitCode(2)
        case .rejected(let message):
            throw CommandFailure("portreserve reclaim: the daemon rejected the request: \(message)")
        case .refused(let why):
            throw CommandFailure("portreserve reclaim: refused: \(why)")
        case .permissionDenied(let why):
            throw CommandFailure("portreserve reclaim: \(why)")
        case .answered(let results):
            var failed = false
            for (name, reply) in results {
                switch reply {
                case .reclaimed(_, let notHeld) where !notHeld.isEmpty:
                    failed = true
                    writeAll("portreserve reclaim: \(name): could not hold \(notHeld.map(\.description).joined(separator: " ")): still in use\n")
                case .unknown:
                    writeAll("portreserve reclaim: \(name): no such service is configured\n")
                default: break
                }
            }
            if failed { throw ExitCode.failure }
        }
    }
}

/// A failure whose message is the whole story: printed as it is, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Set by `portreserve` when it hands its arguments here, so that arguments its own parser
/// refused are never handed back to it.
let handedOverVariable = "PORTRESERVE_HANDED_OVER"

/// Where the daemon may be, from portreserve-cli's own place: beside it (a build tree), in
/// `PREFIX/sbin` for `PREFIX/libexec/portreserve/portreserve-cli`, and in /usr/sbin.
func daemonCandidates(executable: String?) -> [String] {
    var candidates: [String] = []
    if let executable, executable.hasPrefix("/") {
        let directory = parentDirectory(of: executable)
        candidates.append(directory + "/portreserve")
        candidates.append(parentDirectory(of: parentDirectory(of: directory)) + "/sbin/portreserve")
    }
    if !candidates.contains("/usr/sbin/portreserve") { candidates.append("/usr/sbin/portreserve") }
    return candidates
}
