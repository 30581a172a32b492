import PortReserveProtocol
import SystemCalls

/// How `portreserve-generator` hooks a configured service's units, from the directive lines of
/// its file. A directive starts with `@`, which no line of the C daemon's format ever did (it was
/// a service name, a port, or a comment), and which the original would have rejected, so no old
/// file turns one on by accident:
///
///     @unit cupsd.service          the units to hook, instead of NAME.service (repeatable)
///     @hook no                     no drop-in: the package or the administrator hooks it
///     @reclaim yes                 also hold the ports again once the unit has stopped
///
/// `portreserve.conf` in a configuration directory (a name with a `.`, so never a service) sets
/// `@hook` and `@reclaim` for every service.
public struct HookPlan: Equatable, Sendable {
    /// Units named by `@unit`, in order; empty means NAME.service.
    public var units: [String] = []
    /// `@hook`, nil when not given.
    public var enabled: Bool?
    /// `@reclaim`, nil when not given.
    public var reclaim: Bool?

    public init(units: [String] = [], enabled: Bool? = nil, reclaim: Bool? = nil) {
        self.units = units
        self.enabled = enabled
        self.reclaim = reclaim
    }

    /// What the generator does for service `name`, with `defaults` from portreserve.conf:
    /// the units it hooks (none when opted out) and whether it reclaims after a stop.
    public func resolved(name: String, defaults: HookPlan) -> (units: [String], reclaim: Bool) {
        guard enabled ?? defaults.enabled ?? true else { return ([], false) }
        return (units.isEmpty ? [name + ".service"] : units, reclaim ?? defaults.reclaim ?? false)
    }
}

public enum HookDirectives {
    /// The file of defaults for every service, in each configuration directory (first wins).
    public static let defaultsFileName = "portreserve.conf"

    /// Whether a line, once trimmed, is a directive rather than an entry.
    public static func isDirective(_ trimmed: Substring) -> Bool { trimmed.first == "@" }

    /// Applies one directive line (trimmed, without its comment) to `plan`. Returns the problem,
    /// said the way `FILE:LINE:` messages are, or nil. `inDefaults`: the line is in
    /// portreserve.conf, where `@unit` means nothing.
    public static func apply(_ line: Substring, to plan: inout HookPlan, inDefaults: Bool = false) -> String? {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let keyword = words.first else { return "empty directive" }
        let arguments = words.dropFirst()
        switch keyword {
        case "@unit":
            if inDefaults { return "@unit names one service's units: it belongs in that service's file" }
            guard !arguments.isEmpty else { return "@unit names no unit: expected @unit NAME.service..." }
            for unit in arguments {
                if let why = whyInvalidUnit(unit) { return why }
                if !plan.units.contains(String(unit)) { plan.units.append(String(unit)) }
            }
            return nil
        case "@hook", "@reclaim":
            guard arguments.count == 1, let value = switchValue(arguments.first!) else {
                return "\(keyword) takes yes or no, found \"\(printable(arguments.joined(separator: " ").prefix(40)))\""
            }
            if keyword == "@hook" { plan.enabled = value } else { plan.reclaim = value }
            return nil
        default:
            return "unknown directive \"\(printable(keyword.prefix(40)))\": expected @unit, @hook or @reclaim (portreserve.d(5))"
        }
    }

    /// The plan in a file's bytes and its problems, reading only the directive lines: the
    /// generator never resolves service names (the services database may need the network, and
    /// generators run before anything is mounted but /).
    public static func plan(in bytes: [UInt8], file: String, inDefaults: Bool = false) -> (HookPlan, [ConfigurationProblem]) {
        var plan = HookPlan()
        var problems: [ConfigurationProblem] = []
        var number = 0
        for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            guard raw.contains(UInt8(ascii: "@")) else { continue }  // the usual line: not a directive
            let text = String(decoding: raw, as: UTF8.self)
            let uncommented = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = uncommented.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
            let line = Substring(String(trimmed))
            guard isDirective(line) else { continue }
            if let why = apply(line, to: &plan, inDefaults: inDefaults) {
                problems.append(ConfigurationProblem(file: file, line: number, message: why))
            }
        }
        return (plan, problems)
    }

    /// The defaults of portreserve.conf: the first configuration directory that has one wins.
    public static func defaults(directories: [String]) -> (HookPlan, [ConfigurationProblem]) {
        for directory in directories {
            let path = directory + "/" + defaultsFileName
            // Absent here: the next directory may have one. (Any other failure is read's to report.)
            do { if try pathStatus(path) == nil { continue } } catch {}
            switch ConfigurationFiles.read(path) {
            case .masked: return (HookPlan(), [])
            case .contents(let bytes): return plan(in: bytes, file: path, inDefaults: true)
            case .unreadable(let message):
                return (HookPlan(), [ConfigurationProblem(file: path, line: nil, message: message)])
            }
        }
        return (HookPlan(), [])
    }

    /// Why `name` is not a unit this can hook, or nil: a service unit, as systemd spells unit
    /// names (letters, digits, `:-_.\`, one `@` for a template or an instance, at most 255
    /// bytes), and not portreserve's own, which would order a unit after itself.
    public static func whyInvalidUnit(_ name: Substring) -> String? {
        let shown = "\"\(printable(name.prefix(80)))\""
        guard name.hasSuffix(".service"), name.utf8.count > ".service".utf8.count else {
            return "\(shown) is not a service unit: expected NAME.service"
        }
        guard name.utf8.count <= 255 else { return "\(shown) is longer than 255 bytes" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || [UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "@")].contains(byte)
        }
        guard allowed else { return "\(shown) is not a valid unit name (letters, digits and :-_.\\@ only)" }
        guard name.filter({ $0 == "@" }).count <= 1, name.first != "@" else { return "\(shown) is not a valid unit name (one @ at most, not first)" }
        if name == "portreserve.service" || name.hasPrefix("portrelease@") {
            return "\(shown) is portreserve's own unit: it cannot be hooked"
        }
        return nil
    }

    private static func switchValue(_ word: Substring) -> Bool? {
        switch word.lowercased() {
        case "yes", "true", "on", "1": true
        case "no", "false", "off", "0": false
        default: nil
        }
    }

    /// The drop-in that hooks `unit` for service `name`, configured in `file`. `sbin` is where
    /// portrelease and portreserve are installed.
    public static func dropIn(service name: String, unit: String, file: String, reclaim: Bool, sbin: String = "/usr/sbin") -> String {
        let argument = quotedForExec(name)
        var text = """
            # Generated by portreserve-generator from \(printable(file)), at boot and at every
            # systemctl daemon-reload. The ports portreserve holds for "\(printable(name))" are released
            # just before this unit starts, whatever its User= (+), and not before portreserve holds them.
            # A second portrelease of the same name (one in the unit itself) answers "already released".
            # To hook it by hand instead: "@hook no" in \(printable(file)) (see portreserve.d(5)).
            [Unit]
            After=portreserve.service

            [Service]
            ExecStartPre=+\(sbin)/portrelease \(argument)

            """
        if reclaim {
            text += "# @reclaim: held again once the unit has stopped (a socket still in TIME_WAIT is retried).\n"
            text += "ExecStopPost=-+\(sbin)/portreserve reclaim \(argument)\n"
        }
        return text
    }

    /// A service name as one argument of an Exec line: quoted, with systemd's specifiers (%) and
    /// variable expansion ($) escaped, so `100%$x` reaches portrelease as written.
    static func quotedForExec(_ name: String) -> String {
        let plain = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || Array("-_+:,=@".utf8).contains(byte)
        }
        if plain { return name }
        var result = "\""
        for character in name {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "%": result += "%%"
            case "$": result += "$$"
            default: result.append(character)
            }
        }
        return result + "\""
    }

    /// The drop-in's file name in UNIT.d/: one per service, so two services hooking one unit
    /// both release.
    public static func dropInName(service name: String) -> String {
        var escaped = ""
        for scalar in name.unicodeScalars {
            if scalar == "/" || scalar == "\\" || scalar.value < 0x21 || scalar.value > 0x7E { escaped += "_" } else { escaped.unicodeScalars.append(scalar) }
        }
        return "portreserve-\(escaped).conf"
    }
}
