// The NeuroLite Android library: bundle reader, featurizer (the portable C core through JNI), planner,
// predictor, self-test and on-device benchmark; runners for LiteRT, ONNX Runtime and ExecuTorch.
//
// The runtimes are compileOnly: an app adds the ones its bundles need (docs/mobile.md), and a bundle of a
// format whose runtime is absent is refused with a message naming the formats the app can run.
plugins {
    alias(libs.plugins.android.library)
}

android {
    namespace = "ai.neurolite"
    compileSdk = libs.versions.compileSdk.get().toInt()
    ndkVersion = libs.versions.ndk.get()

    defaultConfig {
        minSdk = libs.versions.minSdk.get().toInt()
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64", "x86")
        }
        externalNativeBuild {
            cmake {
                arguments += listOf("-DANDROID_STL=none")
            }
        }
        // The runtime versions this library was written against, recorded in benchmark results.
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
        buildConfigField("String", "ONNXRUNTIME_VERSION", "\"${libs.versions.onnxruntime.get()}\"")
        buildConfigField("String", "EXECUTORCH_VERSION", "\"${libs.versions.executorch.get()}\"")
    }

    buildFeatures {
        buildConfig = true
    }

    externalNativeBuild {
        cmake {
            path = file("src/main/cpp/CMakeLists.txt")
            version = libs.versions.cmake.get()
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    compileOnly(libs.litert)
    compileOnly(libs.onnxruntime.android)
    compileOnly(libs.executorch.android)
}
