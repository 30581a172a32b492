// The command line, read by a small parser of its own: no argument-parsing library to load.
import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

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
        case "--generate-completion-script":
            guard let shell = value(), let script = completionScript(for: shell) else {
                return .failure(UsageError(message: "--generate-completion-script takes bash, zsh or fish"))
            }
            writeAll(script, to: 1)
            exit(0)
        case "-h", "--help": return .failure(UsageError(message: nil))
        case "--version":
            writeAll(Version.current + "\n", to: 1)
            exit(0)
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
