import Foundation
import SystemCalls

/// Where `swift build` put the executables: beside the test bundle that is running.
public let productsDirectory: String = {
    if let override = ProcessInfo.processInfo.environment["PORTRESERVE_PRODUCTS"] { return override }
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (executable as NSString).deletingLastPathComponent
}()

/// The path of the built executable `name`.
public func product(_ name: String) -> String { productsDirectory + "/" + name }

/// What a finished child process left.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String
}

/// Runs `executable` to completion. `environment` replaces the inherited one when given;
/// `adding` is merged into whichever environment is used.
public func run(
    _ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
    adding extra: [String: String] = [:]
) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = (environment ?? ProcessInfo.processInfo.environment).merging(extra) { _, new in new }
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes to the end before waiting, so a chatty child never blocks on a full pipe.
    let errorData = DataBox()
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        errorData.data = error.fileHandleForReading.readDataToEndOfFile()
        done.signal()
    }
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    done.wait()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus,
        standardOutput: String(decoding: outputData, as: UTF8.self),
        standardError: String(decoding: errorData.data, as: UTF8.self))
}

/// Handed from the reading thread to the waiting one; the semaphore orders the accesses.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// A directory that lives as long as the value, for sockets and configuration of one test.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ prefix: String = "portreserve-test") throws {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError(call: "mkdtemp", errno: errno) }
        path = String(cString: made)
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    @discardableResult
    public func write(_ name: String, _ contents: String) throws -> String {
        let file = path + "/" + name
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: file, atomically: false, encoding: .utf8)
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Waits up to `seconds` for `condition`, checking every few milliseconds. For waiting on another
/// process's progress; never a timing assertion.
public func eventually(within seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(5_000)
    }
    return try condition()
}

/// Receives one datagram on `fd`, waiting at most `seconds`; nil when nothing came. A wait cut short
/// by a signal goes on for the time left, and a failed poll throws: neither is "nothing came".
public func receive(on fd: CInt, within seconds: Double = 10, capacity: Int = 1 << 20) throws -> ReceivedDatagram? {
    let deadline = monotonicSeconds() + seconds
    while true {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, CInt(max(0, (deadline - monotonicSeconds()) * 1000)))
        if ready > 0 { return try receiveDatagram(fd, capacity: capacity) }
        if ready == 0 { return nil }
        let code = errno
        if code != EINTR { throw SystemError(call: "poll", subject: "fd \(fd)", errno: code) }
    }
}

/// A Unix datagram socket bound to `path`, for tests that play the other side of a protocol.
public func boundDatagramSocket(at path: String) throws -> CInt {
    let fd = try makeUnixDatagramSocket()
    try bindUnix(fd, to: UnixAddress(path: path))
    return fd
}

/// A Unix datagram socket at an autobound abstract address, as portrelease binds: the daemon
/// answers only such addresses.
public func autoboundDatagramSocket() throws -> CInt {
    let fd = try makeUnixDatagramSocket()
    try bindUnix(fd, to: UnixAddress(pathBytes: []))
    return fd
}

/// Whether tests that need root (namespaces, other users, ports below 1024) can run here.
public let runningAsRoot = getuid() == 0
