import Testing

@testable import PortReserveProtocol

/// `fields` must split exactly as the standard library's `split` does on an ASCII separator.
@Suite struct SplittingTests {
    @Test(arguments: ["", " ", "a", "a b", " a  b ", "released cups 631/tcp 631/udp", "ü é\u{301} x", "\n\na\n", "a\r\nb"])
    func fieldsAreWhatSplitGives(text: String) {
        for separator in [" ", "\n", "/"] as [Character] {
            let byte = separator.asciiValue!
            for maxSplits in [0, 1, 2, Int.max] {
                for omitting in [true, false] {
                    let expected = text.utf8.split(separator: byte, maxSplits: maxSplits, omittingEmptySubsequences: omitting).map { String(Substring($0)) }
                    #expect(text.fields(separatedBy: byte, maxSplits: maxSplits, omittingEmpty: omitting).map(String.init) == expected,
                            "\(text.debugDescription) split at \(separator.debugDescription), maxSplits \(maxSplits), omitting \(omitting)")
                }
            }
        }
    }
}
