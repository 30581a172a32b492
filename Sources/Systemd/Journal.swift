import CSystemd
import SystemCalls
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The syslog priorities the journal's `PRIORITY=` field takes.
public enum SyslogPriority: Int, Comparable, Sendable {
    case emergency = 0, alert, critical, error, warning, notice, info, debug

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A journal field name that systemd would not accept from a client.
public struct InvalidJournalFieldName: Error, Equatable, CustomStringConvertible {
    public let name: String
    public var description: String {
        "invalid journal field name \"\(name)\": it takes 1-64 of A-Z, 0-9 and _, not starting with _ or a digit"
    }
}

/// One `NAME=value` pair. Values are bytes: the journal keeps binary data and line breaks intact.
public struct JournalField: Equatable, Sendable {
    public let name: String
    public let value: [UInt8]

    public init(_ name: String, bytes: [UInt8]) throws(InvalidJournalFieldName) {
        guard Journal.isValidFieldName(name) else { throw InvalidJournalFieldName(name: name) }
        self.name = name
        self.value = bytes
    }

    public init(_ name: String, _ value: String) throws(InvalidJournalFieldName) {
        try self.init(name, bytes: Array(value.utf8))
    }

    /// A field named after any key, such as a swift-log metadata key: the name is made valid by
    /// `Journal.fieldName(from:)` (a valid name stays as it is), so this cannot fail.
    ///
    ///     JournalField(key: "portreserve.service", "cups")   // PORTRESERVE_SERVICE=cups
    public init(key: String, _ value: String) {
        self.init(trusted: Journal.fieldName(from: key), value)
    }

    /// For the names this module spells itself, which are valid by construction.
    init(trusted name: String, _ value: String) {
        self.name = name
        self.value = Array(value.utf8)
    }

    /// The `NAME=value` bytes that go into one iovec of `sd_journal_sendv(3)`.
    var assignment: [UInt8] { Array(name.utf8) + [UInt8(ascii: "=")] + value }
}

/// A structured journal entry: a message, a priority, and any fields of the caller's own. A name
/// may repeat; `journalctl NAME=value` then matches any of its values.
public struct JournalEntry: Equatable, Sendable {
    public private(set) var fields: [JournalField]

    public init(message: String, priority: SyslogPriority) {
        fields = [JournalField(trusted: "MESSAGE", message), JournalField(trusted: "PRIORITY", "\(priority.rawValue)")]
    }

    public mutating func append(_ field: JournalField) { fields.append(field) }

    public mutating func append(_ name: String, _ value: String) throws(InvalidJournalFieldName) {
        fields.append(try JournalField(name, value))
    }

    /// The values of `name`, in order; for tests.
    func values(of name: String) -> [String] {
        fields.filter { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
    }
}

/// Sending to the systemd journal, and knowing whether this process's stderr already goes there.
///
///     var entry = JournalEntry(message: "reserved 631/tcp for cups", priority: .info)
///     try entry.append("PORTRESERVE_PORT", "631")          // journalctl PORTRESERVE_PORT=631
///     if Journal.isConnected() { try Journal.send(entry) }  // else a person reads stderr
public enum Journal {
    /// Sends one entry to journald.
    ///
    /// Wraps `sd_journal_sendv(3)`.
    public static func send(_ entry: JournalEntry) throws(SystemError) {
        let assignments = entry.fields.map(\.assignment)
        // Each iovec must point at bytes that live until the call returns: copy them into one
        // buffer and address slices of it.
        let total = assignments.reduce(0) { $0 + $1.count }
        var storage = [UInt8]()
        storage.reserveCapacity(total)
        for bytes in assignments { storage.append(contentsOf: bytes) }
        let result: CInt = storage.withUnsafeMutableBytes { buffer in
            var offset = 0
            var vectors = assignments.map { bytes -> iovec in
                defer { offset += bytes.count }
                return iovec(iov_base: buffer.baseAddress! + offset, iov_len: bytes.count)
            }
            return sd_journal_sendv(&vectors, CInt(vectors.count))
        }
        _ = try negativeErrnoOrThrow("sd_journal_sendv", result)
    }

    /// True when `fd` (stderr by default) is the stream systemd connected to the journal, which is
    /// the case when `JOURNAL_STREAM` names its device and inode (systemd.exec(5)). Only then is
    /// sending structured entries the right thing; otherwise a person is reading the output.
    public static func isConnected(journalStream: String? = environmentValue("JOURNAL_STREAM"), fd: FileDescriptor = .standardError) -> Bool {
        guard let journalStream else { return false }
        let parts = journalStream.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// systemd's rule for fields a client may set: 1-64 characters of A-Z, 0-9 and _, starting
    /// with neither _ (reserved for trusted fields) nor a digit.
    public static func isValidFieldName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count), bytes[0] != UInt8(ascii: "_"), !isDigit(bytes[0]) else { return false }
        return bytes.allSatisfy { isUpper($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// A valid field name made from any key, such as swift-log metadata keys: upper-cased, other
    /// characters turned into _, prefixed when it would start badly, cut to 64.
    public static func fieldName(from key: String) -> String {
        var bytes = key.utf8.map { byte -> UInt8 in
            if isUpper(byte) || isDigit(byte) { return byte }
            if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") { return byte - 32 }
            return UInt8(ascii: "_")
        }
        if bytes.isEmpty || bytes[0] == UInt8(ascii: "_") || isDigit(bytes[0]) {
            bytes.insert(contentsOf: Array("FIELD_".utf8), at: 0)
        }
        return String(decoding: bytes.prefix(64), as: UTF8.self)
    }

    private static func isUpper(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
