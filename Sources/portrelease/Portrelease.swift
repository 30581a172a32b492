import ArgumentParser
import PortReserveCore
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

@main
struct Portrelease: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portrelease",
        abstract: "Release the ports portreserve holds for services, and wait until they are free.",
        discussion: """
            Meant for ExecStartPre= of the service that needs the port. Exits 0 when the ports were released, \
            were not reserved, or no daemon runs; 1 when the daemon refused or rejected the request; \
            2 when a daemon is there but did not answer in time.
            """
    )

    @Option(help: ArgumentHelp("Seconds to wait for the daemon's answer.", valueName: "seconds"))
    var timeout: Double = Defaults.releaseTimeoutSeconds

    @Option(name: .customLong("socket"), help: ArgumentHelp("The control socket.", valueName: "path"))
    var socketPath: String = Defaults.socketPath

    @Flag(name: .shortAndLong, help: "Print nothing, not even errors; the exit status tells.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Print what happened to each name.")
    var verbose = false

    @Argument(help: ArgumentHelp("Service names (file names in /etc/portreserve), or * for all.", valueName: "name"))
    var names: [String]

    func validate() throws {
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds, got \(timeout)") }
        guard !names.isEmpty else { throw ValidationError("name at least one service to release") }
        for name in names {
            if let why = RequestCodec.whyInvalid(name: name) { throw ValidationError(why) }
        }
    }

    func run() throws {
        let outcome: ControlOutcome<[(String, ReleaseReply)]>
        do { outcome = try ControlClient(socketPath: socketPath, timeoutSeconds: timeout).release(names) } catch {
            say("portrelease: \(error)")
            throw ExitCode.failure
        }
        switch outcome {
        case .noDaemon:
            if verbose { say("portrelease: no portreserve daemon at \(socketPath): nothing to release") }
        case .timedOut:
            say("portrelease: the daemon at \(socketPath) did not answer within \(timeout) seconds")
            throw ExitCode(2)
        case .rejected(let message):
            say("portrelease: the daemon rejected the request: \(message)")
            throw ExitCode.failure
        case .answered(let results):
            var refused = false
            for (name, reply) in results {
                switch reply {
                case .released(let ports):
                    if verbose { say("\(name): released \(ports.map(\.description).joined(separator: " "))") }
                case .alreadyReleased:
                    if verbose { say("\(name): already released") }
                case .unknown:
                    if verbose { say("\(name): nothing is reserved under this name") }
                case .reclaimed:
                    break  // a daemon never answers a release this way
                case .refused(let why):
                    refused = true
                    say("portrelease: \(name): refused: \(why)")
                }
            }
            if refused { throw ExitCode.failure }
        }
    }

    private func say(_ line: String) {
        if !quiet || verbose { writeAll(line + "\n") }
    }
}
