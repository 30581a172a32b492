/// One line of a configuration file that names ports.
public struct ConfiguredEntry: Equatable, Sendable {
    /// 1-based, as editors count.
    public let line: Int
    /// The line as written, without surrounding whitespace and comment.
    public let text: String
    public let ports: [PortKey]
}

/// One file of the configuration: the file's name is the service name `portrelease` uses.
public struct ServiceConfiguration: Equatable, Sendable {
    public let name: String
    public let file: String
    public let entries: [ConfiguredEntry]
    /// Every port the service reserves, each once, in order. Stored: start-up reads it several
    /// times per service.
    public let ports: [PortKey]

    public init(name: String, file: String, entries: [ConfiguredEntry]) {
        self.name = name
        self.file = file
        self.entries = entries
        if entries.count == 1 {
            self.ports = entries[0].ports  // one line never names a port twice; no set to build
        } else {
            var seen = Set<PortKey>()
            self.ports = entries.flatMap(\.ports).filter { seen.insert($0).inserted }
        }
    }
}

/// A problem in the configuration, reported as `FILE:LINE: message` (or `FILE: message` for the
/// whole file) and skipped: the rest of the configuration still counts.
public struct ConfigurationProblem: Equatable, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let message: String

    /// The file name escaped (`printable`): a name with a newline or bytes that are not UTF-8
    /// still reads as one `FILE:LINE:` prefix.
    public var description: String {
        line.map { "\(printable(file)):\($0): \(message)" } ?? "\(printable(file)): \(message)"
    }
}

/// What the configuration directories say, after overrides and masks.
public struct Configuration: Equatable, Sendable {
    /// Sorted by name.
    public let services: [ServiceConfiguration]
    public let problems: [ConfigurationProblem]
}

/// Reads the configuration directories with the original's rules (a file per service, names with
/// `.` or `~` ignored) and the drop-in rules of tmpfiles.d: the first directory that has a name
/// wins, and an empty file or a link to /dev/null there masks the others.
public struct ConfigurationLoader: Sendable {
    /// The administrator's directory, then the vendor's.
    public static let defaultDirectories = ["/etc/portreserve", "/usr/lib/portreserve"]

    public let directories: [String]
    public let servicesDatabase: ServicesDatabase

    public init(directories: [String] = defaultDirectories, servicesDatabase: ServicesDatabase = .system) {
        self.directories = directories
        self.servicesDatabase = servicesDatabase
    }

    public func load() -> Configuration { load(interrupted: { false })! }

    /// How many lines are parsed between two looks at `interrupted`: a look is a poll(2).
    static let linesBetweenInterruptChecks = 4096

    /// The configuration, or nil when `interrupted` answered true (it is asked before each file
    /// and every few thousand lines): a daemon told to stop while reading megabytes of junk stops.
    public func load(interrupted: () -> Bool) -> Configuration? {
        var problems: [ConfigurationProblem] = []
        // Service name and file path, first directory wins. Each directory's names come sorted, so
        // only names from several directories need sorting again.
        var chosen: [(name: String, path: String)] = []
        var seen = Set<String>()
        var directoriesWithNames = 0
        for directory in directories {
            let names: [String]
            switch ConfigurationFiles.list(directory) {
            case .success(let listed):
                names = listed.names
                for name in listed.undecodable {
                    problems.append(ConfigurationProblem(
                        file: directory, line: nil,
                        message: "ignored \"\(printable(bytes: name))\": a service name must be valid UTF-8"))
                }
            case .failure(let error):
                problems.append(ConfigurationProblem(file: directory, line: nil, message: "cannot read directory: \(error.reason)"))
                continue
            }
            if !names.isEmpty { directoriesWithNames += 1 }
            for name in names where !seen.contains(name) {
                let path = directory + "/" + name
                if let why = Self.unusableName(name) {
                    problems.append(ConfigurationProblem(file: path, line: nil, message: why))
                    continue
                }
                seen.insert(name)
                chosen.append((name, path))
            }
        }
        if directoriesWithNames > 1 { chosen.sort { $0.name < $1.name } }
        var services: [ServiceConfiguration] = []
        let database = servicesDatabase.snapshot()
        var linesSinceCheck = 0
        for (name, path) in chosen {
            if interrupted() { return nil }
            switch ConfigurationFiles.read(path) {
            case .masked:
                continue
            case .unreadable(let message):
                problems.append(ConfigurationProblem(file: path, line: nil, message: message))
            case .contents(let bytes):
                guard let (entries, lineProblems) = parse(bytes, file: path, database: database, linesSinceCheck: &linesSinceCheck,
                                                          interrupted: interrupted) else { return nil }
                problems += lineProblems
                services.append(ServiceConfiguration(name: name, file: path, entries: entries))
            }
        }
        return Configuration(services: services, problems: problems)
    }

    /// The entries of one file, and a problem for each line that names no port.
    public func parse(_ bytes: [UInt8], file: String) -> ([ConfiguredEntry], [ConfigurationProblem]) {
        var lines = 0
        return parse(bytes, file: file, database: servicesDatabase, linesSinceCheck: &lines, interrupted: { false })!
    }

    private func parse(_ bytes: [UInt8], file: String, database: ServicesDatabase, linesSinceCheck: inout Int,
                       interrupted: () -> Bool) -> ([ConfiguredEntry], [ConfigurationProblem])? {
        var entries: [ConfiguredEntry] = []
        var problems: [ConfigurationProblem] = []
        var lineNumber = 0
        for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            linesSinceCheck += 1
            if linesSinceCheck >= Self.linesBetweenInterruptChecks {
                linesSinceCheck = 0
                if interrupted() { return nil }
            }
            switch EntryParser.parse(bytes: rawLine, servicesDatabase: database) {
            case nil:
                problems.append(ConfigurationProblem(file: file, line: lineNumber, message: "not valid UTF-8"))
            case .blank: continue
            case .ports(let text, let ports): entries.append(ConfiguredEntry(line: lineNumber, text: text, ports: ports))
            case .invalid(let message): problems.append(ConfigurationProblem(file: file, line: lineNumber, message: message))
            }
        }
        return (entries, problems)
    }

    /// Why a file name cannot be a service name, or nil when it can. Names with `.` or `~` never
    /// get here: they are backups and packaging leftovers, ignored as the original did.
    static func unusableName(_ name: String) -> String? {
        if name == "*" { return "ignored: \"*\" means every service in a release request" }
        if name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return nil }  // printable ASCII: the usual case
        if name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            return "ignored: a service name cannot contain spaces or control characters"
        }
        return nil
    }
}
