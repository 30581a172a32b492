import SystemCalls
import Testing

/// The daemon gives freed heap pages back after start-up: the call must really release them.
@Suite struct MemoryTests {
    @Test func freedHeapPagesGoBackToTheKernel() {
        // 64 KiB blocks come from the heap (below glibc's mmap threshold); freed, their pages stay
        // resident until trimmed. malloc_trim works on every thread's heap, so a daemon started by
        // a test running beside this one may trim them first: each round frees fresh pages, and
        // one round in five finding them is the check.
        var released = false
        for _ in 0..<5 where !released {
            var blocks: [[UInt8]] = (0..<256).map { _ in [UInt8](repeating: 1, count: 64 << 10) }
            #expect(blocks.count == 256)
            blocks = []
            released = returnFreedHeapMemory()
        }
        #expect(released)
    }
}
