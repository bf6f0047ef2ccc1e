import XCTest
@testable import NeuroLite

/// The golden vectors (tests/golden/featurizer_v1.json, linked here) through the C target and the Swift
/// wrapper: `swift test` on a Mac. Cases whose text holds a lone surrogate are left to the UTF-8 bytes
/// cases: a Swift String cannot hold one (decoding repairs it to U+FFFD).
final class GoldenTests: XCTestCase {
    func testGoldenCases() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "golden/featurizer_v1", withExtension: "json"))
        let golden = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let configs = try XCTUnwrap(golden["configs"] as? [String: [String: Any]])
        var featurizers: [String: Featurizer] = [:]
        for (name, config) in configs {
            let keys = ["num_buckets", "num_hashes", "word_hashes", "ngram_min", "ngram_max", "max_length", "seed", "version"]
            let spec = Dictionary(uniqueKeysWithValues: keys.map { ($0, config[$0]!) })
            let json = String(decoding: try JSONSerialization.data(withJSONObject: spec, options: [.sortedKeys]), as: UTF8.self)
            let featurizer = try Featurizer(configJSON: json)
            XCTAssertEqual(featurizer.digest, config["digest"] as? String, name)
            featurizers[name] = featurizer
        }
        var checked = 0
        for case let c as [String: Any] in golden["cases"] as! [Any] {
            guard let text = c["text"] as? String, !(text as NSString).containsLoneSurrogate else { continue }
            let featurizer = featurizers[c["config"] as! String]!
            let batch = try featurizer.featurize([text])
            XCTAssertEqual(batch.row(0), (c["features"] as! [[NSNumber]]).map { $0.map(\.int32Value) }, c["name"] as! String)
            XCTAssertEqual(batch.maskRow(0), (c["mask"] as! [NSNumber]).map(\.floatValue))
            XCTAssertEqual(try featurizer.tokenize(text), c["tokens"] as! [String])
            checked += 1
        }
        for case let c as [String: Any] in golden["bytes_cases"] as! [Any] {
            let hex = c["hex"] as! String
            let bytes = Data(stride(from: 0, to: hex.count, by: 2).map {
                UInt8(hex[hex.index(hex.startIndex, offsetBy: $0)..<hex.index(hex.startIndex, offsetBy: $0 + 2)], radix: 16)!
            })
            let batch = try featurizers[c["config"] as! String]!.featurize(utf8: [bytes])
            XCTAssertEqual(batch.row(0), (c["features"] as! [[NSNumber]]).map { $0.map(\.int32Value) }, c["name"] as! String)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 100)
    }
}

private extension NSString {
    var containsLoneSurrogate: Bool {
        var i = 0
        while i < length {
            let unit = character(at: i)
            if (0xD800...0xDBFF).contains(unit), i + 1 < length, (0xDC00...0xDFFF).contains(character(at: i + 1)) {
                i += 2
                continue
            }
            if (0xD800...0xDFFF).contains(unit) { return true }
            i += 1
        }
        return false
    }
}
