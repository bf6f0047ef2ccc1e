import Foundation
import NeuroLite
import NeuroLiteExecuTorch

/// The bundles shipped in the app (the Bundles folder reference) and the runtimes this app links.
enum AppBundles {
    static var registry: RunnerRegistry { RunnerRegistry([CoreMLRunnerFactory(), ExecuTorchRunnerFactory()]) }
    static let runtimes = ["coreml": ProcessInfo.processInfo.operatingSystemVersionString, "executorch": "1.5.1"]

    /// Every directory of Bundles/ that holds a manifest.json, by name.
    static func all() -> [URL] {
        guard let root = Bundle.main.resourceURL?.appendingPathComponent("Bundles"),
              let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        return names.sorted().map { root.appendingPathComponent($0) }
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent(BundleReader.manifestName).path) }
    }

    /// A bundle by name (a directory of Bundles/) or by absolute path.
    static func url(_ name: String) -> URL {
        name.hasPrefix("/") ? URL(fileURLWithPath: name)
            : (Bundle.main.resourceURL ?? URL(fileURLWithPath: "/")).appendingPathComponent("Bundles/\(name)")
    }
}
