import PortReserveConfiguration
import PortReserveProtocol

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
    /// How portreserve-generator hooks its units (the file's `@` directives).
    public let hook: HookPlan
    /// Every port the service reserves, each once, in order. Stored: start-up reads it several
    /// times per service.
    public let ports: [PortKey]

    public init(name: String, file: String, entries: [ConfiguredEntry], hook: HookPlan = HookPlan()) {
        self.name = name
        self.file = file
        self.entries = entries
        self.hook = hook
        if entries.count == 1 {
            self.ports = entries[0].ports  // one line never names a port twice; no set to build
        } else {
            var seen = Set<PortKey>()
            self.ports = entries.flatMap(\.ports).filter { seen.insert($0).inserted }
        }
    }
}

/// What the configuration directories say, after overrides and masks.
public struct Configuration: Equatable, Sendable {
    /// Sorted by name.
    public let services: [ServiceConfiguration]
    public let problems: [ConfigurationProblem]
    /// The services whose file is there but could not be read, with its path: what they reserve
    /// now is unknown, so a reload keeps what they had.
    public let unreadable: [String: String]

    public init(services: [ServiceConfiguration], problems: [ConfigurationProblem], unreadable: [String: String] = [:]) {
        self.services = services
        self.problems = problems
        self.unreadable = unreadable
    }
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
        let (chosen, layering) = ConfigurationFiles.layered(directories)
        var problems = layering
        var services: [ServiceConfiguration] = []
        var unreadable: [String: String] = [:]
        let database = servicesDatabase.snapshot()
        var linesSinceCheck = 0
        for (name, path) in chosen {
            if interrupted() { return nil }
            switch ConfigurationFiles.read(path) {
            case .masked:
                continue
            case .unreadable(let message):
                problems.append(ConfigurationProblem(file: path, line: nil, message: message))
                unreadable[name] = path
            case .contents(let bytes):
                guard let (entries, hook, lineProblems) = parse(bytes, file: path, database: database, linesSinceCheck: &linesSinceCheck,
                                                                interrupted: interrupted) else { return nil }
                problems += lineProblems
                services.append(ServiceConfiguration(name: name, file: path, entries: entries, hook: hook))
            }
        }
        return Configuration(services: services, problems: problems, unreadable: unreadable)
    }

    /// The entries of one file, and a problem for each line that names no port: for the tests and
    /// the fuzzer, which feed bytes without a file.
    func parse(_ bytes: [UInt8], file: String) -> ([ConfiguredEntry], [ConfigurationProblem]) {
        var lines = 0
        let (entries, _, problems) = parse(bytes, file: file, database: servicesDatabase, linesSinceCheck: &lines, interrupted: { false })!
        return (entries, problems)
    }

    private func parse(_ bytes: [UInt8], file: String, database: ServicesDatabase, linesSinceCheck: inout Int,
                       interrupted: () -> Bool) -> ([ConfiguredEntry], HookPlan, [ConfigurationProblem])? {
        var entries: [ConfiguredEntry] = []
        var hook = HookPlan()
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
            case .directive(let text):
                if let why = HookDirectives.apply(text, to: &hook) {
                    problems.append(ConfigurationProblem(file: file, line: lineNumber, message: why))
                }
            case .invalid(let message): problems.append(ConfigurationProblem(file: file, line: lineNumber, message: message))
            }
        }
        return (entries, hook, problems)
    }
}
