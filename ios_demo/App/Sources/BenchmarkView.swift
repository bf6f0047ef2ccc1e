import Foundation
import NeuroLite
import SwiftUI

/// What to benchmark, from the launch arguments (read through UserDefaults' argument domain):
/// `-benchmark all|NAME,NAME` `-runs 50` `-warmup 10` `-threads 2` `-out FILE.json`.
struct BenchmarkRequest {
    var bundles: [URL]
    var options = BenchmarkOptions()
    var out: String

    static func fromLaunchArguments() -> BenchmarkRequest? {
        let defaults = UserDefaults.standard
        guard let names = defaults.string(forKey: "benchmark") else { return nil }
        var options = BenchmarkOptions()
        if defaults.object(forKey: "runs") != nil { options.runs = defaults.integer(forKey: "runs") }
        if defaults.object(forKey: "warmup") != nil { options.warmup = defaults.integer(forKey: "warmup") }
        if defaults.object(forKey: "threads") != nil { options.threads = defaults.integer(forKey: "threads") }
        let bundles = names == "all" ? AppBundles.all()
            : names.split(separator: ",").map { AppBundles.url(String($0).trimmingCharacters(in: .whitespaces)) }
        let out = defaults.string(forKey: "out") ?? "neurolite-bench-\(Int(Date().timeIntervalSince1970)).json"
        return BenchmarkRequest(bundles: bundles, options: options, out: out)
    }
}

/// Runs the benchmark (DeviceBenchmark) over the requested bundles and writes the results JSON, in
/// `neurolite bench`'s schema plus the device record, to Documents/OUT; prints NEUROLITE_BENCH_DONE PATH
/// to the console (Xcode's debug area) when done.
struct BenchmarkView: View {
    let request: BenchmarkRequest
    @State private var status = "starting"

    var body: some View {
        Text(status).padding().task { await run() }
    }

    private func run() async {
        let started = Date()
        let benchmark = DeviceBenchmark(registry: AppBundles.registry, options: request.options)
        var rows: [[String: Any]] = []
        for url in request.bundles {
            status = "measuring \(url.lastPathComponent)"
            let row = await benchmark.measure(url)
            print("NeuroLiteBench \(row["id"] ?? ""): \(row["status"] ?? "") \(row["reason"] ?? "")")
            rows.append(row)
        }
        let command = "NeuroLiteBenchmark scheme: " + ProcessInfo.processInfo.arguments.dropFirst().joined(separator: " ")
        let document = benchmark.document(rows: rows, device: DeviceInfo.record(runtimes: AppBundles.runtimes),
                                          command: command, wallSeconds: Date().timeIntervalSince(started))
        do {
            let folder = try FileManager.default.url(for: .documentDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            let file = folder.appendingPathComponent(request.out)
            let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: file, options: .atomic)
            print("NEUROLITE_BENCH_DONE \(file.path)")
            status = "done: \(rows.filter { $0["status"] as? String == "ok" }.count) of \(rows.count) measured\n\(file.path)"
        } catch {
            status = "cannot write the results: \(error)"
        }
    }
}
