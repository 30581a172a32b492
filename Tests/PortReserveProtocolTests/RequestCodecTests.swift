import Testing
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

@testable import PortReserveProtocol

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
        for request in [Request.release(["cups", "rsync"]), .release(["*"]), .reclaim(["cups"])] {
            #expect(RequestCodec.decode(RequestCodec.encode(request), truncated: false) == .success(request))
        }
        #expect(decode(".portreserve/1 release\ncups\nrsync\n") == .success(.release(["cups", "rsync"])))
    }

    @Test(arguments: [
        ("", "empty request"),
        ("\n", "empty request"),
        ("two words", "service name \"two words\" contains spaces, control or format characters"),
        ("evil\u{202E}txt", "service name \"evil\\u{202E}txt\" contains spaces, control or format characters"),
        ("\u{1B}[2Jx", "service name \"\\u{1B}[2Jx\" contains spaces, control or format characters"),
        ("a/b", "service name \"a/b\" contains /"),
        (".portreserve/1 release\n", "release names no service"),
        (".portreserve/1 release\nok\nbad name\n", "service name \"bad name\" contains spaces, control or format characters"),
        (".portreserve/1 status\n", "status is not served: portreserve status reads the file the daemon publishes"),
        (".portreserve/1 explode\u{1B}]0;x\u{7}\n", "unknown operation \"explode\\u{1B}]0;x\\u{7}\""),
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
            ("nfs", .unknown),
        ]
        let decoded = try RequestCodec.decodeReleaseReply(RequestCodec.encodeReleaseReply(replies)).get()
        #expect(decoded.map(\.0) == replies.map(\.0))
        #expect(decoded.map(\.1) == replies.map(\.1))
    }

    /// A reclaim's reply has a header of its own, which no request has: sent back to the daemon, it
    /// is dropped as a reply, never read as a reclaim.
    @Test func reclaimRepliesRoundTripAndAreNeverRequests() throws {
        let replies: [(String, ReclaimReply)] = [
            ("statd", .reclaimed(held: [SocketSlot(PortKey(662, .tcp), .ipv4), SocketSlot(PortKey(662, .tcp), .ipv6)], notHeld: [
                NotHeldSocket(slot: SocketSlot(PortKey(662, .udp), .ipv4), reason: "Address already in use", retryInSeconds: 2),
                NotHeldSocket(slot: SocketSlot(PortKey(662, .udp), .ipv6), reason: "released for another service", retryInSeconds: nil),
            ])),
            ("nis", .reclaimed(held: [], notHeld: [])), ("nfs", .unknown),
        ]
        let encoded = RequestCodec.encodeReclaimReply(replies)
        let decoded = try RequestCodec.decodeReclaimReply(encoded).get()
        #expect(decoded.map(\.0) == replies.map(\.0))
        #expect(decoded.map(\.1) == replies.map(\.1))
        guard case .failure(let error) = RequestCodec.decode(encoded[0], truncated: false) else {
            Issue.record("a reclaim reply was read as a request")
            return
        }
        #expect(error.isReply)
        // A release decoder refuses it rather than misreading it.
        #expect(throws: RequestError.self) { try RequestCodec.decodeReleaseReply(encoded).get() }
    }

    @Test func aReleaseOfThousandsIsAnsweredInDatagramsThatFit() throws {
        let replies: [(String, ReleaseReply)] = (0..<10_000).map { index in
            let result: ReleaseReply = switch index % 3 {
            case 0: .released([PortKey(UInt16(10000 + index % 50000), .tcp), PortKey(UInt16(1 + index % 1023), .udp)])
            case 1: .alreadyReleased
            default: .unknown
            }
            return ("service\(index)", result)
        }
        let chunks = RequestCodec.encodeReleaseReply(replies)
        #expect(chunks.count > 1)
        #expect(chunks.allSatisfy { $0.count <= RequestCodec.maximumReplySize })
        // Every line whole, in order, in exactly one datagram.
        let decoded = try RequestCodec.decodeReleaseReply(chunks).get()
        #expect(decoded.map(\.0) == replies.map(\.0))
        #expect(decoded.map(\.1) == replies.map(\.1))
        #expect(chunks.allSatisfy { $0.last == UInt8(ascii: "\n") })
        // A reply missing its last part is not taken for a whole one.
        #expect(throws: RequestError.self) { try RequestCodec.decodeReleaseReply(Array(chunks.dropLast())).get() }
    }

    @Test func errorRepliesCarryTheMessage() {
        let payload = RequestCodec.encodeError(RequestError("unknown operation \"x\""))
        #expect(throws: RequestError("unknown operation \"x\"")) { try RequestCodec.decodeReleaseReply([payload]).get() }
    }

    @Test func repliesAreNeverTakenForRequests() {
        for header in ["error", "refused", "release more", "status end", "status more"] {
            let result = decode(".portreserve/1 \(header)\nwhatever\n")
            guard case .failure(let error) = result else {
                Issue.record("\(header) was decoded as a request")
                continue
            }
            #expect(error.isReply)
        }
        guard case .failure(let error) = decode(".portreserve/1 explode\n") else { return }
        #expect(!error.isReply)
    }

    @Test func oneRefusalWhateverTheRequestNames() {
        let payload = RequestCodec.encodeRefusal("only root may release ports (sender uid 1000)")
        #expect(String(decoding: payload, as: UTF8.self) == ".portreserve/1 refused\nonly root may release ports (sender uid 1000)\n")
    }

    /// The client reads until the daemon's answer ends: the last datagram of the reply to its own
    /// request, an error or a refusal; never a datagram headed for another request.
    @Test func aReloadNamesNothingAndIsAnsweredInOneDatagram() {
        #expect(RequestCodec.encode(.reload) == Array(".portreserve/1 reload\n".utf8))
        #expect(decode(".portreserve/1 reload\n") == .success(.reload))
        #expect(decode(".portreserve/1 reload\ncups\n") == .failure(RequestError("reload takes no names")))
        let reply = RequestCodec.encodeReloadReply(status: "Holding 4 sockets on 2 ports for 1 services, 0 retrying")
        #expect(RequestCodec.isLastReply(reply, to: .reload) && !RequestCodec.isLastReply(reply, to: .release(["x"])))
        #expect(RequestCodec.decodeReloadReply([reply]) == .success("Holding 4 sockets on 2 ports for 1 services, 0 retrying"))
        // A reply sent back to the daemon is never taken for a request.
        #expect(decode(String(decoding: reply, as: UTF8.self)) == .failure(RequestError("a reply (\"reloaded\"), not a request", isReply: true)))
    }

    @Test func theClientKnowsTheLastDatagramOfEachAnswer() {
        let release = RequestCodec.encodeReleaseReply((0..<2000).map { ("service\($0)", ReleaseReply.alreadyReleased) })
        #expect(release.count > 1)
        #expect(release.map { RequestCodec.isLastReply($0, to: .release(["*"])) } == Array(repeating: false, count: release.count - 1) + [true])
        #expect(!RequestCodec.isLastReply(release.last!, to: .reclaim(["*"])))
        let reclaim = RequestCodec.encodeReclaimReply([("cups", .unknown)])
        #expect(RequestCodec.isLastReply(reclaim[0], to: .reclaim(["cups"])) && !RequestCodec.isLastReply(reclaim[0], to: .release(["cups"])))
        let refusal = RequestCodec.encodeRefusal("only root may release ports (sender uid 1000)")
        #expect(RequestCodec.isLastReply(refusal, to: .release(["cups"])))
        #expect(RequestCodec.decodeFailure(refusal) == .refused("only root may release ports (sender uid 1000)"))
        #expect(RequestCodec.decodeFailure(RequestCodec.encodeError(RequestError("bad\u{1}name"))) == .rejected("bad\\u{1}name"))
        #expect(RequestCodec.decodeFailure(release[0]) == nil)
    }
}
