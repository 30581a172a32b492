import SystemCalls
import Testing

/// The daemon gives freed heap pages back after start-up: the call must really release them.
@Suite struct MemoryTests {
    @Test func freedHeapPagesGoBackToTheKernel() {
        // 64 KiB blocks come from the heap (below glibc's mmap threshold); freed, their pages
        // stay resident until trimmed.
        var blocks: [[UInt8]] = (0..<256).map { _ in [UInt8](repeating: 1, count: 64 << 10) }
        #expect(blocks.count == 256)
        blocks = []
        #expect(returnFreedHeapMemory())
    }
}
