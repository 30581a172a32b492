import ArgumentParser
import PortReserveConfiguration
import PortReserveCore
import PortReserveProtocol
import PortReserveReports
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

struct Portreserve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portreserve",
        abstract: "Hold well-known ports at boot until their services ask for them.",
        discussion: """
            Binds every port named in the configuration directories, then gives each service's ports up \
            when `portrelease NAME` asks, and keeps trying to hold what it could not. Under systemd the control \
            socket comes from portreserve.socket; without it the daemon creates it.
            """,
        version: Version.current,
        subcommands: [Run.self, Status.self, Check.self, Reclaim.self, Reload.self],
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
            socket) and prints one row per service, port, protocol and family with its state (held, retrying, \
            released; shared with other services) and since when, then a summary line. For a port not held, \
            it shows who has it now (process, pid, unit; every process when run as root), and TAKEN when a \
            released port is in use by a process outside the unit that released it. When no daemon \
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
            // Who has each port we do not hold, from /proc: complete when root asks.
            let report = published?.withOccupants() ?? StatusReport.wouldReserve(location.loader.load())
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
            one file and bad @ directives, then the unit each service hooks through portreserve-generator. \
            Exits 0 when the configuration is clean, 1 otherwise.
            """)

    @OptionGroup var location: Location

    func run() throws {
        let configuration = location.loader.load()
        let (defaults, defaultProblems) = HookDirectives.defaults(directories: location.loader.directories)
        let findings = ConfigurationCheck.findings(configuration, directories: location.loader.directories) + defaultProblems
        for finding in findings { print(finding) }
        // What portreserve-generator makes of each service, so no hook is a surprise.
        for service in configuration.services {
            let (units, reclaim) = service.hook.resolved(name: service.name, defaults: defaults)
            if units.isEmpty {
                print("\(service.name): not hooked (@hook no): its unit must run portrelease \(service.name) itself")
            } else {
                print("\(service.name): hooks \(units.joined(separator: " ")) (released before start\(reclaim ? ", reclaimed after stop" : ""))")
            }
        }
        if !findings.isEmpty { throw ExitCode.failure }
        let ports = Set(configuration.services.flatMap(\.ports)).count
        print("\(configuration.services.count) services, \(ports) ports: no problems")
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the daemon read its configuration again, and wait until it is in force (root only).",
        discussion: """
            What `systemctl reload portreserve` runs (ExecReload=): new services are reserved, services whose \
            files are gone are given up, unchanged reservations are never closed and opened again, and \
            released services stay released. It returns once the daemon has done all of it, which a SIGHUP \
            (still understood) cannot tell. Exits 0 once reloaded, printing the daemon's status line; 1 when \
            the request is refused; 2 on timeout; 3 when no daemon runs.
            """)

    @OptionGroup var location: Location

    @Option(help: ArgumentHelp("Seconds to wait for the daemon's answer.", valueName: "seconds"))
    var timeout: Double = 90

    func validate() throws {
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds, got \(timeout)") }
    }

    func run() throws {
        let client = ControlClient(socketPath: location.socketPath, timeoutSeconds: timeout)
        print(try answer(of: "reload", at: location.socketPath, timeout: timeout, noDaemon: ": nothing to reload") {
            try client.reload()
        })
    }
}

struct Reclaim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reserve a released service's ports again (root only), for ExecStopPost=.",
        discussion: """
            Once the real service has stopped, its ports are free, and an RPC service could take them before \
            it starts again. `ExecStopPost=-/usr/sbin/portreserve reclaim NAME` makes the daemon hold them \
            again and forget the release. What is still held stays held; a socket that cannot be bound now \
            (a connection of the stopped service in TIME_WAIT, another process on the port) is tried again \
            by the daemon until it is held. Exits 0 when every socket of every name is held, 1 when one is \
            not (each is named, with when it is tried again), when a name is unknown or the request is \
            refused, 2 on timeout, and 3 when no daemon runs.
            """)

    @OptionGroup var location: Location

    @Option(help: ArgumentHelp("Seconds to wait for the daemon's answer.", valueName: "seconds"))
    var timeout: Double = Defaults.releaseTimeoutSeconds

    @Option(help: ArgumentHelp("Wait up to this many seconds for the daemon's retries to hold every socket.",
                               discussion: "A TCP port whose last connections are in TIME_WAIT is free again within a minute. "
                                   + "A socket released for another service that names the same port is not waited for.",
                               valueName: "seconds"))
    var wait: Double = 0

    @Argument(help: ArgumentHelp("Service names, or * for all.", valueName: "name"))
    var names: [String]

    func validate() throws {
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds, got \(timeout)") }
        guard wait >= 0, wait <= 86_400 else { throw ValidationError("--wait must be between 0 and 86400 seconds, got \(wait)") }
        for name in names {
            if let why = RequestCodec.whyInvalid(name: name) { throw ValidationError(why) }
        }
    }

    func run() throws {
        let client = ControlClient(socketPath: location.socketPath, timeoutSeconds: timeout)
        let deadline = monotonicSeconds() + wait
        while true {
            let results = try answer(of: "reclaim", at: location.socketPath, timeout: timeout,
                                     noDaemon: " (portreserve.socket is not active and none runs): nothing holds the ports") {
                try client.reclaim(names)
            }
            let notHeld = results.flatMap { name, reply -> [(String, NotHeldSocket)] in
                guard case .reclaimed(_, let sockets) = reply else { return [] }
                return sockets.map { (name, $0) }
            }
            let unknown = results.filter { $0.1 == .unknown }.map(\.0)
            // Asking again is harmless (what is held stays held) and makes the daemon try at once.
            // Only a socket the daemon is retrying can come: one released for another service
            // that shares its port stays released, however long the wait.
            let remaining = deadline - monotonicSeconds()
            let retrying = notHeld.contains { $0.1.retryInSeconds != nil }
            if retrying && !notHeld.isEmpty && unknown.isEmpty && remaining > 0 {
                let soonest = notHeld.compactMap(\.1.retryInSeconds).min().map(Double.init) ?? 1
                sleepSeconds(min(remaining, max(0.25, min(soonest, 1))))
                continue
            }
            for name in unknown { writeAll("portreserve reclaim: \(name): no such service is configured\n") }
            for (name, socket) in notHeld {
                let when = socket.retryInSeconds.map { "; tried again in \($0) s" } ?? ""
                writeAll("portreserve reclaim: \(name): \(socket.slot) is not held (\(socket.reason))\(when)\n")
            }
            if !notHeld.isEmpty || !unknown.isEmpty { throw ExitCode.failure }
            return
        }
    }

    private func sleepSeconds(_ seconds: Double) {
        _ = poll(nil, 0, CInt(seconds * 1000))
    }
}

/// The daemon's answer to `command`, or the exit every control command gives without one: 3 when no
/// daemon runs (`noDaemon` ends the message with what that means for this command), 2 on timeout,
/// 1 when the request is rejected or refused or cannot be sent.
func answer<Answer>(
    of command: String, at socketPath: String, timeout: Double, noDaemon: String,
    _ request: () throws -> ControlOutcome<Answer>
) throws -> Answer {
    let outcome: ControlOutcome<Answer>
    do { outcome = try request() } catch { throw CommandFailure("portreserve \(command): \(error)") }
    switch outcome {
    case .answered(let answer): return answer
    case .noDaemon:
        writeAll("portreserve \(command): no daemon at \(socketPath)\(noDaemon)\n")
        throw ExitCode(3)
    case .timedOut:
        writeAll("portreserve \(command): the daemon at \(socketPath) did not answer within \(timeout) seconds\n")
        throw ExitCode(2)
    case .rejected(let message): throw CommandFailure("portreserve \(command): the daemon rejected the request: \(message)")
    case .refused(let why): throw CommandFailure("portreserve \(command): refused: \(why)")
    case .permissionDenied(let why): throw CommandFailure("portreserve \(command): \(why)")
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
