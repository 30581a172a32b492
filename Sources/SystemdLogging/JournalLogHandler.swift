import Logging
import Systemd
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes structured journal entries when stderr is connected to the
/// journal, and plain lines on stderr when a person runs the program by hand.
///
/// Metadata become journal fields (keys upper-cased into valid field names; an array value gives
/// the field once per element), so `journalctl KEY=value` filters on them. The label is the
/// `SYSLOG_IDENTIFIER`.
///
///     LoggingSystem.bootstrap { JournalLogHandler(label: $0) }
///     Logger(label: "portreserve").info("ready", metadata: ["portreserve.ports": "4"])
///     // journalctl SYSLOG_IDENTIFIER=portreserve PORTRESERVE_PORTS=4
public struct JournalLogHandler: LogHandler {
    /// Where entries go.
    public enum Destination: Equatable, Sendable {
        case journal
        case standardError
    }

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    public let destination: Destination

    /// Chooses the journal when `Journal.isConnected()` says stderr goes there.
    public init(label: String, destination: Destination? = nil) {
        self.label = label
        self.destination = destination ?? (Journal.isConnected() ? .journal : .standardError)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // A plain line shows metadata only when debugging: do not pay for merging it otherwise.
        if destination == .standardError && logLevel > .debug {
            writeAll(line(for: event, metadata: [:]) + "\n")
            return
        }
        let merged = mergedMetadata(event.metadata)
        switch destination {
        case .journal:
            // If journald is gone there is nobody left to tell; stderr is the last resort.
            do { try Journal.send(entry(for: event, metadata: merged)) } catch { writeToStandardError(event, merged) }
        case .standardError:
            writeToStandardError(event, merged)
        }
    }

    /// The journal entry for `event`: message, priority, identifier, source location and metadata.
    func entry(for event: LogEvent, metadata: Logger.Metadata) -> JournalEntry {
        var entry = JournalEntry(message: event.message.description, priority: Self.priority(of: event.level))
        entry.append(JournalField(key: "SYSLOG_IDENTIFIER", label))
        entry.append(JournalField(key: "CODE_FILE", event.file))
        entry.append(JournalField(key: "CODE_LINE", "\(event.line)"))
        entry.append(JournalField(key: "CODE_FUNC", event.function))
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            for text in Self.texts(of: value) { entry.append(JournalField(key: key, text)) }
        }
        return entry
    }

    /// The stderr line for `event`: "label: level: message", with metadata at debug level only,
    /// where a person asked for detail.
    func line(for event: LogEvent, metadata: Logger.Metadata) -> String {
        var line = "\(label): \(Self.word(for: event.level)): \(event.message)"
        if logLevel <= .debug, !metadata.isEmpty {
            line += " [" + metadata.sorted(by: { $0.key < $1.key })
                .map { "\($0.key)=\(Self.texts(of: $0.value).joined(separator: ","))" }
                .joined(separator: " ") + "]"
        }
        return line
    }

    /// swift-log levels onto syslog priorities; swift-log has no level between critical and emergency.
    static func priority(of level: Logger.Level) -> SyslogPriority {
        switch level {
        case .trace, .debug: return .debug
        case .info: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .error: return .error
        case .critical: return .critical
        }
    }

    private static func word(for level: Logger.Level) -> String {
        switch level {
        case .trace: return "trace"
        case .debug: return "debug"
        case .info: return "info"
        case .notice: return "notice"
        case .warning: return "warning"
        case .error: return "error"
        case .critical: return "critical"
        }
    }

    private static func texts(of value: Logger.Metadata.Value) -> [String] {
        switch value {
        case .string(let text): return [text]
        case .stringConvertible(let convertible): return [convertible.description]
        case .array(let values): return values.flatMap(texts(of:))
        case .dictionary(let dictionary):
            return [dictionary.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: ",")]
        }
    }

    private func mergedMetadata(_ eventMetadata: Logger.Metadata?) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let eventMetadata { merged.merge(eventMetadata) { _, new in new } }
        return merged
    }

    private func writeToStandardError(_ event: LogEvent, _ metadata: Logger.Metadata) {
        writeAll(line(for: event, metadata: metadata) + "\n")
    }
}
