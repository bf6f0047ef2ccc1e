// NeuroLite Android: the library an app engineer depends on (:neurolite) and the demo app (:app).
// Written for Android Gradle Plugin 9.0 (built-in Kotlin), Gradle 9.1, JDK 17: see docs/mobile.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "neurolite-android"
include(":neurolite", ":app")
