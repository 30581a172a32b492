// A helper the Systemd tests run in the situations they cannot create inside the test process:
// under systemd-socket-activate, and with a journal socket of the test's own. It prints what the
// wrapper reports, one fact per line, for the test to compare.
import Logging
import SystemCalls
import Systemd
import SystemdLogging

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments.dropFirst()

func report(_ line: String) {
    print(line)
    fflush(nil)
}

switch arguments.first {
case "activation":
    // activation [all | single [PATH]]
    let mode = arguments.dropFirst().first ?? "all"
    if mode == "single" {
        let path = arguments.dropFirst(2).first
        do {
            let descriptor = try SocketActivation.single(.unixDatagram(path: path))
            report("single fd=\(descriptor.fd.rawValue) name=\(descriptor.name) kind=\(descriptor.kind)")
        } catch {
            report("error: \(error)")
        }
    } else {
        do {
            for descriptor in try SocketActivation.descriptors() {
                let cloexec = fcntl(descriptor.fd.rawValue, F_GETFD) & FD_CLOEXEC != 0
                report("fd=\(descriptor.fd.rawValue) name=\(descriptor.name) kind=\(descriptor.kind) cloexec=\(cloexec)")
            }
        } catch {
            report("error: \(error)")
        }
    }
    for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
        report("\(name)=\(environmentValue(name) ?? "<unset>")")
    }
case "journal":
    // Sends two entries straight through sd_journal_sendv.
    var entry = JournalEntry(message: "first line\nsecond line", priority: .warning)
    try! entry.append("PROBE_PLAIN", "plain value")
    try! entry.append(JournalField("PROBE_BINARY", bytes: [0x61, 0x00, 0x62, 0x0A, 0xFF]))
    try! entry.append("PROBE_REPEATED", "one")
    try! entry.append("PROBE_REPEATED", "two")
    do {
        try Journal.send(entry)
        report("sent")
    } catch {
        report("error: \(error)")
    }
case "log":
    // Logs one warning through the handler, which decides by itself where it goes.
    let handler = JournalLogHandler(label: "systemd-probe")
    report("destination=\(handler.destination)")
    let logger = Logger(label: "systemd-probe") { _ in handler }
    logger.warning("conflict on port 631", metadata: ["probe.port": "631", "probe_families": ["ipv4", "ipv6"]])
default:
    report("usage: systemd-probe activation [all|single [PATH]] | journal | log")
    exit(2)
}
