import Testing

@testable import PortReserveProtocol

@Suite struct ByteWriterTests {
    @Test(arguments: [0, 7, 10, 99, 100, 1_700_000_000, -1, -10, Int.max, Int.min])
    func numbersAreWrittenAsDecimal(number: Int) {
        var writer = ByteWriter(capacity: 0)
        writer.append(number)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == String(number))
    }

    @Test func textAndBytesFollowEachOther() {
        var writer = ByteWriter(capacity: 4)
        writer.append("row ")
        writer.append("cups-ü"[...])
        writer.append(UInt8(ascii: " "))
        writer.append(631)
        writer.append(Array("/tcp".utf8)[...])
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "row cups-ü 631/tcp")
        #expect(writer.count == writer.bytes.count)
    }
}

extension ByteWriterTests {
    @Test func itGrowsPastItsCapacityAndKeepsEverything() {
        var writer = ByteWriter(capacity: 1)
        var expected = ""
        for number in 0..<20_000 {
            writer.append(number)
            writer.append(" ")
            expected += "\(number) "
        }
        #expect(writer.bytes == Array(expected.utf8))
    }
}
