/// Appends text and decimal numbers to a growing byte buffer, for the wire formats written on
/// every change (the status file after every batch of requests, the replies). The generic ways
/// cost 150-600 instructions a field under callgrind: `Array.append(contentsOf:)` checks
/// uniqueness and capacity through generic code each time, and a number turned round in place
/// goes through a generic slice. Here the buffer is raw memory grown by doubling, a string is
/// copied from its contiguous UTF-8, and a number's digits are written backwards into a stack
/// buffer. Not copyable: the buffer has one owner, freed once.
struct ByteWriter: ~Copyable {
    private var start: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        start = .allocate(capacity: self.capacity)
    }

    deinit { start.deallocate() }

    /// A copy of what was written.
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: start, count: count)) }

    private mutating func reserve(_ more: Int) {
        guard count + more > capacity else { return }
        let grown = max(capacity * 2, count + more)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        moved.initialize(from: start, count: count)
        start.deallocate()
        (start, capacity) = (moved, grown)
    }

    private mutating func append(_ buffer: UnsafeBufferPointer<UInt8>) {
        reserve(buffer.count)
        if let base = buffer.baseAddress { (start + count).initialize(from: base, count: buffer.count) }
        count += buffer.count
    }

    mutating func append(_ byte: UInt8) {
        reserve(1)
        (start + count).initialize(to: byte)
        count += 1
    }

    mutating func append(_ more: some Collection<UInt8>) {
        if more.withContiguousStorageIfAvailable({ append($0) }) == nil { for byte in more { append(byte) } }
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append($0) }
    }

    mutating func append(_ text: Substring) {
        var text = text
        text.withUTF8 { append($0) }
    }

    mutating func append(_ number: Int) {
        if number < 0 { append(UInt8(ascii: "-")) }
        var rest = number.magnitude
        // UInt.max has 20 digits.
        reserve(20)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var first = digits.count
            repeat {
                first -= 1
                digits[first] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            } while rest > 0
            append(UnsafeBufferPointer(rebasing: digits[first...]))
        }
    }
}
