"""The Android library's non-Android code on the host JVM (issue: android_demo/ and ios_demo/).

The JNI binding is built with gcc against native/src (the same C core the NDK build compiles), the
library's platform-free Kotlin sources (android_demo/neurolite/src/main/kotlin/ai/neurolite/*.kt) and
the host test program (src/hostTest) with kotlinc, and the program runs on the host JVM:
golden featurizer vectors through JNI, bundles exported by the ``exports`` fixture read and verified
by the Kotlin reader, its planner against runtime/planner.py, its end-to-end predictor and self-test
against the bundle's own runtime (a Python process standing where the phone's runtime stands), the
benchmark JSON, and refusals of corrupted bundles compared in kind with the Python runtime's.

Needs a JDK (java, and its JNI headers), kotlinc and a C compiler: on Debian ``apt-get install
default-jdk-headless kotlin gcc`` (``.ci/run`` installs them). Without them the test is skipped with
the reason, except under CI (``CI`` set), where a missing tool is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from neurolite_sdk.benchmarks.device import validate_device_results
from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.runtime import load
from neurolite_sdk.runtime.bundle import SCHEMA_VERSION, read_bundle
from neurolite_sdk.runtime.planner import plan

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "android_demo" / "neurolite" / "src"
CORE_KT = LIBRARY / "main" / "kotlin" / "ai" / "neurolite"
HOST_KT = LIBRARY / "hostTest" / "kotlin" / "ai" / "neurolite" / "host"
JNI_C = LIBRARY / "main" / "cpp" / "neurolite_jni.c"
NATIVE = ROOT / "native"
GOLDEN = ROOT / "tests" / "golden" / "featurizer_v1.json"
RUNNER = ROOT / "tests" / "android_host_runner.py"
APT_PACKAGES = "default-jdk-headless kotlin gcc"
EXTERNAL_FUN = re.compile(r"external fun (native\w+)\(")

# The Python runtime's refusal messages, by the kind the Kotlin reader reports (BundleProblem).
PYTHON_KINDS = {
    "CHECKSUM": "SHA-256 does not match",
    "FILE_MISSING": "listed in manifest.json but missing from the bundle",
    "FILE_TRUNCATED": ": truncated: ",
    "SCHEMA_NEWER": "is newer than this SDK reads",
    "LABELS": ": labels: ",
    "FORMAT": "this SDK has no runtime backend for it",
    "FEATURIZER": "featurizer",
    "MANIFEST_MISSING": "manifest.json: missing",
}


def _tools() -> dict[str, str]:
    """java, kotlinc, gcc and the JDK's include directory; skip (or fail under CI) when one is missing."""
    found = {name: shutil.which(name) for name in ("java", "kotlinc", "gcc")}
    include = None
    if found["java"]:
        home = Path(os.environ.get("JAVA_HOME") or Path(os.path.realpath(found["java"])).parents[1])
        include = home / "include"
        if not (include / "jni.h").is_file():
            include = None
    missing = [name for name, path in found.items() if not path] + ([] if include else ["jni.h (a JDK, not a JRE)"])
    if missing:
        message = (f"Android host tests need {', '.join(missing)}: apt-get install -y {APT_PACKAGES}")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {**{k: v for k, v in found.items() if v}, "include": str(include)}


@pytest.fixture(scope="session")
def host_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """libneurolite_jni.so (gcc, host) and host.jar (kotlinc), cached by the hash of their sources."""
    tools = _tools()
    sources = sorted([*NATIVE.glob("src/*.[ch]"), *NATIVE.glob("include/*.h"), JNI_C, *CORE_KT.glob("*.kt"),
                      *HOST_KT.glob("*.kt")])
    key = hashlib.sha256(b"".join(p.read_bytes() + p.name.encode() for p in sources)).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "neurolite-android-host" / key
    library, jar = cache / "libneurolite_jni.so", cache / "host.jar"
    if not (library.is_file() and jar.is_file()):
        build = Path(tempfile.mkdtemp(prefix="build-", dir=tmp_path_factory.getbasetemp()))
        include = tools["include"]
        subprocess.run([tools["gcc"], "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                        f"-I{include}", f"-I{include}/linux", f"-I{NATIVE / 'include'}", f"-I{NATIVE / 'src'}",
                        *map(str, sorted(NATIVE.glob("src/*.c"))), str(JNI_C), "-o", str(build / library.name)],
                       check=True, capture_output=True, text=True)
        kotlin = [*map(str, sorted(CORE_KT.glob("*.kt"))), *map(str, sorted(HOST_KT.glob("*.kt")))]
        done = subprocess.run([tools["kotlinc"], *kotlin, "-include-runtime", "-d", str(build / jar.name)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"kotlinc failed:\n{done.stderr[-4000:]}"
        cache.mkdir(parents=True, exist_ok=True)
        for artefact in (library, jar):
            os.replace(build / artefact.name, artefact)
    return {"library": library, "jar": jar, "java": Path(tools["java"])}


def python_kind(bundle: Path) -> str:
    """How the Python runtime refuses ``bundle`` (``load`` = read_bundle + the format's backend), as a kind."""
    try:
        load(bundle)
    except NeuroLiteError as exc:
        message = str(exc)
        for kind, words in PYTHON_KINDS.items():
            if words in message:
                return kind
        return f"other: {message}"
    return "accepted"


def corrupt(source: Path, out: Path) -> dict[str, Path]:
    """Copies of the ONNX bundle, each broken in one way (the refusals the issue names, and a few more)."""
    def copy(name: str) -> Path:
        target = out / name
        shutil.copytree(source, target)
        return target

    def edit(bundle: Path, change: Any) -> None:
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        change(manifest)
        (bundle / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")

    cases = {}
    bundle = cases["bad_checksum"] = copy("bad_checksum")
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "model.onnx").write_bytes(bytes(data))
    bundle = cases["missing_file"] = copy("missing_file")
    (bundle / "model.onnx").unlink()
    bundle = cases["truncated_file"] = copy("truncated_file")
    (bundle / "model.onnx").write_bytes((bundle / "model.onnx").read_bytes()[:1000])
    # newer than both readers: the Python runtime and the Kotlin library read up to SCHEMA_VERSION (2: orbital8
    # decoded at load)
    edit(cases.setdefault("newer_schema", copy("newer_schema")), lambda m: m.update(schema_version=SCHEMA_VERSION + 1))
    edit(cases.setdefault("labels_disagree", copy("labels_disagree")),
         lambda m: m.update(labels=[*m["labels"], "surplus"]))
    edit(cases.setdefault("unknown_format", copy("unknown_format")), lambda m: m.update(format="tensorrt"))
    edit(cases.setdefault("edited_featurizer", copy("edited_featurizer")),
         lambda m: m["featurizer"]["spec"].update(max_length=m["featurizer"]["spec"]["max_length"] + 1))
    bundle = cases["no_manifest"] = copy("no_manifest")
    (bundle / "manifest.json").unlink()
    return cases


REQUESTS = [(b, n) for b in (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 40) for n in (1, 2, 3, 4, 5, 8, 15, 16, 17, 31, 64, 65)]


def python_plans(bundle: Path) -> list[dict[str, Any]]:
    signatures = read_bundle(bundle).signatures
    out = []
    for batch, length in REQUESTS:
        try:
            steps = [[s.signature.name, s.start, s.stop, s.batch, s.length] for s in plan(signatures, batch, length)]
            out.append({"batch": batch, "length": length, "steps": steps})
        except NeuroLiteError:
            out.append({"batch": batch, "length": length, "error": True})
    return out


def test_android_library_on_host_jvm(host_build: dict[str, Path], exports: dict[str, Any],
                                     tiny_orbital8: dict[str, Path], tmp_path: Path) -> None:
    from orbital8_tamper import broken_load_bundles, int8_variant

    bundles = {fmt: result.bundle for fmt, result in exports.items()}
    refusals = corrupt(bundles["onnx"], tmp_path / "corrupted")
    expected = {name: python_kind(path) for name, path in refusals.items()}
    # `tiny` as orbital8 decoded at load (schema 2): the Kotlin reader rebuilds each model file from its shell and
    # codes; it must equal the Python runtime's rebuild byte for byte (written here for the harness to compare).
    load_form = []
    for fmt, path in sorted(tiny_orbital8.items()):
        python = read_bundle(path)
        expected_dir = tmp_path / "python-rebuilt" / fmt
        rebuilt = {}
        for record in python.manifest["weights"]["files"]:
            target = expected_dir / record["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(python.read(record["path"]))
            rebuilt[record["path"]] = str(target)
        load_form.append({"name": f"orbital8-{fmt}", "dir": str(path), "format": fmt, "labels": list(python.labels),
                          "plans": python_plans(path), "rebuilt": rebuilt,
                          "rebuild_dir": str(tmp_path / f"rebuilt-{fmt}"),
                          "run": True})
    # int8 codes (code·scale), the other scheme runtime/weights.py decodes: rebuilt only (its logits are not the
    # test vectors' any more, so it is not run)
    variant = tmp_path / "int8-tflite"
    int8_rebuilt = {}
    for name, data in int8_variant(tiny_orbital8["tflite"], variant).items():
        (tmp_path / "python-rebuilt" / "int8" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "python-rebuilt" / "int8" / name).write_bytes(data)
        int8_rebuilt[name] = str(tmp_path / "python-rebuilt" / "int8" / name)
    load_form.append({"name": "int8-tflite", "dir": str(variant), "format": "tflite",
                      "labels": list(read_bundle(variant).labels), "plans": python_plans(variant),
                      "rebuilt": int8_rebuilt, "rebuild_dir": str(tmp_path / "rebuilt-int8"), "run": False})
    broken = broken_load_bundles(tiny_orbital8["tflite"], tmp_path / "broken-load-form")
    # What the Python runtime says is what the Kotlin reader must say (in kind); the five first.
    assert expected["bad_checksum"] == "CHECKSUM" and expected["missing_file"] == "FILE_MISSING"
    assert expected["newer_schema"] == "SCHEMA_NEWER" and expected["labels_disagree"] == "LABELS"
    assert expected["unknown_format"] == "FORMAT", expected
    refusal_cases = [{"name": name, "dir": str(path), "kind": expected[name]} for name, path in refusals.items()]
    # The Android library has no Core ML runtime: a Core ML bundle is refused by format (Python: needs macOS).
    refusal_cases.append({"name": "coreml_on_android", "dir": str(bundles["coreml"]), "kind": "FORMAT"})
    # A load-form bundle broken where only the rebuild can tell: refused with the Python runtime's words.
    refusal_cases += [{"name": f"load_form_{case['name']}", "dir": case["dir"], "kind": "WEIGHTS",
                       "says": case["says"], "python": case["python"]} for case in broken]
    bench_out = tmp_path / "device-results.json"
    spec = {
        "golden": str(GOLDEN),
        "runner": [sys.executable, str(RUNNER)],
        "bundles": [*({"name": fmt, "dir": str(path), "format": fmt, "labels": list(read_bundle(path).labels),
                       "plans": python_plans(path)} for fmt, path in sorted(bundles.items())), *load_form],
        "refusals": refusal_cases,
        "benchmark": {"dirs": [str(bundles["onnx"]), str(bundles["tflite"]), str(bundles["coreml"]),
                               str(refusals["bad_checksum"])], "out": str(bench_out)},
    }
    spec_path, result_path = tmp_path / "spec.json", tmp_path / "result.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([str(host_build["java"]), f"-Djava.library.path={host_build['library'].parent}", "-jar",
                           str(host_build["jar"]), str(spec_path), str(result_path)],
                          capture_output=True, text=True, timeout=900, env=env)
    output = done.stdout + done.stderr
    summary = [line for line in output.splitlines() if line.endswith(" failed") and " passed, " in line]
    assert done.returncode == 0 and summary and summary[-1].endswith(" 0 failed"), output[-6000:]
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    counted = int(summary[-1].split()[0])
    assert counted >= len(golden["cases"]) + len(golden["bytes_cases"]) + len(golden["batches"]) + 4 * 3
    print(summary[-1])

    results = json.loads(result_path.read_text(encoding="utf-8"))
    for case in refusal_cases:
        assert results[f"refusal:{case['name']}"]["kind"] == case["kind"]
        if "python" in case:  # the same words as the Python runtime (the inflaters' own differ)
            kotlin, python = results[f"refusal:{case['name']}"]["message"], case["python"]
            cut = " does not decompress"
            same = (kotlin.split(cut)[0] == python.split(cut)[0]) if cut in python else kotlin == python
            assert same, (kotlin, python)
    for doc in load_form:  # every rebuilt file checked, and the Python runner ran the bundle's self-test
        checks = 10 if doc["run"] else 8
        assert sum(f"ok   bundle {doc['name']}: " in line for line in output.splitlines()) >= checks, output[-6000:]

    # The benchmark document the library wrote is what `neurolite bench --from-device` accepts.
    document = json.loads(bench_out.read_text(encoding="utf-8"))
    validate_device_results(document)
    rows = {Path(r["bundle"]).name if r["format"] == "unknown" else r["format"]: r for r in document["rows"]}
    assert rows["onnx"]["status"] == "ok" and rows["onnx"]["measurement"]["self_test"]["passed"]
    assert rows["tflite"]["status"] == "ok"
    assert rows["coreml"]["status"] == "skipped" and "no runtime" in rows["coreml"]["reason"]
    bad = [r for r in document["rows"] if r["status"] == "failed"]
    assert len(bad) == 1 and "SHA-256 does not match" in bad[0]["reason"]


def test_host_sources_are_platform_free() -> None:
    """The host-tested sources import nothing of Android (that is what makes them testable here)."""
    for path in CORE_KT.glob("*.kt"):
        text = path.read_text(encoding="utf-8")
        assert "import android." not in text and "import androidx." not in text, path
    assert not list((CORE_KT / "android").glob("*.kt")) or all(
        "package ai.neurolite.android" in p.read_text(encoding="utf-8") for p in (CORE_KT / "android").glob("*.kt"))


def test_cmake_builds_the_jni_library(tmp_path: Path) -> None:
    """The library module's CMakeLists.txt (what the NDK build runs, per ABI) builds here for the host, finds
    the core in native/ and exports exactly the JNI functions NativeCore declares."""
    tools = _tools()
    cmake, ninja, nm = shutil.which("cmake"), shutil.which("ninja"), shutil.which("nm")
    if not (cmake and ninja and nm):
        pytest.skip("cmake, ninja and nm are needed (apt-get install -y cmake ninja-build binutils)")
    include = tools["include"]
    configure = subprocess.run([cmake, "-G", "Ninja", f"-DCMAKE_C_FLAGS=-I{include} -I{include}/linux -Werror",
                                str(LIBRARY / "main" / "cpp")], cwd=tmp_path, capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout[-3000:] + configure.stderr[-3000:]
    build = subprocess.run([ninja], cwd=tmp_path, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:]
    symbols = subprocess.run([nm, "-D", "--defined-only", str(tmp_path / "libneurolite_jni.so")], capture_output=True,
                             text=True, check=True).stdout
    exported = {line.split()[-1].removeprefix("Java_ai_neurolite_NativeCore_") for line in symbols.splitlines()
                if "Java_" in line}
    declared = set(EXTERNAL_FUN.findall((CORE_KT / "Featurizer.kt").read_text(encoding="utf-8")))
    assert exported == declared and len(declared) >= 10
    assert not [line for line in symbols.splitlines() if " T nl_" in line]  # the core stays hidden


def test_python_refuses_labels_that_disagree(exports: dict[str, Any], tmp_path: Path) -> None:
    """The refusal the phone libraries share with read_bundle: labels that do not fit the graph's logits."""
    bundle = tmp_path / "labels"
    shutil.copytree(exports["onnx"].bundle, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["labels"] = [*manifest["labels"], "surplus"]
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(NeuroLiteError, match="labels: 3 labels, but signature 'forward' returns 2 logits"):
        read_bundle(bundle)
