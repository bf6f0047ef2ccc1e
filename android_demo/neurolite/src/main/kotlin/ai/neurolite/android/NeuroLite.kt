package ai.neurolite.android

import ai.neurolite.Bundle
import ai.neurolite.BundleException
import ai.neurolite.BundleProblem
import ai.neurolite.BundleReader
import ai.neurolite.Predictor
import android.content.Context
import android.content.res.AssetManager
import java.io.File
import java.io.IOException

/**
 * The entry point an app calls: install a bundle shipped in the APK's assets (or use one on disk),
 * verify it (manifest, SHA-256 of every file, featurizer spec and digest, labels) and open it on the
 * runtime its format needs.
 *
 *     val predictor = NeuroLite.open(context, "bundles/sst2-tflite")
 *     val label = predictor.predict(listOf("a gorgeous , witty , seductive movie .")).first().label
 */
object NeuroLite {
    /** Open the bundle at assets/[assetDir] (copied once to the app's files; the runtimes read files). */
    @JvmStatic
    @JvmOverloads
    fun open(context: Context, assetDir: String, threads: Int = 2): Predictor =
        open(install(context, assetDir), threads)

    /**
     * Open a bundle directory on disk (downloaded, or pushed with adb). An orbital8 bundle in the load form is
     * rebuilt into [rebuildDir] (default: inside the bundle directory; give the app's own storage, e.g.
     * `File(context.noBackupFilesDir, "neurolite-rebuilt")`, when the app cannot write there).
     */
    @JvmStatic
    @JvmOverloads
    fun open(dir: File, threads: Int = 2, rebuildDir: File? = null): Predictor =
        Predictor.open(BundleReader.read(dir, rebuildDir), AndroidRuntimes.registry(), threads)

    /** Read and verify only (for showing what a bundle is before loading it). */
    @JvmStatic
    @JvmOverloads
    fun read(dir: File, rebuildDir: File? = null): Bundle = BundleReader.read(dir, rebuildDir)

    /** The bundle directories under assets/[parent] (those holding a manifest.json). */
    @JvmStatic
    fun assetBundles(context: Context, parent: String = "bundles"): List<String> =
        (context.assets.list(parent) ?: emptyArray()).sorted().map { "$parent/$it" }
            .filter { (context.assets.list(it) ?: emptyArray()).contains(BundleReader.MANIFEST_NAME) }

    /**
     * Copy assets/[assetDir] to files/neurolite/[assetDir] unless an identical copy is there (same
     * manifest bytes; the manifest holds every file's SHA-256, which the reader verifies anyway). The copy
     * is made in a temporary directory and renamed into place, so a killed copy is never mistaken for a
     * bundle.
     */
    @JvmStatic
    fun install(context: Context, assetDir: String): File {
        val target = File(File(context.filesDir, "neurolite"), assetDir)
        val assets = context.assets
        val manifest = try {
            assets.open("$assetDir/${BundleReader.MANIFEST_NAME}").use { it.readBytes() }
        } catch (e: IOException) {
            throw BundleException(BundleProblem.MANIFEST_MISSING, "assets/$assetDir/${BundleReader.MANIFEST_NAME}: " +
                "missing; copy the bundle directory into app/src/main/assets/$assetDir (docs/mobile.md)")
        }
        val installed = File(target, BundleReader.MANIFEST_NAME)
        if (installed.isFile && installed.readBytes().contentEquals(manifest)) return target
        val staging = File(target.parentFile, ".${target.name}.partial")
        staging.deleteRecursively()
        copyAssets(assets, assetDir, staging)
        val retired = File(target.parentFile, ".${target.name}.old")
        retired.deleteRecursively()
        if (target.exists() && !target.renameTo(retired)) throw IOException("cannot replace $target")
        if (!staging.renameTo(target)) throw IOException("cannot move $staging to $target")
        retired.deleteRecursively()
        return target
    }

    private fun copyAssets(assets: AssetManager, path: String, out: File) {
        val children = assets.list(path) ?: emptyArray()
        if (children.isEmpty()) {  // a file (the asset manager lists files as empty directories)
            out.parentFile?.mkdirs()
            assets.open(path).use { input -> out.outputStream().use { input.copyTo(it, 1 shl 20) } }
            return
        }
        out.mkdirs()
        for (child in children) copyAssets(assets, "$path/$child", File(out, child))
    }
}
