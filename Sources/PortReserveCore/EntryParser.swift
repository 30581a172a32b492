/// Parses one configuration line: a service name from the services database or a port number
/// 1-65535, optionally followed by `/tcp` or `/udp`. Blank lines and `#` comments are allowed.
enum EntryParser {
    enum Result: Equatable {
        case blank
        case ports(text: String, [PortKey])
        case invalid(String)
    }

    static func parse(_ line: String, servicesDatabase: ServicesDatabase) -> Result {
        let uncommented = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let text = uncommented.trimmingWhitespace()
        if text.isEmpty { return .blank }
        if text.contains(where: \.isWhitespace) {
            return .invalid("expected one service name or port per line, found \"\(text)\"")
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return .invalid("expected NAME, PORT, NAME/PROTOCOL or PORT/PROTOCOL, found \"\(text)\"") }
        let transports: [TransportProtocol]
        if parts.count == 2 {
            guard let transport = TransportProtocol(rawValue: parts[1].lowercased()) else {
                return .invalid("unknown protocol \"\(parts[1])\" in \"\(text)\": expected tcp or udp")
            }
            transports = [transport]
        } else {
            transports = TransportProtocol.allCases
        }
        let service = String(parts[0])
        if service.isEmpty { return .invalid("missing service name or port in \"\(text)\"") }
        if service.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            // Numbers never go through the services database: it is slow, and a number means itself.
            guard service.utf8.count <= 5, let port = Int(service), (1...65535).contains(port) else {
                return .invalid("port \(service) is out of range 1-65535")
            }
            return .ports(text: text, transports.map { PortKey(UInt16(port), $0) })
        }
        if parts.count == 2 {
            guard let port = servicesDatabase.port(of: service, transports[0]) else {
                return .invalid("unknown service \"\(service)\" for \(transports[0].rawValue) in the services database")
            }
            return .ports(text: text, [PortKey(port, transports[0])])
        }
        // A bare name reserves both protocols, like the original. A name listed for one protocol
        // only (ipp is 631/tcp) still means that port for the other one.
        let found = TransportProtocol.allCases.map { servicesDatabase.port(of: service, $0) }
        guard let known = found.compactMap({ $0 }).first else {
            return .invalid("unknown service \"\(service)\" in the services database")
        }
        return .ports(text: text, zip(TransportProtocol.allCases, found).map { PortKey($1 ?? known, $0) })
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
