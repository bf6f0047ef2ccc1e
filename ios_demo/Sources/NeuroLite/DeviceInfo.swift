import Foundation
#if canImport(UIKit)
import UIKit
#endif

/// The device record of the benchmark results (benchmarks/device.py).
public enum DeviceInfo {
    /// The hardware identifier, e.g. "iPhone16,1" (uname's machine).
    public static var machine: String {
        var info = utsname()
        uname(&info)
        return withUnsafeBytes(of: &info.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    @MainActor
    public static func record(runtimes: [String: String]) -> [String: Any] {
        #if canImport(UIKit)
        let name = "\(UIDevice.current.model) (\(machine))"
        let os = UIDevice.current.systemName, version = UIDevice.current.systemVersion
        #else
        let name = "Mac (\(machine))"
        let os = "macOS", version = ProcessInfo.processInfo.operatingSystemVersionString
        #endif
        var all = runtimes
        all["neurolite-featurizer"] = Featurizer.version
        return ["name": name, "platform": "ios", "manufacturer": "Apple", "model": machine, "os": os, "os_version": version,
                "abi": machine.hasPrefix("x86") ? "x86_64" : "arm64", "soc": NSNull(), "runtimes": all]
    }
}
