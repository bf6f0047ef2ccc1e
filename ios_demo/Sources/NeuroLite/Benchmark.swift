import Foundation

/// The on-device benchmark: the figures `neurolite bench` takes for a bundle on the host, written as rows
/// of its results schema (neurolite-bench/1) plus a device record, the same document the Android library
/// writes (DeviceBenchmark.kt). Bring the file back and run `neurolite bench --from-device FILE.json`.
public struct BenchmarkOptions: Sendable {
    public var runs = 50, warmup = 10, threads = 2, throughputBatch = 16, throughputRuns = 10
    public init() {}
}

public final class DeviceBenchmark {
    let registry: RunnerRegistry
    let options: BenchmarkOptions

    public init(registry: RunnerRegistry, options: BenchmarkOptions) {
        self.registry = registry
        self.options = options
    }

    /// numpy.percentile's default (linear interpolation between closest ranks).
    public static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let rank = q / 100 * Double(sorted.count - 1)
        let low = Int(rank.rounded(.down)), high = Int(rank.rounded(.up))
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - Double(low))
    }

    public static func latency(_ seconds: [Double]) -> [String: Any] {
        let ms = seconds.map { $0 * 1e3 }.sorted()
        let p10 = percentile(ms, 10), median = percentile(ms, 50), p90 = percentile(ms, 90)
        return ["median_ms": median, "p10_ms": p10, "p90_ms": p90, "mean_ms": ms.reduce(0, +) / Double(ms.count),
                "min_ms": ms[0], "runs": ms.count, "spread": p10 > 0 ? (p90 / p10) as Any : NSNull() as Any, "busy": p10 > 0 && p90 / p10 > 1.5]
    }

    static func timed(_ warmup: Int, _ runs: Int, _ call: (Int) throws -> Void) rethrows -> [Double] {
        for i in 0..<warmup { try call(i) }
        return try (0..<runs).map { i in
            let start = DispatchTime.now().uptimeNanoseconds
            try call(i)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
    }

    /// The process's physical footprint and its peak (Mach TASK_VM_INFO; the peak is not resettable), in MB.
    static func footprint() -> (current: Double, peak: Double)? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<natural_t>.size)
        let status = withUnsafeMutablePointer(to: &info) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        guard status == KERN_SUCCESS else { return nil }
        return (Double(info.phys_footprint) / 1_048_576, Double(info.ledger_phys_footprint_peak) / 1_048_576)
    }

    /// Benchmark texts of at least `length` tokens: the vectors' texts joined in turn (as `neurolite bench` joins eval texts).
    static func texts(_ sources: [String], length: Int, featurizer: Featurizer, count: Int = 16) throws -> [String] {
        let usable = try sources.filter { !(try featurizer.tokenize($0)).isEmpty }
        guard !usable.isEmpty else { throw NeuroLiteError.input("no text with tokens to benchmark with") }
        var out: [String] = [], next = 0
        while out.count < count {
            var parts: [String] = [], tokens = 0
            while tokens < length {
                let text = usable[next % usable.count]
                next += 1
                parts.append(text)
                tokens += try featurizer.tokenize(text).count
            }
            out.append(parts.joined(separator: " "))
        }
        return out
    }

    /// One results row for the bundle in `directory`; a bad bundle gives a failed (or skipped) row, never a throw.
    public func measure(_ directory: URL) async -> [String: Any] {
        var row: [String: Any] = ["id": "checkpoint/\(directory.lastPathComponent)/unknown/none/1", "group": "checkpoint",
                                  "model": directory.lastPathComponent, "family": "neurolite", "backbone": "unknown",
                                  "format": "unknown", "quantize": "none", "length": 1, "weights": "trained",
                                  "params": NSNull(), "flops": NSNull(), "size_bytes": NSNull(), "status": "failed",
                                  "reason": NSNull(), "measurement": NSNull(), "bundle": directory.path]
        let before = DeviceBenchmark.footprint()
        let started = DispatchTime.now().uptimeNanoseconds
        let bundle: NeuroLiteBundle
        do { bundle = try BundleReader.read(directory) } catch {
            row["reason"] = "\(error)"
            return row
        }
        let backbone = (bundle.manifest["config"] as? [String: Any])?["backbone"] as? String ?? "unknown"
        row.merge(["id": "checkpoint/\(bundle.modelName)/\(bundle.format)/\(bundle.quantize)/\(bundle.maxLength)",
                   "model": bundle.modelName, "backbone": backbone, "format": bundle.format, "quantize": bundle.quantize,
                   "length": bundle.maxLength, "size_bytes": bundle.sizeBytes]) { $1 }
        let predictor: Predictor
        do { predictor = try await Predictor.open(bundle, registry: registry, threads: options.threads) } catch {
            row["status"] = (error as? NeuroLiteError)?.problem == .format ? "skipped" : "failed"
            row["reason"] = "\(error)"
            return row
        }
        do {
            let load = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let report = try SelfTest.run(predictor)
            row["self_test"] = report.dictionary
            guard report.passed else {
                row["reason"] = "self-test: \(report.failures.count) failure(s); first: \(report.failures[0])"
                return row
            }
            let vectors = try SelfTest.readVectors(bundle)
            let texts = try DeviceBenchmark.texts((vectors["cases"] as! [[String: Any]]).map { $0["text"] as! String },
                                                  length: bundle.maxLength, featurizer: predictor.featurizer)
            let first = try predictor.featurize([texts[0]])
            let plan = try Planner.plan(bundle.signatures, batch: first.batch, length: first.length)
            let graph = try DeviceBenchmark.timed(options.warmup, options.runs) { _ in
                for (signature, step) in plan { _ = try predictor.runner.run(signature, Planner.pad(first, step)) }
            }
            let endToEnd = try DeviceBenchmark.timed(options.warmup, options.runs) { i in _ = try predictor.predict([texts[i % texts.count]]) }
            let many = try predictor.featurize((0..<options.throughputBatch).map { texts[$0 % texts.count] })
            let throughput = try DeviceBenchmark.timed(1, options.throughputRuns) { _ in _ = try predictor.logits(many) }
            let throughputMs = DeviceBenchmark.latency(throughput)["median_ms"] as! Double
            let after = DeviceBenchmark.footprint()
            var memory: [String: Any] = ["peak_increase_mb": NSNull(), "method": "unavailable"]
            if let b = before, let a = after {
                memory = ["peak_increase_mb": max(0, a.peak - b.current), "before_load_mb": b.current, "peak_mb": a.peak,
                          "method": "phys_footprint peak (TASK_VM_INFO ledger) minus the footprint before the load; not resettable, so one bundle per launch"]
            }
            row["status"] = "ok"
            row["measurement"] = [
                "status": "ok", "threads": options.threads, "load_s": load, "signature": plan[0].0.name,
                "latency": DeviceBenchmark.latency(graph), "end_to_end": DeviceBenchmark.latency(endToEnd),
                "throughput": ["batch": options.throughputBatch, "median_ms": throughputMs,
                               "items_per_s": Double(options.throughputBatch) / (throughputMs / 1e3)],
                "memory": memory, "versions": ["runtime": predictor.runner.runtime, "featurizer": Featurizer.version],
                "self_test": report.dictionary,
            ] as [String: Any]
        } catch {
            row["status"] = "failed"
            row["measurement"] = NSNull()
            row["reason"] = "\(error)"
        }
        return row
    }

    /// The results document: `neurolite bench`'s schema plus the device record.
    public func document(rows: [[String: Any]], device: [String: Any], command: String, wallSeconds: Double) -> [String: Any] {
        var versions = device["runtimes"] as? [String: Any] ?? [:]
        versions["neurolite-featurizer"] = Featurizer.version
        let length = rows.compactMap { $0["length"] as? Int }.max() ?? 1
        let formatter = ISO8601DateFormatter()
        return ["schema": "neurolite-bench/1", "created": formatter.string(from: Date()), "command": command,
                "machine": ["cpu": (device["soc"] as? String) ?? (device["model"] as? String) ?? "unknown", "cores": ProcessInfo.processInfo.processorCount,
                            "threads": options.threads, "platform": "\(device["os"] ?? "") \(device["os_version"] ?? "")",
                            "versions": versions, "load_average": [Double]()],
                "settings": ["threads": options.threads, "length": length, "runs": options.runs, "warmup": options.warmup,
                             "quick": false, "throughput_batch": options.throughputBatch],
                "gemm": ["status": "skipped", "reason": "the matrix-multiply peak is not measured on devices"],
                "rows": rows, "wall_s": wallSeconds, "device": device]
    }
}
