// The demo app: type or paste text, see the label, the probabilities and the time of each stage; and the
// on-device benchmark entry point (BenchmarkActivity, started with adb: docs/mobile.md).
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "ai.neurolite.demo"
    compileSdk = libs.versions.compileSdk.get().toInt()

    defaultConfig {
        applicationId = "ai.neurolite.demo"
        minSdk = libs.versions.minSdk.get().toInt()
        targetSdk = libs.versions.targetSdk.get().toInt()
        versionCode = 1
        versionName = "0.1.0"
        // ExecuTorch's AAR ships arm64-v8a and x86_64 (emulator) only.
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"))
            // A benchmark build must be installable with adb: sign release with the debug key here, or with yours.
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    buildFeatures {
        compose = true
    }

    // Bundles are copied from the APK to files/ once; storing them uncompressed makes that a plain copy.
    androidResources {
        noCompress += listOf("tflite", "onnx", "pte", "json")
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
    implementation(project(":neurolite"))
    // The runtimes the demo's bundles need; an app keeps only those of the formats it ships.
    implementation(libs.litert)
    implementation(libs.onnxruntime.android)
    implementation(libs.executorch.android)

    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.kotlinx.coroutines.android)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
}
