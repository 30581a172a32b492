import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// Where portreserve-cli may be, from this executable's own place: beside it (a build tree), in
/// `PREFIX/libexec/portreserve` for `PREFIX/sbin/portreserve` (make install, the packages), and
/// in /usr/libexec/portreserve.
func commandLineInterfaceCandidates(executable: String?) -> [String] {
    var candidates: [String] = []
    if let executable, executable.hasPrefix("/") {
        let directory = parentDirectory(of: executable)
        candidates.append(directory + "/portreserve-cli")
        candidates.append(parentDirectory(of: directory) + "/libexec/portreserve/portreserve-cli")
    }
    let installed = "/usr/libexec/portreserve/portreserve-cli"
    if !candidates.contains(installed) { candidates.append(installed) }  // PREFIX=/usr names it already
    return candidates
}

/// Replaces this process with portreserve-cli and the same arguments; returns an exit status
/// only when that cannot be done.
func runCommandLineInterface(_ arguments: ArraySlice<String>) -> Int32 {
    let candidates = commandLineInterfaceCandidates(executable: linkTarget("/proc/self/exe"))
    guard let path = candidates.first(where: { access($0, X_OK) == 0 }) else {
        writeAll("portreserve: cannot run portreserve-cli, which handles everything but running the daemon: not found at \(candidates.joined(separator: ", "))\n")
        return 69  // EX_UNAVAILABLE
    }
    let argv = (["portreserve"] + arguments).map { strdup($0) } + [nil]
    setenv("PORTRESERVE_HANDED_OVER", "1", 1)  // portreserve-cli never hands them back
    execv(path, argv)
    writeAll("portreserve: cannot run \(path): \(SystemError(call: "execv", errno: errno).reason)\n")
    return 69
}
