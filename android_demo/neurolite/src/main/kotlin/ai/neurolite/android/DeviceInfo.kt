package ai.neurolite.android

import ai.neurolite.Featurizer
import android.os.Build

/** The device record of the benchmark results (benchmarks/device.py): what the figures were measured on. */
object DeviceInfo {
    @JvmStatic
    fun record(): Map<String, Any?> {
        val soc = if (Build.VERSION.SDK_INT >= 31) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}".trim() else null
        return linkedMapOf(
            "name" to "${Build.MODEL} (${Build.DEVICE})",
            "platform" to "android",
            "manufacturer" to Build.MANUFACTURER,
            "model" to Build.MODEL,
            "os" to "Android",
            "os_version" to "${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})",
            "abi" to (Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown"),
            "soc" to soc?.takeIf { it.isNotEmpty() },
            "runtimes" to AndroidRuntimes.versions() + ("neurolite-featurizer" to Featurizer.version),
            "fingerprint" to Build.FINGERPRINT
        )
    }
}
