// portrelease runs in ExecStartPre= of every dependent service, so it starts as fast as a Swift
// program can: no argument-parsing library, no Foundation, no libsystemd; only the request
// protocol and its client.
import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

let usage = """
    usage: portrelease [--timeout <seconds>] [--socket <path>] [--quiet] [--verbose] <name> ...

    Release the ports portreserve holds for services, and wait until they are free.

    Meant for ExecStartPre= of the service that needs the port. Exits 0 when the ports were released,
    were not reserved, or no daemon runs; 1 when the daemon refused or rejected the request; 2 when a
    daemon is there but did not answer in time; 64 on bad arguments.

    ARGUMENTS:
      <name>                  Service names (file names in /etc/portreserve), or * for all.

    OPTIONS:
      --timeout <seconds>     Seconds to wait for the daemon's answer. (default: 5.0)
      --socket <path>         The control socket. (default: /run/portreserve/socket)
      -q, --quiet             Print nothing, not even errors; the exit status tells.
      -v, --verbose           Print what happened to each name.
      -h, --help              Show help information.

    """

struct Options {
    var timeout = Defaults.releaseTimeoutSeconds
    var socketPath = Defaults.socketPath
    var quiet = false
    var verbose = false
    var names: [String] = []
}

/// Parses the command line; a message means a usage error.
func parse(_ arguments: ArraySlice<String>) -> Result<Options, UsageError> {
    var options = Options()
    var rest = arguments
    var onlyNames = false
    while let argument = rest.popFirst() {
        if onlyNames || !argument.hasPrefix("-") || argument == "-" {
            options.names.append(argument)
            continue
        }
        var name = argument, inlineValue: String?
        if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
            name = String(argument[..<equals])
            inlineValue = String(argument[argument.index(after: equals)...])
        }
        func value() -> String? { inlineValue ?? rest.popFirst() }
        switch name {
        case "--": onlyNames = true
        case "-h", "--help": return .failure(UsageError(message: nil))
        case "-q", "--quiet": options.quiet = true
        case "-v", "--verbose": options.verbose = true
        case "--socket":
            guard let path = value() else { return .failure(UsageError(message: "Missing value for '--socket <path>'")) }
            options.socketPath = path
        case "--timeout":
            guard let text = value() else { return .failure(UsageError(message: "Missing value for '--timeout <seconds>'")) }
            guard let seconds = Double(text) else {
                return .failure(UsageError(message: "The value '\(text)' is invalid for '--timeout <seconds>'"))
            }
            guard seconds > 0, seconds <= 86_400 else {
                return .failure(UsageError(message: "--timeout must be between 0 and 86400 seconds, got \(seconds)"))
            }
            options.timeout = seconds
        default:
            return .failure(UsageError(message: "Unknown option '\(argument)'"))
        }
    }
    if options.names.isEmpty { return .failure(UsageError(message: "Missing expected argument '<name> ...'")) }
    for name in options.names {
        if let why = RequestCodec.whyInvalid(name: name) { return .failure(UsageError(message: why)) }
    }
    return .success(options)
}

struct UsageError: Error {
    /// nil: help was asked for.
    let message: String?
}

func release(_ options: Options) -> Int32 {
    func say(_ line: String) { if !options.quiet || options.verbose { writeAll(line + "\n") } }
    let outcome: ControlOutcome<[(String, ReleaseReply)]>
    do { outcome = try ControlClient(socketPath: options.socketPath, timeoutSeconds: options.timeout).release(options.names) } catch {
        say("portrelease: \(error)")
        return 1
    }
    switch outcome {
    case .noDaemon:
        if options.verbose { say("portrelease: no portreserve daemon at \(options.socketPath): nothing to release") }
        return 0
    case .timedOut:
        say("portrelease: the daemon at \(options.socketPath) did not answer within \(options.timeout) seconds")
        return 2
    case .rejected(let message):
        say("portrelease: the daemon rejected the request: \(message)")
        return 1
    case .answered(let results):
        var status: Int32 = 0
        for (name, reply) in results {
            switch reply {
            case .released(let ports):
                if options.verbose { say("\(name): released \(ports.map(\.description).joined(separator: " "))") }
            case .alreadyReleased:
                if options.verbose { say("\(name): already released") }
            case .unknown:
                if options.verbose { say("\(name): nothing is reserved under this name") }
            case .reclaimed:
                break  // a daemon never answers a release this way
            case .refused(let why):
                status = 1
                say("portrelease: \(name): refused: \(why)")
            }
        }
        return status
    }
}

switch parse(CommandLine.arguments.dropFirst()) {
case .success(let options):
    exit(release(options))
case .failure(let error):
    if let message = error.message {
        writeAll("Error: \(message)\nUsage: portrelease [--timeout <seconds>] [--socket <path>] [--quiet] [--verbose] <name> ...\n  See 'portrelease --help' for more information.\n")
        exit(64)
    }
    writeAll(usage, to: 1)
    exit(0)
}
