import Foundation
import SystemCalls
import SystemPackage
import Testing
import TestSupport

@testable import Systemd

/// These tests point NOTIFY_SOCKET, a process-wide variable, at a socket of their own, so they run one at a time.
@Suite(.serialized)
final class NotifyTests {
    let directory: TemporaryDirectory
    let receiver: CInt

    init() throws {
        directory = try TemporaryDirectory("notify")
        receiver = try boundDatagramSocket(at: directory.path + "/notify")
        setenv("NOTIFY_SOCKET", directory.path + "/notify", 1)
    }

    deinit {
        unsetenv("NOTIFY_SOCKET")
        closeDescriptor(receiver)
    }

    private func nextMessage() throws -> ReceivedDatagram {
        try #require(try receive(on: receiver, within: 5))
    }

    private func text(_ datagram: ReceivedDatagram) -> String { String(decoding: datagram.payload, as: UTF8.self) }

    @Test func readyAndStatusTravelAsOneDatagram() throws {
        let outcome = try ServiceManager.notify([.ready, .status("Holding 4 ports for 2 services, 0 conflicts")])
        #expect(outcome == .sent)
        #expect(text(try nextMessage()) == "READY=1\nSTATUS=Holding 4 ports for 2 services, 0 conflicts")
    }

    @Test func eachMessageHasItsProtocolLine() throws {
        try ServiceManager.notify([.stopping, .errno(98), .mainPID(4242), .custom(name: "WATCHDOG", value: "1"), .custom(name: "X_PORTRESERVE", value: "1")])
        #expect(text(try nextMessage()) == "STOPPING=1\nERRNO=98\nMAINPID=4242\nWATCHDOG=1\nX_PORTRESERVE=1")
    }

    @Test func statusLineBreaksAreFolded() throws {
        try ServiceManager.notify(.status("two\nlines"))
        #expect(text(try nextMessage()) == "STATUS=two lines")
    }

    /// Every line break Unicode knows is folded, ASCII or not; a line without one is kept as it is.
    @Test(arguments: ["\n", "\r", "\r\n", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}"])
    func everyKindOfLineBreakIsFolded(lineBreak: String) {
        #expect(NotifyMessage.singleLine("a\(lineBreak)b") == "a b")
        #expect(NotifyMessage.singleLine("é\(lineBreak)b") == "é b")
        #expect(NotifyMessage.singleLine("Holding 4 sockets on 2 ports, 0 retrying") == "Holding 4 sockets on 2 ports, 0 retrying")
        #expect(NotifyMessage.singleLine("tab\tkept, é kept") == "tab\tkept, é kept")
    }

    @Test func reloadingCarriesTheMonotonicClock() throws {
        var before = timespec()
        clock_gettime(CLOCK_MONOTONIC, &before)
        try ServiceManager.notify([ServiceManager.reloading()])
        var after = timespec()
        clock_gettime(CLOCK_MONOTONIC, &after)
        let lines = text(try nextMessage()).split(separator: "\n")
        #expect(lines.first == "RELOADING=1")
        let stamp = try #require(lines.last.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) })
        #expect(lines.last?.hasPrefix("MONOTONIC_USEC=") == true)
        let microseconds = { (time: timespec) in UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1_000 }
        #expect(stamp >= microseconds(before) && stamp <= microseconds(after))
    }

    @Test func storedDescriptorArrivesAndWorks() throws {
        // A bound, never-listened TCP socket: the case that needs FDPOLL=0.
        let tcp = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
        defer { close(tcp) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(tcp, $0, length)
                _ = getsockname(tcp, $0, &length)
            }
        }
        try ServiceManager.notify([.fdStore(name: "cups-631-tcp-ipv4", poll: false)], descriptors: [FileDescriptor(rawValue: tcp)])
        let message = try nextMessage()
        #expect(text(message) == "FDSTORE=1\nFDNAME=cups-631-tcp-ipv4\nFDPOLL=0")
        #expect(message.descriptors.count == 1)
        let received = try #require(message.descriptors.first)
        defer { close(received) }
        // The received descriptor is the same socket: it reports the same bound port.
        var seen = sockaddr_in()
        var seenLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &seen) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(received, $0, &seenLength) }
        }
        #expect(seen.sin_port == address.sin_port && seen.sin_port != 0)
    }

    @Test func storeRemovalNamesTheEntry() throws {
        try ServiceManager.notify(.fdStoreRemove(name: "cups-631-tcp-ipv4"))
        #expect(text(try nextMessage()) == "FDSTOREREMOVE=1\nFDNAME=cups-631-tcp-ipv4")
    }

    @Test(arguments: ["", "has:colon", "tab\there", String(repeating: "x", count: 256)])
    func invalidDescriptorNamesAreRefusedBeforeSending(name: String) throws {
        #expect(throws: NotifyError.invalidName("FDNAME=\(name)", reason: "1-255 printable ASCII characters, no colon")) {
            try ServiceManager.notify(.fdStore(name: name, poll: true))
        }
        #expect(try receive(on: receiver, within: 0.05) == nil)
    }

    /// NOTIFY_SOCKET naming a socket that is not there (the manager is gone, or the variable is
    /// stale) is an error that says which call failed and why, not a crash and not "sent".
    @Test func aMissingNotifySocketIsAnErrorThatSaysSo() throws {
        setenv("NOTIFY_SOCKET", directory.path + "/gone", 1)
        #expect(throws: NotifyError.self) { try ServiceManager.notify(.ready) }
        do {
            try ServiceManager.notify(.ready)
        } catch {
            guard case .system(let failure) = error else {
                Issue.record("expected the call's failure, got \(error)")
                return
            }
            #expect(failure.call == "sd_pid_notify_with_fds" && failure.errno == ENOENT, "\(failure)")
        }
    }

    @Test func noServiceManagerIsNotAnError() throws {
        unsetenv("NOTIFY_SOCKET")
        #expect(try ServiceManager.notify(.ready) == .noServiceManager)
        #expect(try ServiceManager.barrier() == .noServiceManager)
    }

    @Test func unsettingTheEnvironmentLeavesLaterCallsSilent() throws {
        #expect(try ServiceManager.notify([.ready], unsetEnvironment: true) == .sent)
        #expect(getenv("NOTIFY_SOCKET") == nil)
        #expect(text(try nextMessage()) == "READY=1")
    }

    @Test func barrierWaitsForTheManagerToCloseItsPipe() throws {
        let finished = Flag()
        Thread.detachNewThread {
            finished.value = (try? ServiceManager.barrier(timeout: .seconds(5))) == .sent
        }
        let message = try nextMessage()
        #expect(text(message) == "BARRIER=1")
        #expect(message.descriptors.count == 1)
        #expect(!finished.value)
        message.descriptors.forEach { close($0) }
        #expect(eventually { finished.value })
    }
}

private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = false
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
