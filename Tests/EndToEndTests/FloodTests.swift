import Foundation
import SystemCalls
import Testing
import TestSupport

/// Hostile traffic while real work goes on: the daemon must stay up, answer every valid release
/// right, and neither grow nor leak descriptors. PORTRESERVE_SOAK_SECONDS turns the fixed
/// 100,000 datagrams into a soak of that many seconds (the documented long run).
@Suite struct FloodTests {
    @Test func aFloodOfMixedDatagramsChangesNothingButWhatWasAskedFor() throws {
        let ports = unusedPorts(21)
        var files = ["keeper": "\(ports[20])\n"]
        for index in 0..<20 { files["svc\(index)"] = "\(ports[index])\n" }
        let daemon = try RunningDaemon(files)
        try daemon.waitUntilReady()
        let pid = daemon.process.processIdentifier
        let warmup = try Flood(socketPath: daemon.socketPath, senders: 1)
        warmup.run(datagrams: 2_000, seconds: nil)
        let baselineMemory = try residentKiB(of: pid)
        let baselineDescriptors = try openDescriptors(of: pid)

        let soakSeconds = ProcessInfo.processInfo.environment["PORTRESERVE_SOAK_SECONDS"].flatMap(Double.init)
        let flood = try Flood(socketPath: daemon.socketPath, senders: 4)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            flood.run(datagrams: 100_000, seconds: soakSeconds)
            done.signal()
        }
        // Meanwhile, the real work: every release answered right and its port free at once.
        var failures: [String] = []
        for index in 0..<20 {
            let result = try daemon.portrelease(["svc\(index)"])
            if result.status != 0 { failures.append("svc\(index): \(result)") }
            if !isFree(ports[index]) { failures.append("svc\(index): port \(ports[index]) still taken") }
            let status = try run(product("portreserve"), ["status", "--socket", daemon.socketPath])
            if status.status != 0 { failures.append("status: \(status)") }
        }
        done.wait()
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(flood.sent >= 100_000 || soakSeconds != nil)
        #expect(daemon.process.isRunning)
        #expect(isHeld(ports[20]))
        // The published status is still whole after the flood (the releases above show it answers).
        #expect(try run(product("portreserve"), ["status", "--socket", daemon.socketPath]).status == 0)
        let descriptors = try openDescriptors(of: pid)
        let listing = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").sorted()) ?? []
        // Exactly the 20 released services' sockets (4 each) are gone, and nothing else changed.
        #expect(descriptors == baselineDescriptors - 80, "\(baselineDescriptors) before, \(descriptors) after: \(listing)")
        let grown = try residentKiB(of: pid) - baselineMemory
        #expect(grown < 4096, "VmRSS grew by \(grown) KiB")
    }
}

/// Senders of mixed datagrams: garbage, oversized, unknown operations, status requests and legacy
/// releases of names nobody configured, from several sockets at once. Replies are drained.
final class Flood: @unchecked Sendable {
    let socketPath: String
    let senders: Int
    private let lock = NSLock()
    private var count = 0
    var sent: Int { lock.withLock { count } }

    init(socketPath: String, senders: Int) throws {
        self.socketPath = socketPath
        self.senders = senders
    }

    func run(datagrams: Int, seconds: Double?) {
        let deadline = seconds.map { Date().addingTimeInterval($0) }
        let group = DispatchGroup()
        for sender in 0..<senders {
            group.enter()
            Thread.detachNewThread { [self] in
                defer { group.leave() }
                guard let fd = try? makeUnixDatagramSocket() else { return }
                defer { closeDescriptor(fd) }
                try? bindUnix(fd, to: UnixAddress(pathBytes: []))
                let payloads: [[UInt8]] = [
                    [], [0xC3, 0x28, 0xFF], Array(".portreserve/1 explode\n".utf8), Array(".portreserve/1 status\n".utf8),
                    Array("nobody-has-this-\(sender)".utf8), Array(repeating: 0x41, count: 70_000),
                    Array(".portreserve/1 release\n\n".utf8), Array("two words".utf8),
                ]
                var index = 0
                while true {
                    if let deadline { if Date() >= deadline { break } } else if index >= datagrams / senders { break }
                    _ = try? sendDatagram(fd, payloads[index % payloads.count], to: UnixAddress(path: socketPath))
                    while (try? receiveDatagram(fd, capacity: 65_536, wait: false)) ?? nil != nil {}
                    index += 1
                }
                lock.withLock { count += index }
            }
        }
        group.wait()
    }
}

func residentKiB(of pid: pid_t) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
}

/// The daemon's open descriptors once it is idle: the same count read twice, 50 ms apart (a
/// reading taken while it publishes its status or talks to the service manager counts a
/// descriptor that is gone a moment later).
func openDescriptors(of pid: pid_t) throws -> Int {
    var last = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
    for _ in 0..<40 {
        usleep(50_000)
        let now = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        if now == last { return now }
        last = now
    }
    return last
}
