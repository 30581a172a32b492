import Testing

@testable import PortReserveCore

@Suite struct RequestCodecTests {
    func decode(_ text: String) -> Result<Request, RequestError> {
        RequestCodec.decode(Array(text.utf8), truncated: false)
    }

    @Test func legacyDatagramsAreABareName() {
        #expect(decode("cups") == .success(.legacyRelease("cups")))
        #expect(decode("*") == .success(.legacyRelease("*")))
        #expect(decode("cups\n") == .success(.legacyRelease("cups")))
        #expect(RequestCodec.decode(Array("cups".utf8) + [0], truncated: false) == .success(.legacyRelease("cups")))
    }

    @Test func versionedRequestsRoundTrip() {
        for request in [Request.release(["cups", "rsync"]), .release(["*"]), .status, .reclaim(["cups"])] {
            #expect(RequestCodec.decode(RequestCodec.encode(request), truncated: false) == .success(request))
        }
        #expect(decode(".portreserve/1 release\ncups\nrsync\n") == .success(.release(["cups", "rsync"])))
    }

    @Test(arguments: [
        ("", "empty request"),
        ("\n", "empty request"),
        ("two words", "service name \"two words\" contains spaces or control characters"),
        ("a/b", "service name \"a/b\" contains /"),
        (".portreserve/1 release\n", "release names no service"),
        (".portreserve/1 release\nok\nbad name\n", "service name \"bad name\" contains spaces or control characters"),
        (".portreserve/1 status\nextra\n", "status takes no arguments"),
        (".portreserve/1 explode\n", "unknown operation \"explode\""),
        (".portreserve/2 release\ncups\n", "unknown request format \".portreserve/2 release\": expected \".portreserve/1 OPERATION\""),
        (String(repeating: "x", count: 256), "service name longer than 255 bytes"),
    ])
    func badRequestsSayWhy(text: String, message: String) {
        #expect(decode(text) == .failure(RequestError(message)))
    }

    @Test func invalidUTF8AndOversizeAreRefused() {
        #expect(RequestCodec.decode([0x63, 0xFF], truncated: false) == .failure(RequestError("request is not valid UTF-8")))
        #expect(RequestCodec.decode(Array("cups".utf8), truncated: true)
            == .failure(RequestError("request larger than 65536 bytes")))
    }

    @Test func releaseRepliesRoundTrip() throws {
        let replies: [(String, ReleaseReply)] = [
            ("cups", .released([PortKey(631, .tcp), PortKey(631, .udp)])), ("rsync", .alreadyReleased),
            ("nfs", .unknown), ("ypbind", .refused("only root may release ports (sender uid 1000)")),
            ("statd", .reclaimed(held: [PortKey(662, .tcp)], notHeld: [PortKey(662, .udp)])), ("nis", .reclaimed(held: [], notHeld: [])),
        ]
        let decoded = try RequestCodec.decodeReleaseReply(RequestCodec.encodeReleaseReply(replies)).get()
        #expect(decoded.map(\.0) == replies.map(\.0))
        #expect(decoded.map(\.1) == replies.map(\.1))
    }

    @Test func aReleaseOfThousandsIsAnsweredInDatagramsThatFit() throws {
        let replies: [(String, ReleaseReply)] = (0..<10_000).map { ("service\($0)", .released([PortKey(UInt16(10000 + $0 % 50000), .tcp)])) }
        let chunks = RequestCodec.encodeReleaseReply(replies)
        #expect(chunks.count > 1)
        #expect(chunks.allSatisfy { $0.count <= RequestCodec.maximumReplySize })
        let decoded = try RequestCodec.decodeReleaseReply(chunks).get()
        #expect(decoded.count == 10_000)
        #expect(decoded.last?.0 == "service9999")
        // A reply missing its last part is not taken for a whole one.
        #expect(throws: RequestError.self) { try RequestCodec.decodeReleaseReply(Array(chunks.dropLast())).get() }
    }

    @Test func errorRepliesCarryTheMessage() {
        let payload = RequestCodec.encodeError(RequestError("unknown operation \"x\""))
        #expect(throws: RequestError("unknown operation \"x\"")) { try RequestCodec.decodeReleaseReply(payload).get() }
    }

    @Test func largeStatusIsSplitIntoDatagramsThatEachFit() {
        let rows = (0..<3000).map {
            StatusRow(service: "service\($0)", port: PortKey(UInt16(10000 + $0), .tcp), family: .ipv4,
                      state: .held(3), sharedWith: [], since: 1_700_000_000)
        }
        let chunks = StatusCodec.encode(summary: .init(ports: 3000, services: 3000, conflicts: 0), rows: rows)
        #expect(chunks.count > 1)
        #expect(chunks.allSatisfy { $0.count <= RequestCodec.maximumReplySize })
        #expect(chunks.dropLast().allSatisfy { $0.starts(with: Array(".portreserve/1 status more\n".utf8)) })
        #expect(chunks.last!.starts(with: Array(".portreserve/1 status end\n".utf8)))
        let lines = chunks.flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n").dropFirst() }
        #expect(lines.count == 3001)
        #expect(lines[1] == "row service0 10000/tcp ipv4 held 1700000000 - -")
    }
}
