import Foundation

public struct SelfTestReport: Sendable {
    public let cases: Int, maxAbsLogit: Double, tolerance: Double, failures: [String]
    public var passed: Bool { failures.isEmpty }
    public var dictionary: [String: Any] {
        ["passed": passed, "cases": cases, "max_abs_logit": maxAbsLogit, "tolerance": tolerance, "failures": failures]
    }
}

/// The bundle's end-to-end vectors (test_vectors.json, docs/bundle.md): the check runtime/selftest.py and
/// the Android library run, on this device.
public enum SelfTest {
    public static func readVectors(_ bundle: NeuroLiteBundle) throws -> [String: Any] {
        let at = bundle.directory.appendingPathComponent("test_vectors.json").path
        guard let name = bundle.manifest["test_vectors"] as? String else {
            throw NeuroLiteError.bundle(.testVectors, "\(bundle.directory.path): the bundle carries no test vectors (exported before they existed); export it again")
        }
        guard name == "test_vectors.json", (bundle.manifest["files"] as? [String: Any])?[name] != nil else {
            throw NeuroLiteError.bundle(.testVectors, "\(bundle.directory.path): manifest test_vectors '\(name)' is not a listed file")
        }
        guard let data = try? Data(contentsOf: bundle.directory.appendingPathComponent(name)),
              let document = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              document["format"] as? String == "neurolite-test-vectors/1" else {
            throw NeuroLiteError.bundle(.testVectors, "\(at): unreadable, or format is not 'neurolite-test-vectors/1'")
        }
        guard document["featurizer_digest"] as? String == bundle.featurizerDigest else {
            throw NeuroLiteError.bundle(.testVectors, "\(at): featurizer_digest differs from the manifest's featurizer")
        }
        guard let cases = document["cases"] as? [[String: Any]], !cases.isEmpty,
              cases.allSatisfy({ c in ["text", "features", "mask", "logits", "label"].allSatisfy { c[$0] != nil } }) else {
            throw NeuroLiteError.bundle(.testVectors, "\(at): cases: expected a non-empty list of text, features, mask, logits and label")
        }
        return document
    }

    public static func run(_ predictor: Predictor) throws -> SelfTestReport {
        let document = try readVectors(predictor.bundle)
        let tolerance = ((document["tolerance"] as? [String: Any])?["max_abs_logit"] as? Double) ?? 1e-4
        let cases = document["cases"] as! [[String: Any]]
        var failures: [String] = []
        for (i, c) in cases.enumerated() {
            let text = c["text"] as! String
            let alone = try predictor.featurizer.featurize([text])
            let features = (c["features"] as! [[NSNumber]]).map { $0.map(\.int32Value) }
            let mask = (c["mask"] as! [NSNumber]).map(\.floatValue)
            if alone.row(0) != features || alone.maskRow(0) != mask {
                failures.append("cases[\(i)] '\(text.prefix(40))': features differ from the bundle's vectors")
            }
        }
        let logits = try predictor.logits(try predictor.featurize(cases.map { $0["text"] as! String }))
        var worst = 0.0
        for (i, c) in cases.enumerated() {
            let expected = (c["logits"] as! [NSNumber]).map(\.doubleValue)
            let row = logits[i].map(Double.init)
            guard row.count == expected.count else {
                failures.append("cases[\(i)]: \(row.count) logits, the vectors have \(expected.count)")
                worst = .infinity
                continue
            }
            let delta = zip(row, expected).map { abs($0 - $1) }.max() ?? 0
            worst = max(worst, delta)
            let text = (c["text"] as! String).prefix(40)
            if delta > tolerance { failures.append("cases[\(i)] '\(text)': max |delta logit| \(delta) > \(tolerance)") }
            let label = predictor.labels[row.firstIndex(of: row.max()!)!]
            if label != c["label"] as? String { failures.append("cases[\(i)] '\(text)': label '\(label)', expected '\(c["label"] ?? "")'") }
        }
        return SelfTestReport(cases: cases.count, maxAbsLogit: worst, tolerance: tolerance, failures: failures)
    }
}
