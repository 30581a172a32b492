/// What a datagram on the control socket asks for.
public enum Request: Equatable, Sendable {
    /// The original's protocol: the whole payload is one service name, or `*`. No reply is sent:
    /// old clients never read one.
    case legacyRelease(String)
    /// Release these names (`*` for all); the reply comes once every socket is closed.
    case release([String])
    /// Take these released services' ports back (`*` for all), for ExecStopPost= of their units.
    case reclaim([String])
    /// Read the configuration again, and answer once it is in force: what `systemctl reload`
    /// runs (ExecReload=), so that it returns when the reload is done, as SIGHUP cannot tell.
    case reload
}

/// The answer for one name of a release request.
public enum ReleaseReply: Equatable, Sendable {
    case released([PortKey])
    case alreadyReleased
    case unknown
}

/// The answer for one name of a reclaim request.
public enum ReclaimReply: Equatable, Sendable {
    /// The sockets held after the reclaim, and those that are not (yet): counted per socket, since
    /// a port held in one family only is not held.
    case reclaimed(held: [SocketSlot], notHeld: [NotHeldSocket])
    case unknown
}

/// A socket a reclaim could not hold, why, and in how many seconds the daemon tries again
/// (nil: it does not, the port being released for another service that shares it).
public struct NotHeldSocket: Equatable, Sendable {
    public let slot: SocketSlot
    public let reason: String
    public let retryInSeconds: Int?

    public init(slot: SocketSlot, reason: String, retryInSeconds: Int?) {
        self.slot = slot
        self.reason = reason
        self.retryInSeconds = retryInSeconds
    }
}

/// The control socket's request and reply format.
///
/// Our messages start with `.portreserve/1 `, a line no legacy request can be: service names never
/// hold a `.` (such files are ignored), so an old client and a new one share the socket without
/// ambiguity. The rest is one item per line, so a request is readable in `strace` and writable with
/// `printf` and `socat`. Status is not asked here: the daemon publishes it in a file (`StatusFile`).
///
/// A request gets one error, or one refusal, whatever it names, so its reply never costs more than
/// the request did; a release of `*` by root is the one reply of many datagrams.
///
///     .portreserve/1 release        .portreserve/1 release
///     cups                          released cups 631/tcp 631/udp
///     rsync                         unknown rsync
public enum RequestCodec {
    public static let prefix = ".portreserve/1 "
    /// Larger requests are refused; a name list this long is a mistake or an attack.
    public static let maximumRequestSize = 65536
    /// No reply datagram is larger (status replies are split to fit).
    public static let maximumReplySize = 65536

    /// The request in `payload`, or a message that says what is wrong with it.
    public static func decode(_ payload: [UInt8], truncated: Bool) -> Result<Request, RequestError> {
        if truncated || payload.count > maximumRequestSize {
            return .failure(RequestError("request larger than \(maximumRequestSize) bytes"))
        }
        guard let text = String(validating: payload, as: UTF8.self) else {
            return .failure(RequestError("request is not valid UTF-8"))
        }
        if text.hasPrefix(".") { return decodeVersioned(text) }
        // Legacy: the original portrelease sends the bare name; tolerate a trailing newline or NUL
        // from scripts that used echo or a C string length.
        var name = Substring(text)
        while let last = name.last, last == "\n" || last == "\0" || last == "\r" { name.removeLast() }
        if name.isEmpty { return .failure(RequestError("empty request")) }
        if let why = ServiceName.whyInvalid(name) { return .failure(RequestError(why)) }
        return .success(.legacyRelease(String(name)))
    }

    private static func decodeVersioned(_ text: String) -> Result<Request, RequestError> {
        var lines = text.fields(separatedBy: UInt8(ascii: "\n"), omittingEmpty: false)
        if lines.last == "" { lines.removeLast() }
        guard let header = lines.first, header.hasPrefix(prefix) else {
            return .failure(RequestError("unknown request format \"\(printable(text.prefix(while: { $0 != "\n" }).prefix(40)))\": expected \"\(prefix)OPERATION\""))
        }
        let operation = header.dropFirst(prefix.count)
        // A reply sent back to us (by a sender that named our own socket as its address) is never
        // read as a request, and never answered: two daemons, or one and itself, cannot ping-pong.
        if replyHeaders.contains(String(operation)) {
            return .failure(RequestError("a reply (\"\(operation)\"), not a request", isReply: true))
        }
        let arguments = lines.dropFirst()
        switch operation {
        case "release", "reclaim":
            guard !arguments.isEmpty else { return .failure(RequestError("\(operation) names no service")) }
            for name in arguments {
                if let why = ServiceName.whyInvalid(name) { return .failure(RequestError(why)) }
            }
            let names = arguments.map(String.init)
            return .success(operation == "release" ? .release(names) : .reclaim(names))
        case "reload":
            guard arguments.isEmpty else { return .failure(RequestError("reload takes no names")) }
            return .success(.reload)
        case "status":
            return .failure(RequestError("status is not served: portreserve status reads the file the daemon publishes"))
        default:
            return .failure(RequestError("unknown operation \"\(printable(operation.prefix(40)))\""))
        }
    }

    /// Why `name` cannot be sent in a request (a service name, or `*`), or nil; for clients to
    /// check before sending.
    public static func whyInvalid(name: String) -> String? {
        name == "*" ? nil : ServiceName.whyInvalid(name)
    }

    /// The headers of our replies (`.portreserve/1 HEADER`) that a request never has. The last
    /// datagram of a release reply is headed `release`, as the request is (0.1.0 chose so, and its
    /// clients read it): it decodes as a request, and `Daemon.mayAnswer` keeps the daemon from
    /// ever answering itself.
    static let replyHeaders = Set(ReplyHeader.allCases.filter { $0 != .release }.map(\.rawValue))

    /// The first line of every reply datagram, after the prefix: named once, for the daemon that
    /// writes them and the client that reads them.
    enum ReplyHeader: String, CaseIterable {
        case error, refused
        case releaseMore = "release more", release
        case reclaimedMore = "reclaimed more", reclaimed
        case reloaded
        /// 0.1.0 answered status requests on the socket; still never taken for a request.
        case statusMore = "status more", statusEnd = "status end"

        var line: String { prefix + rawValue }
        var bytes: [UInt8] { Array((line + "\n").utf8) }
    }

    /// What ends the reply to `request`, and what heads its other datagrams.
    private static func replyHeaders(of request: Request) -> (more: ReplyHeader, last: ReplyHeader)? {
        switch request {
        case .legacyRelease: nil  // never answered
        case .release: (.releaseMore, .release)
        case .reclaim: (.reclaimedMore, .reclaimed)
        case .reload: (.reloaded, .reloaded)
        }
    }

    /// Whether `payload` is the last datagram of the daemon's answer to `request`: the end of its
    /// reply, an error, or a refusal.
    public static func isLastReply(_ payload: [UInt8], to request: Request) -> Bool {
        if decodeFailure(payload) != nil { return true }
        guard let last = replyHeaders(of: request)?.last else { return false }
        return payload.starts(with: last.bytes)
    }

    /// Why the daemon would not answer, when `payload` says so: the request was malformed
    /// (`rejected`) or its sender may not make it (`refused`). Nil for any other datagram.
    public static func decodeFailure(_ payload: [UInt8]) -> ReplyFailure? {
        for header in [ReplyHeader.error, .refused] where payload.starts(with: header.bytes) {
            let message = printable(String(decoding: payload.dropFirst(header.bytes.count), as: UTF8.self)
                .trimmingCharacters(in: "\n"))
            return header == .error ? .rejected(message) : .refused(message)
        }
        return nil
    }

    public static func encode(_ request: Request) -> [UInt8] {
        switch request {
        case .legacyRelease(let name): return Array(name.utf8)
        case .release(let names): return Array((prefix + "release\n" + names.map { $0 + "\n" }.joined()).utf8)
        case .reclaim(let names): return Array((prefix + "reclaim\n" + names.map { $0 + "\n" }.joined()).utf8)
        case .reload: return Array((prefix + "reload\n").utf8)
        }
    }

    /// The reply to a release: one line per name, over as many datagrams as it takes (a release
    /// of `*` answers for every service). All but the last start `release more`.
    public static func encodeReleaseReply(_ results: [(String, ReleaseReply)]) -> [[UInt8]] {
        var reply = SplitReply(more: .releaseMore, last: .release)
        for (name, result) in results {
            switch result {
            case .released(let ports):
                reply.body.append("released ")
                reply.body.append(name)
                for port in ports {
                    reply.body.append(UInt8(ascii: " "))
                    reply.body.append(Int(port.port))
                    reply.body.append(UInt8(ascii: "/"))
                    reply.body.append(port.transport.rawValue)
                }
            case .alreadyReleased:
                reply.body.append("already-released ")
                reply.body.append(name)
            case .unknown:
                reply.body.append("unknown ")
                reply.body.append(name)
            }
            reply.endLine()
        }
        return reply.datagrams()
    }

    /// The reply to a reclaim, under a header of its own (`reclaimed`, all but the last datagram
    /// `reclaimed more`: never a request's header). A name's line lists the sockets held
    /// (`631/tcp/ipv4`), and each socket not held follows on a line of its own:
    /// `not-held NAME SOCKET SECONDS|- REASON`.
    public static func encodeReclaimReply(_ results: [(String, ReclaimReply)]) -> [[UInt8]] {
        var reply = SplitReply(more: .reclaimedMore, last: .reclaimed)
        for (name, result) in results {
            switch result {
            case .unknown:
                reply.body.append("unknown \(name)")
                reply.endLine()
            case .reclaimed(let held, let notHeld):
                reply.body.append("reclaimed \(name)" + held.map { " \($0.wireName)" }.joined())
                reply.endLine()
                for socket in notHeld {
                    reply.body.append("not-held \(name) \(socket.slot.wireName) \(socket.retryInSeconds.map(String.init) ?? "-") \(printable(socket.reason))")
                    reply.endLine()
                }
            }
        }
        return reply.datagrams()
    }

    /// A reply's lines, in datagrams of at most half the largest reply, each headed by
    /// `.portreserve/1 ` and `more`, the last by `last`: a client reads until it sees `last`.
    /// A line is written into `body` in place; `endLine()` moves it to a new datagram when it
    /// does not fit (a line is never split).
    struct SplitReply: ~Copyable {
        let more: ReplyHeader, last: ReplyHeader
        var body = ByteWriter(capacity: 256)
        private var full: [[UInt8]] = []
        private var lineStart = 0

        init(more: ReplyHeader, last: ReplyHeader) {
            self.more = more
            self.last = last
        }

        mutating func endLine() {
            body.append(UInt8(ascii: "\n"))
            if lineStart > 0 && body.count > maximumReplySize / 2 {
                let written = body.bytes
                full.append(more.bytes + written[..<lineStart])
                body = ByteWriter(capacity: maximumReplySize / 2)
                body.append(written[lineStart...])
            }
            lineStart = body.count
        }

        func datagrams() -> [[UInt8]] { full + [last.bytes + body.bytes] }
    }

    /// The answer to a reload, once the new configuration is in force: the STATUS= line after it.
    public static func encodeReloadReply(status: String) -> [UInt8] {
        ReplyHeader.reloaded.bytes + Array((printable(status) + "\n").utf8)
    }

    /// The status line of a reload's answer, or the daemon's error message.
    public static func decodeReloadReply(_ payloads: [[UInt8]]) -> Result<String, RequestError> {
        replyBody(payloads, more: .reloaded, last: .reloaded).map { $0.joined(separator: " ") }
    }

    public static func encodeError(_ error: RequestError) -> [UInt8] {
        ReplyHeader.error.bytes + Array((error.message + "\n").utf8)
    }

    /// The one answer to a request its sender may not make, whatever it names.
    public static func encodeRefusal(_ why: String) -> [UInt8] {
        ReplyHeader.refused.bytes + Array((why + "\n").utf8)
    }

    /// The per-name answers of a release reply in one or several datagrams, or the daemon's error message.
    public static func decodeReleaseReply(_ payloads: [[UInt8]]) -> Result<[(String, ReleaseReply)], RequestError> {
        let body: [ArraySlice<UInt8>]
        switch replyLines(payloads, more: .releaseMore, last: .release) {
        case .failure(let error): return .failure(error)
        case .success(let lines): body = lines
        }
        func malformed(_ line: ArraySlice<UInt8>) -> Result<[(String, ReleaseReply)], RequestError> {
            .failure(RequestError("malformed reply line \"\(printable(bytes: line.prefix(200)))\""))
        }
        var results: [(String, ReleaseReply)] = []
        results.reserveCapacity(body.count)
        for line in body {
            let words = line.split(separator: UInt8(ascii: " "))
            guard words.count >= 2 else { return malformed(line) }
            let name = String(decoding: words[1], as: UTF8.self)
            switch String(decoding: words[0], as: UTF8.self) {
            case "released":
                var ports: [PortKey] = []
                for word in words.dropFirst(2) {
                    guard let port = PortKey(bytes: word) else {
                        return .failure(RequestError("malformed port \"\(printable(bytes: word.prefix(40)))\" in reply"))
                    }
                    ports.append(port)
                }
                results.append((name, .released(ports)))
            case "already-released": results.append((name, .alreadyReleased))
            case "unknown": results.append((name, .unknown))
            default: return malformed(line)
            }
        }
        return .success(results)
    }

    /// The per-name answers of a reclaim reply, or the daemon's error message.
    public static func decodeReclaimReply(_ payloads: [[UInt8]]) -> Result<[(String, ReclaimReply)], RequestError> {
        let body: [Substring]
        switch replyBody(payloads, more: .reclaimedMore, last: .reclaimed) {
        case .failure(let error): return .failure(error)
        case .success(let lines): body = lines
        }
        var results: [(String, ReclaimReply)] = []
        for line in body {
            let words = line.fields(separatedBy: UInt8(ascii: " "))
            guard words.count >= 2 else { return .failure(RequestError("malformed reply line \"\(line)\"")) }
            let name = String(words[1])
            switch words[0] {
            case "unknown": results.append((name, .unknown))
            case "reclaimed":
                let held = words.dropFirst(2).compactMap { SocketSlot(wireName: $0) }
                guard held.count == words.count - 2 else { return .failure(RequestError("malformed reply line \"\(line)\"")) }
                results.append((name, .reclaimed(held: held, notHeld: [])))
            case "not-held":
                let parts = line.fields(separatedBy: UInt8(ascii: " "), maxSplits: 4, omittingEmpty: false)
                guard parts.count == 5, let slot = SocketSlot(wireName: parts[2]), parts[3] == "-" || Int(parts[3]) != nil,
                      let last = results.last, last.0 == name, case .reclaimed(let held, let notHeld) = last.1 else {
                    return .failure(RequestError("malformed reply line \"\(line)\""))
                }
                let socket = NotHeldSocket(slot: slot, reason: String(parts[4]), retryInSeconds: Int(parts[3]))
                results[results.count - 1] = (name, .reclaimed(held: held, notHeld: notHeld + [socket]))
            default: return .failure(RequestError("malformed reply line \"\(line)\""))
            }
        }
        return .success(results)
    }

    /// The lines of a reply split over datagrams: every datagram but the last headed `more`, the
    /// last `last`; an error reply becomes its message.
    private static func replyBody(_ payloads: [[UInt8]], more: ReplyHeader, last: ReplyHeader) -> Result<[Substring], RequestError> {
        replyLines(payloads, more: more, last: last).map { lines in lines.map { String(decoding: $0, as: UTF8.self)[...] } }
    }

    /// The lines of a reply's datagrams after their headers, as bytes: a reply to `*` at
    /// thousands of services is split and read as bytes, not Characters (see `fields`).
    private static func replyLines(_ payloads: [[UInt8]], more: ReplyHeader, last: ReplyHeader) -> Result<[ArraySlice<UInt8>], RequestError> {
        var body: [ArraySlice<UInt8>] = []
        for (index, payload) in payloads.enumerated() {
            var lines = payload.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            if lines.last?.isEmpty == true { lines.removeLast() }
            guard let header = lines.first else { return .failure(RequestError("empty reply")) }
            if header.elementsEqual(ReplyHeader.error.line.utf8) {
                return .failure(RequestError(lines.dropFirst().map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")))
            }
            let expected = (index == payloads.count - 1 ? last : more).line
            guard header.elementsEqual(expected.utf8) else {
                return .failure(RequestError("unexpected reply \"\(printable(bytes: header.prefix(60)))\""))
            }
            body += lines.dropFirst()
        }
        return .success(body)
    }
}

/// A request the daemon cannot act on, with the reason the sender is told.
public struct RequestError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    /// The datagram is one of our replies: dropped without an answer.
    public let isReply: Bool
    public init(_ message: String, isReply: Bool = false) {
        self.message = message
        self.isReply = isReply
    }
    public var description: String { message }
}

/// Why the daemon gave no per-name answer to a request.
public enum ReplyFailure: Equatable, Sendable {
    /// The request was malformed: the daemon's message.
    case rejected(String)
    /// Its sender may not make it: the daemon's reason.
    case refused(String)
}

extension String {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        String(drop(while: { $0 == character }).reversed().drop(while: { $0 == character }).reversed())
    }
}
