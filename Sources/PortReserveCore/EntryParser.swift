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
        // A number means its value, leading zeros or not (as `parse` reads it too); past 65535 it
        // stops counting and is out of range.
        var index = start, port = 0
        while index < end, line[index] >= UInt8(ascii: "0"), line[index] <= UInt8(ascii: "9") {
            if port <= 65535 { port = port * 10 + Int(line[index] - UInt8(ascii: "0")) }
            index += 1
        }
        if index > start, (1...65535).contains(port) {
            let text = String(decoding: line[start..<end], as: UTF8.self)
            if index == end { return .ports(text: text, [PortKey(UInt16(port), .tcp), PortKey(UInt16(port), .udp)]) }
            if end - index == 4, line[index] == UInt8(ascii: "/") {
                let proto = line[(index + 1)..<end].map { $0 | 0x20 }  // ASCII lower case
                if proto == Array("tcp".utf8) { return .ports(text: text, [PortKey(UInt16(port), .tcp)]) }
                if proto == Array("udp".utf8) { return .ports(text: text, [PortKey(UInt16(port), .udp)]) }
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
            // Numbers never go through the services database: it is slow, and a number means its
            // value, leading zeros or not (as the fast path reads it).
            let digits = service.drop(while: { $0 == "0" })
            guard digits.utf8.count <= 5, let port = Int(digits.isEmpty ? "0" : digits), (1...65535).contains(port) else {
                return .invalid("port \(printable(service.prefix(40))) is out of range 1-65535")
            }
            return .ports(text: text, transports.map { PortKey(UInt16(port), $0) })
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
