import Testing

@testable import PortReserveProtocol

/// One reading of a port number and of a service name, wherever they are written.
@Suite struct PortsTests {
    @Test(arguments: [
        ("631", UInt16(631)), ("0631", 631), ("1", 1), ("65535", 65535), ("000000000065535", 65535),
        ("0", nil), ("65536", nil), ("99999999999999999999", nil), ("", nil), ("+631", nil), ("-1", nil), ("63 1", nil), ("６３１", nil),
    ] as [(String, UInt16?)])
    func aPortNumberIsDecimalDigitsInRange(text: String, port: UInt16?) {
        #expect(PortKey.number(text.utf8) == port)
    }

    @Test func everyFormatReadsPortsTheSameWay() {
        #expect(PortKey("0631/tcp") == PortKey(631, .tcp))
        #expect(PortKey("+631/tcp") == nil && PortKey("0/udp") == nil && PortKey("631/sctp") == nil)
        #expect(SocketSlot(wireName: "631/udp/ipv6") == SocketSlot(PortKey(631, .udp), .ipv6))
        #expect(SocketSlot(wireName: "65536/udp/ipv6") == nil)
        #expect(PortKey(bytes: Array("0631/udp".utf8)[...]) == PortKey(631, .udp))
        for text in ["+631/tcp", "0/udp", "631/sctp", "631/tcp/", "631//tcp", "/tcp", "631", "", "631/tcpx", "631/TCP"] {
            #expect(PortKey(bytes: Array(text.utf8)[...]) == nil && PortKey(text[...]) == nil, "\(text)")
        }
    }

    /// A file name that could not be named in a release is not a service name either.
    @Test(arguments: ["two words", "evil\u{202E}txt", "\u{1B}[2J", "a/b", "", String(repeating: "x", count: 256), "del\u{7F}", "tab\t", "nl\n"])
    func aNameARequestCannotCarryIsNoServiceName(name: String) {
        #expect(ServiceName.whyInvalid(name) != nil)
        #expect(RequestCodec.whyInvalid(name: name) == ServiceName.whyInvalid(name))
    }

    /// Printable ASCII comes back as it is; a backslash, a control and DEL are escaped.
    @Test func printableEscapesOnlyWhatMustBe() {
        #expect(printable("cups 631/tcp ~!") == "cups 631/tcp ~!")
        #expect(printable("a\\b") == "a\\\\b")
        #expect(printable("a\u{7F}b\u{1B}") == "a\\u{7F}b\\u{1B}")
        #expect(printable("café"[...]) == "café")
    }

    @Test func usualNamesAreServiceNames() {
        for name in ["cups", "rpc.statd", "nfs-server", "ypbind_2", String(repeating: "x", count: 255), "café"] {
            #expect(ServiceName.whyInvalid(name) == nil, "\(name)")
        }
        #expect(RequestCodec.whyInvalid(name: "*") == nil && ServiceName.whyInvalid("*") == nil)
    }
}
