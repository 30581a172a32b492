// The release itself: one request to the daemon, and an exit status that says how it went.
import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

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
    case .refused(let why):
        say("portrelease: refused: \(why)")
        return 1
    case .permissionDenied(let why):
        say("portrelease: \(why); run it as root (in a unit's ExecStartPre=, prefix the command with + when the unit has User=)")
        return 1
    case .answered(let results):
        for (name, reply) in results {
            switch reply {
            case .released(let ports):
                if options.verbose { say("\(name): released \(ports.map(\.description).joined(separator: " "))") }
            case .alreadyReleased:
                if options.verbose { say("\(name): already released") }
            case .unknown:
                if options.verbose { say("\(name): nothing is reserved under this name") }
            }
        }
        return 0
    }
}
