import Foundation
import Testing

import PortReserveProtocol
@testable import PortReserveCore

/// Every seed and every input a fuzzer ever crashed on (Tests/Fuzz/regressions) goes through the
/// same checks as in the fuzz targets, in the ordinary test run.
@Suite struct FuzzRegressionTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ target: String) -> [(String, [UInt8])] {
        ["corpus", "regressions"].flatMap { kind -> [(String, [UInt8])] in
            let directory = fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.sorted().compactMap { name in
                (try? Data(contentsOf: directory.appendingPathComponent(name))).map { ("\(kind)/\(name)", Array($0)) }
            }
        }
    }

    @Test func theSeedCorporaAreThere() {
        #expect(Self.inputs("request").count >= 5)
        #expect(Self.inputs("config").count >= 3)
    }

    @Test func requestInputsDecodeAndSurviveEncoding() {
        for (name, bytes) in Self.inputs("request") {
            if case .success(let request) = RequestCodec.decode(bytes, truncated: false) {
                if case .legacyRelease = request { continue }
                #expect(RequestCodec.decode(RequestCodec.encode(request), truncated: false) == .success(request), "\(name)")
            }
            _ = RequestCodec.decodeReleaseReply([bytes])
            _ = RequestCodec.decodeReclaimReply([bytes])
        }
    }

    @Test func configurationInputsGiveAnEntryOrAProblemPerLine() {
        let loader = ConfigurationLoader(directories: [], servicesDatabase: testDatabase)
        for (name, bytes) in Self.inputs("config") {
            let (entries, problems) = loader.parse(bytes, file: name)
            let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
            #expect(entries.allSatisfy { (1...lines).contains($0.line) && !$0.ports.contains { $0.port == 0 } }, "\(name)")
            #expect(problems.allSatisfy { $0.line.map { (1...lines).contains($0) } ?? false }, "\(name)")
        }
    }
}
