// portreserve-generator: a systemd generator (systemd.generator(7)). At boot and at every
// daemon-reload it reads the configuration the daemon reads and, for each configured service,
// writes the drop-in that hooks its unit into the directory it is given. It never fails the boot:
// a bad file is reported on stderr (which systemd sends to the journal) and skipped.
import PortReserveConfiguration
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
// systemd passes three directories (normal, early, late); one is enough. The normal one is
// below /etc in priority, so an administrator's drop-in of the same name replaces ours.
guard arguments.count == 2 || arguments.count == 4, arguments[1].hasPrefix("/") else {
    writeAll("usage: portreserve-generator NORMAL_DIR [EARLY_DIR LATE_DIR] (run by systemd, see systemd.generator(7))\n")
    exit(1)
}
let output = arguments[1]
// For tests and for a staged root: other configuration directories and install prefix.
let directories = environmentValue("PORTRESERVE_CONFIG_DIRS").map { $0.split(separator: ":").map(String.init) }
    ?? ["/etc/portreserve", "/usr/lib/portreserve"]
// Where portrelease is: /usr/sbin for a package, /usr/local/sbin for `make install PREFIX=/usr/local`.
// (A /usr not mounted yet has neither: /usr/sbin it is, as for a package.)
let installed: String? = ["/usr/sbin", "/usr/local/sbin"].first { access($0 + "/portrelease", X_OK) == 0 }
let sbin: String = environmentValue("PORTRESERVE_SBINDIR") ?? installed ?? "/usr/sbin"

func report(_ problem: ConfigurationProblem) {
    writeAll("portreserve-generator: \(problem) (skipped)\n")
}

let (files, layering) = ConfigurationFiles.layered(directories)
layering.forEach(report)
let (defaults, defaultProblems) = HookDirectives.defaults(directories: directories)
defaultProblems.forEach(report)
for (name, path) in files {
    let bytes: [UInt8]
    switch ConfigurationFiles.read(path) {
    case .masked: continue
    case .unreadable(let message):
        report(ConfigurationProblem(file: path, line: nil, message: message))
        continue
    case .contents(let contents): bytes = contents
    }
    let (plan, problems) = HookDirectives.plan(in: bytes, file: path)
    problems.forEach(report)
    let (units, reclaim) = plan.resolved(name: name, defaults: defaults)
    // A service name no unit name can carry is not hooked: the daemon still reserves it.
    if plan.units.isEmpty, let why = HookDirectives.whyInvalidUnit(Substring(name + ".service")) {
        report(ConfigurationProblem(file: path, line: nil, message: "not hooked: \(why); name its unit with @unit"))
        continue
    }
    for unit in units {
        let directory = output + "/" + unit + ".d"
        let text = HookDirectives.dropIn(service: name, unit: unit, file: path, reclaim: reclaim, sbin: sbin)
        do {
            try makeDirectories(directory)
            let fd = try openDirectory(directory)
            defer { closeDescriptor(fd) }
            try replaceOwnFile(fd, HookDirectives.dropInName(service: name), Array(text.utf8), mode: 0o644,
                               subject: directory + "/" + HookDirectives.dropInName(service: name))
        } catch {
            writeAll("portreserve-generator: cannot hook \(unit) for \(name): \(error)\n")
        }
    }
}
exit(0)
