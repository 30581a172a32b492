extension StringProtocol where SubSequence == Substring {
    /// Splits at an ASCII byte, comparing bytes rather than Characters, as `split` with
    /// `maxSplits` and `omittingEmptySubsequences` would. The wire formats are lines of
    /// space-separated fields, and `split(separator: Character)` walks them grapheme by grapheme:
    /// decoding a release reply for 1,000 services cost `portrelease` 41M instructions (callgrind),
    /// longer than the daemon took to close their 4,000 sockets; the generic `utf8.split` still
    /// cost 16M. A field never ends in a combining mark that would have fused with the separator:
    /// names are checked (`ServiceName`) and every free text is escaped (`printable`).
    func fields(separatedBy separator: UInt8, maxSplits: Int = .max, omittingEmpty: Bool = true) -> [Substring] {
        let whole = self[...]
        let bytes = whole.utf8
        var fields: [Substring] = []
        var start = bytes.startIndex, index = start
        while index != bytes.endIndex {
            if bytes[index] == separator && fields.count < maxSplits {
                if !omittingEmpty || start != index { fields.append(whole[start..<index]) }
                start = bytes.index(after: index)
            }
            index = bytes.index(after: index)
        }
        if !omittingEmpty || start != bytes.endIndex { fields.append(whole[start..<bytes.endIndex]) }
        return fields
    }
}
