/// `portreserve check`: every problem of a configuration, and the overlaps a daemon would accept
/// silently (two files naming one port, one file naming a port twice), as `FILE:LINE: message`.
public enum ConfigurationCheck {
    public static func findings(_ configuration: Configuration) -> [ConfigurationProblem] {
        var findings = configuration.problems
        var firstSeen: [PortKey: (service: ServiceConfiguration, line: Int)] = [:]
        for service in configuration.services {
            var inFile: [PortKey: Int] = [:]
            for entry in service.entries {
                for port in entry.ports {
                    if let line = inFile[port] {
                        findings.append(ConfigurationProblem(
                            file: service.file, line: entry.line, message: "\(port) was already named on line \(line)"))
                        continue
                    }
                    inFile[port] = entry.line
                    if let first = firstSeen[port] {
                        findings.append(ConfigurationProblem(
                            file: service.file, line: entry.line,
                            message: "\(port) is also reserved for \(first.service.name) (\(first.service.file):\(first.line)); "
                                + "releasing either service frees it"))
                    } else {
                        firstSeen[port] = (service, entry.line)
                    }
                }
            }
        }
        return findings
    }
}
