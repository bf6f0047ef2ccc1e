import SwiftUI

/// The demo app. Launched with `-benchmark NAMES` (the NeuroLiteBenchmark scheme, docs/mobile.md) it runs
/// the on-device benchmark instead of waiting for input, and writes Documents/neurolite-bench-*.json.
@main
struct NeuroLiteDemoApp: App {
    var body: some Scene {
        WindowGroup {
            if let request = BenchmarkRequest.fromLaunchArguments() {
                BenchmarkView(request: request)
            } else {
                ContentView()
            }
        }
    }
}
