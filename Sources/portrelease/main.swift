// portrelease runs in ExecStartPre= of every dependent service, so it starts as fast as a Swift
// program can: no argument-parsing library, no Foundation, no libsystemd; only the request
// protocol and its client.
import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

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
