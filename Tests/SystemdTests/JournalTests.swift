import Foundation
import Logging
import SystemCalls
import Testing
import TestSupport

@testable import Systemd
@testable import SystemdLogging

@Suite struct JournalFieldTests {
    @Test(arguments: ["MESSAGE", "PORTRESERVE_PORT", "A", "X1_2", String(repeating: "A", count: 64)])
    func validNames(name: String) {
        #expect(Journal.isValidFieldName(name))
    }

    @Test(arguments: ["", "_PID", "1ABC", "lower", "WITH-DASH", "SPACE X", "É", String(repeating: "A", count: 65)])
    func invalidNamesAreRefused(name: String) {
        #expect(!Journal.isValidFieldName(name))
        #expect(throws: InvalidJournalFieldName(name: name)) { try JournalField(name, "value") }
    }

    @Test func metadataKeysBecomeValidNames() {
        #expect(Journal.fieldName(from: "portreserve.port") == "PORTRESERVE_PORT")
        #expect(Journal.fieldName(from: "_hidden") == "FIELD__HIDDEN")
        #expect(Journal.fieldName(from: "9lives") == "FIELD_9LIVES")
        #expect(Journal.fieldName(from: String(repeating: "k", count: 100)).count == 64)
        #expect(JournalField(key: "_hidden", "x").name == "FIELD__HIDDEN" && JournalField(key: "_hidden", "x").value == Array("x".utf8))
        #expect(JournalField(key: "MESSAGE_ID", "x").name == "MESSAGE_ID")
        for key in ["portreserve.port", "_hidden", "9lives", "ünïcode", ""] {
            #expect(Journal.isValidFieldName(Journal.fieldName(from: key)))
        }
    }

    @Test func assignmentsKeepBinaryValuesWhole() throws {
        let field = try JournalField("DATA", bytes: [0x61, 0x00, 0x0A, 0xFF])
        #expect(field.assignment == Array("DATA=".utf8) + [0x61, 0x00, 0x0A, 0xFF])
    }

    @Test func entryStartsWithMessageAndPriority() throws {
        var entry = JournalEntry(message: "line one\nline two", priority: .notice)
        try entry.append("PORTRESERVE_FAMILY", "ipv4")
        try entry.append("PORTRESERVE_FAMILY", "ipv6")
        #expect(entry.values(of: "MESSAGE") == ["line one\nline two"])
        #expect(entry.values(of: "PRIORITY") == ["5"])
        #expect(entry.values(of: "PORTRESERVE_FAMILY") == ["ipv4", "ipv6"])
    }
}

@Suite struct JournalLogHandlerTests {
    let handler = JournalLogHandler(label: "portreserve", destination: .standardError)

    private func event(_ level: Logger.Level, _ message: String) -> LogEvent {
        LogEvent(level: level, message: "\(message)", metadata: nil, source: nil, file: "F.swift", function: "f()", line: 7)
    }

    @Test func levelsMapToSyslogPriorities() {
        let expected: [(Logger.Level, SyslogPriority)] = [
            (.trace, .debug), (.debug, .debug), (.info, .info), (.notice, .notice),
            (.warning, .warning), (.error, .error), (.critical, .critical),
        ]
        for (level, priority) in expected { #expect(JournalLogHandler.priority(of: level) == priority) }
    }

    @Test func metadataBecomeFieldsAndArraysRepeat() {
        let entry = handler.entry(
            for: event(.error, "bind failed"),
            metadata: ["portreserve.port": "631", "families": ["ipv4", "ipv6"], "MESSAGE_ID": "abc"])
        #expect(entry.values(of: "MESSAGE") == ["bind failed"])
        #expect(entry.values(of: "PRIORITY") == ["3"])
        #expect(entry.values(of: "SYSLOG_IDENTIFIER") == ["portreserve"])
        #expect(entry.values(of: "CODE_FILE") == ["F.swift"])
        #expect(entry.values(of: "CODE_LINE") == ["7"])
        #expect(entry.values(of: "PORTRESERVE_PORT") == ["631"])
        #expect(entry.values(of: "FAMILIES") == ["ipv4", "ipv6"])
        #expect(entry.values(of: "MESSAGE_ID") == ["abc"])
    }

    @Test func stderrLinesAreReadableAndShowMetadataOnlyWhenDebugging() {
        #expect(handler.line(for: event(.warning, "port 631/tcp is taken"), metadata: ["port": "631"])
            == "portreserve: warning: port 631/tcp is taken")
        var debugging = handler
        debugging.logLevel = .debug
        #expect(debugging.line(for: event(.info, "held"), metadata: ["port": "631", "families": ["ipv4", "ipv6"]])
            == "portreserve: info: held [families=ipv4,ipv6 port=631]")
    }
}

/// Runs the probe in a private mount namespace whose /run/systemd/journal/socket is a socket of the
/// test's own, so what libsystemd really sends to journald can be read back and decoded.
@Suite(.enabled(if: runningAsRoot, "needs root for a private mount namespace"))
struct JournalDeliveryTests {
    private func runInPrivateJournal(_ shell: String) throws -> (fields: [(String, [UInt8])], result: ProcessResult) {
        let directory = try TemporaryDirectory("journal")
        let receiver = try boundDatagramSocket(at: directory.path + "/socket")
        defer { closeDescriptor(receiver) }
        let script = """
            mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && \
            mount --bind \(directory.path) /run/systemd/journal && \(shell)
            """
        let result = try run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script])
        guard let datagram = try receive(on: receiver, within: 0.5) else { return ([], result) }
        return (try decodeNativeJournal(datagram.payload), result)
    }

    @Test func sendvDeliversBinaryAndMultiLineValuesIntact() throws {
        let (fields, result) = try runInPrivateJournal("exec \(product("systemd-probe")) journal")
        #expect(result.standardOutput == "sent\n", "\(result.standardError)")
        let values = Dictionary(grouping: fields, by: \.0).mapValues { $0.map(\.1) }
        #expect(values["MESSAGE"] == [Array("first line\nsecond line".utf8)])
        #expect(values["PRIORITY"] == [Array("4".utf8)])
        #expect(values["PROBE_PLAIN"] == [Array("plain value".utf8)])
        #expect(values["PROBE_BINARY"] == [[0x61, 0x00, 0x62, 0x0A, 0xFF]])
        #expect(values["PROBE_REPEATED"] == [Array("one".utf8), Array("two".utf8)])
    }

    @Test func handlerWritesToTheJournalWhenStderrIsTheJournalStream() throws {
        // JOURNAL_STREAM names stderr's own device and inode, as systemd sets it.
        let (fields, result) = try runInPrivateJournal(
            "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \(product("systemd-probe")) log")
        #expect(result.standardOutput == "destination=journal\n")
        #expect(result.standardError == "")
        let values = Dictionary(grouping: fields, by: \.0).mapValues { $0.map { String(decoding: $0.1, as: UTF8.self) } }
        #expect(values["MESSAGE"] == ["conflict on port 631"])
        #expect(values["PRIORITY"] == ["4"])
        #expect(values["SYSLOG_IDENTIFIER"] == ["systemd-probe"])
        #expect(values["PROBE_PORT"] == ["631"])
        #expect(values["PROBE_FAMILIES"] == ["ipv4", "ipv6"])
    }

    @Test func handlerFallsBackToStderrWhenTheStreamIsSomethingElse() throws {
        let (fields, result) = try runInPrivateJournal("JOURNAL_STREAM=1:1 exec \(product("systemd-probe")) log")
        #expect(fields.isEmpty)
        #expect(result.standardOutput == "destination=standardError\n")
        #expect(result.standardError == "systemd-probe: warning: conflict on port 631\n")
    }
}

/// journald's native protocol: `NAME=value\n`, or for values with line breaks
/// `NAME\n` + little-endian 64-bit length + bytes + `\n`.
func decodeNativeJournal(_ bytes: [UInt8]) throws -> [(String, [UInt8])] {
    struct Malformed: Error {}
    var fields: [(String, [UInt8])] = []
    var index = 0
    while index < bytes.count {
        guard let end = bytes[index...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") })
        else { throw Malformed() }
        let name = String(decoding: bytes[index..<end], as: UTF8.self)
        if bytes[end] == UInt8(ascii: "=") {
            guard let newline = bytes[end...].firstIndex(of: UInt8(ascii: "\n")) else { throw Malformed() }
            fields.append((name, Array(bytes[(end + 1)..<newline])))
            index = newline + 1
        } else {
            guard end + 9 <= bytes.count else { throw Malformed() }
            let length = bytes[(end + 1)..<(end + 9)].reversed().reduce(0) { $0 << 8 | Int($1) }
            let start = end + 9
            guard start + length < bytes.count, bytes[start + length] == UInt8(ascii: "\n") else { throw Malformed() }
            fields.append((name, Array(bytes[start..<(start + length)])))
            index = start + length + 1
        }
    }
    return fields
}
