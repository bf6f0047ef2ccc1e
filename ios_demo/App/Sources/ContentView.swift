import NeuroLite
import SwiftUI

/// The same screen as the Android demo: pick a bundle, type or paste text, see the label, every label's
/// probability and the time of each stage. A refused bundle (bad checksum, missing file, newer schema, a
/// format without a runtime here, labels that disagree with the model) shows its message, never a crash.
struct ContentView: View {
    @State private var bundles = AppBundles.all()
    @State private var selected: URL?
    @State private var predictor: Predictor?
    @State private var info = ""
    @State private var error: String?
    @State private var text = "a gorgeous , witty , seductive movie ."
    @State private var result: ([Prediction], StageTimes)?
    @State private var selfTest: SelfTestReport?
    @State private var busy = false

    var body: some View {
        NavigationStack {
            Form {
                if bundles.isEmpty {
                    Text("No bundle in the app's Bundles folder: copy one there (docs/mobile.md, step 2) and rebuild.")
                        .foregroundStyle(.red)
                }
                Picker("Bundle", selection: $selected) {
                    ForEach(bundles, id: \.self) { Text($0.lastPathComponent).tag(Optional($0)) }
                }
                .onChange(of: selected) { _, url in if let url { Task { await open(url) } } }
                if !info.isEmpty { Text(info).font(.footnote) }
                Section("Text") {
                    TextEditor(text: $text).frame(minHeight: 90)
                    HStack {
                        Button("Predict") { run { (try $0.predictTimed([text]), nil) } }
                        Spacer()
                        Button("Self-test") { run { (nil, try SelfTest.run($0)) } }
                    }
                    .disabled(busy || predictor == nil)
                }
                if let error { Text(error).foregroundStyle(.red) }
                if let result, let top = result.0.first {
                    let times = result.1
                    Section("Result") {
                        Text("\(top.label)  \(String(format: "%.1f", top.score * 100)) %").font(.title2.bold())
                        if top.truncated { Text("The text is longer than the model reads: its first tokens were used.").font(.footnote) }
                        ForEach(Array(top.probabilities.enumerated()), id: \.offset) { _, item in
                            let (label, p) = item
                            HStack {
                                Text(label).frame(width: 90, alignment: .leading)
                                ProgressView(value: p)
                                Text(String(format: "%.1f %%", p * 100)).monospacedDigit()
                            }
                        }
                        Text(String(format: "featurizer %.3f ms · graph %.3f ms · post %.3f ms · total %.3f ms",
                                    times.featurizeMs, times.graphMs, times.postMs, times.totalMs))
                            .font(.footnote.monospaced())
                    }
                }
                if let selfTest {
                    Text(selfTest.passed ? "Self-test passed: \(selfTest.cases) cases, max |Δlogit| \(selfTest.maxAbsLogit)"
                                         : "Self-test FAILED: " + selfTest.failures.joined(separator: "\n"))
                        .foregroundStyle(selfTest.passed ? Color.green : Color.red)
                }
            }
            .navigationTitle("NeuroLite")
            .task { if selected == nil { selected = bundles.first } }
        }
    }

    private func open(_ url: URL) async {
        busy = true
        defer { busy = false }
        predictor = nil
        result = nil
        selfTest = nil
        let started = Date()
        do {
            let opened = try await Predictor.open(try BundleReader.read(url), registry: AppBundles.registry)
            predictor = opened
            error = nil
            info = "\(opened.bundle.format) on \(opened.runner.runtime), \(opened.labels.count) labels, "
                + "\(opened.bundle.maxLength) tokens; verified and loaded in \(Int(Date().timeIntervalSince(started) * 1000)) ms"
        } catch {
            self.error = "\(error)"
            info = ""
        }
    }

    private func run(_ work: @escaping (Predictor) throws -> (([Prediction], StageTimes)?, SelfTestReport?)) {
        guard let predictor else { return }
        busy = true
        Task.detached {
            let outcome = Result { try work(predictor) }
            await MainActor.run {
                busy = false
                switch outcome {
                case let .success((prediction, report)):
                    if let prediction { result = prediction }
                    if let report { selfTest = report }
                    error = nil
                case let .failure(failure):
                    error = "\(failure)"
                }
            }
        }
    }
}
