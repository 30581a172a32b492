import PortReserveConfiguration
import PortReserveProtocol

/// Parses one configuration line: a service name from the services database or a port number
/// 1-65535, optionally followed by `/tcp` or `/udp`. Blank lines and `#` comments are allowed.
enum EntryParser {
    enum Result: Equatable {
        case blank
        case ports(text: String, [PortKey])
        /// A hook directive (`@unit`, `@hook`, `@reclaim`): read by portreserve-generator, checked here.
        case directive(Substring)
        case invalid(String)
    }

    /// The line as bytes, with a fast path for the common `PORT` and `PORT/PROTO` lines, which
    /// need no String work at all; anything else goes through `parse(_:servicesDatabase:)`.
    /// nil when the line is not valid UTF-8.
    static func parse(bytes line: ArraySlice<UInt8>, servicesDatabase: ServicesDatabase) -> Result? {
        var end = line.firstIndex(of: UInt8(ascii: "#")) ?? line.endIndex
        var start = line.startIndex
        while start < end, isASCIISpace(line[start]) { start += 1 }
        while end > start, isASCIISpace(line[end - 1]) { end -= 1 }
        if start == end { return .blank }
        // A number means its value, leading zeros or not, as `parse` reads it too.
        let slash = line[start..<end].firstIndex(of: UInt8(ascii: "/")) ?? end
        if let port = PortKey.number(line[start..<slash]) {
            let text = String(decoding: line[start..<end], as: UTF8.self)
            if slash == end { return .ports(text: text, [PortKey(port, .tcp), PortKey(port, .udp)]) }
            if end - slash == 4 {
                let proto = line[(slash + 1)..<end].map { $0 | 0x20 }  // ASCII lower case
                if proto == Array("tcp".utf8) { return .ports(text: text, [PortKey(port, .tcp)]) }
                if proto == Array("udp".utf8) { return .ports(text: text, [PortKey(port, .udp)]) }
            }
        }
        guard let text = String(validating: line, as: UTF8.self) else { return nil }
        return parse(text, servicesDatabase: servicesDatabase)
    }

    /// Text from a configuration line in a message: escaped, and cut at 80 characters, so a
    /// line of junk never becomes a journal entry of megabytes.
    static func quoted(_ text: some StringProtocol) -> String {
        text.count > 80 ? printable(text.prefix(80)) + "..." : printable(text)
    }

    private static func isASCIISpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || (byte >= 0x09 && byte <= 0x0D)
    }

    static func parse(_ line: String, servicesDatabase: ServicesDatabase) -> Result {
        let uncommented = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let text = uncommented.trimmingWhitespace()
        if text.isEmpty { return .blank }
        if HookDirectives.isDirective(Substring(text)) { return .directive(Substring(text)) }
        if text.contains(where: \.isWhitespace) {
            return .invalid("expected one service name or port per line, found \"\(Self.quoted(text))\"")
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return .invalid("expected NAME, PORT, NAME/PROTOCOL or PORT/PROTOCOL, found \"\(Self.quoted(text))\"") }
        let transports: [TransportProtocol]
        if parts.count == 2 {
            guard let transport = TransportProtocol(rawValue: parts[1].lowercased()) else {
                return .invalid("unknown protocol \"\(Self.quoted(parts[1]))\" in \"\(Self.quoted(text))\": expected tcp or udp")
            }
            transports = [transport]
        } else {
            transports = TransportProtocol.allCases
        }
        let service = String(parts[0])
        if service.isEmpty { return .invalid("missing service name or port in \"\(Self.quoted(text))\"") }
        if service.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            // Numbers never go through the services database: it is slow, and a number means its value.
            guard let port = PortKey.number(service.utf8) else {
                return .invalid("port \(printable(service.prefix(40))) is out of range 1-65535")
            }
            return .ports(text: text, transports.map { PortKey(port, $0) })
        }
        if parts.count == 2 {
            guard let port = servicesDatabase.port(of: service, transports[0]) else {
                return .invalid("unknown service \"\(Self.quoted(service))\" for \(transports[0].rawValue) in the services database")
            }
            return .ports(text: text, [PortKey(port, transports[0])])
        }
        // A bare name reserves both protocols, like the original. A name listed for one protocol
        // only (ipp is 631/tcp) still means that port for the other one.
        let found = TransportProtocol.allCases.map { servicesDatabase.port(of: service, $0) }
        guard let known = found.compactMap({ $0 }).first else {
            return .invalid("unknown service \"\(Self.quoted(service))\" in the services database")
        }
        return .ports(text: text, zip(TransportProtocol.allCases, found).map { PortKey($1 ?? known, $0) })
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else {
            return ""
        }
        return String(self[first...last])
    }
}
