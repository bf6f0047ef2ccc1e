"""The web demo (web_demo/) in headless Chromium, against the Python runtime.

Small models are trained and exported to ONNX and TFLite here (the suite's SST-2 checkpoint from
conftest.py, and a SNIPS one trained on 1,000 rows: seconds each). Then web_demo/test/e2e.mjs serves
the page with web_demo/serve.mjs on a free 127.0.0.1 port, opens every bundle by URL and feeds 200
SST-2 dev texts and 200 SNIPS test texts through the page's own prediction path
(``window.neurolite.predict``: WASM featurizer, the planner's port, onnxruntime-web or LiteRT.js,
softmax). This test compares the labels and probabilities with ``neurolite_sdk.runtime``. The same
run checks the golden vectors through the page's WASM featurizer, opens a bundle through the folder
picker and one by dropping its files, runs each bundle's test_vectors.json (the page's self-test),
refuses broken bundles naming the file, types into the text box with real key events, and saves a
screenshot (its path is printed: runs/test-artifacts/web_demo.png, or under $WEB_DEMO_ARTIFACTS).

Needs node >= 18, Chromium (/usr/bin/chromium or $CHROMIUM), web_demo/node_modules (`make web-deps`)
and the featurizer's .wasm (built here with `make -C native/wasm` when the toolchain is present).
Without them the tests are skipped, saying what is missing, unless the environment variable CI is
set: then they fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neurolite_sdk.exporters import export_bundle, parity_texts
from neurolite_sdk.runtime import load
from neurolite_sdk.runtime.bundle import DimRange, Signature, TensorSpec, read_bundle
from neurolite_sdk.runtime.errors import PredictionInputError
from neurolite_sdk.runtime.planner import Step, _pad, plan
from neurolite_sdk.training.checkpoint import Checkpoint, load_checkpoint
from neurolite_sdk.training.pipeline import TrainJob, run_training

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web_demo"
E2E = WEB / "test" / "e2e.mjs"
WASM = ROOT / "native" / "js" / "neurolite_featurizer.wasm"
GOLDEN = ROOT / "tests" / "golden" / "featurizer_v1.json"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("WEB_DEMO_ARTIFACTS", ROOT / "runs" / "test-artifacts"))
NODE_PACKAGES = ("playwright-core", "onnxruntime-web", "@litertjs/core", "@litertjs/wasm-utils")
FORMATS = ("onnx", "tflite")
# Every bundle the page predicts with, and its texts: the SST-2 and SNIPS models in both formats, and `tiny` as
# orbital8 decoded at load (schema 2: the page rebuilds the model file from its shell and codes).
PREDICTED = [*((f"{task}-{fmt}", task) for task in ("sst2", "snips") for fmt in FORMATS),
             *((f"orbital8-{fmt}", "sst2") for fmt in FORMATS)]
READ_BUNDLE = WEB / "test" / "read_bundle.mjs"
TEXTS = 200
TOLERANCE = 1e-5
SMALL = dict(num_buckets=512, embedding_dim=32, hidden_size=32, num_mixer_layers=1, max_length=16,
             token_mixing_dim=16, channel_mixing_dim=64)


def _require_node() -> None:
    if shutil.which("node") is None:
        _unavailable("node not found (install nodejs >= 18)")
    version = _run(["node", "-p", "process.versions.node"], 30).stdout.strip()
    if not version or int(version.split(".")[0]) < 18:
        _unavailable(f"node >= 18 needed, found {version or 'none'}")


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"web demo: {why}; CI is set, so this is a failure, not a skip")
    pytest.skip(f"web demo: {why}")


def _run(command: list[str], timeout: int, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def web_tools() -> None:
    """node, Chromium, the pinned npm packages and the featurizer's .wasm, or a skip saying which is missing."""
    _require_node()
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium, or set CHROMIUM)")
    missing = [name for name in NODE_PACKAGES if not (WEB / "node_modules" / name / "package.json").is_file()]
    if missing:
        _unavailable(f"web_demo/node_modules lacks {', '.join(missing)} (run `make web-deps`)")
    # make is incremental: this rebuilds the .wasm only when the C core changed since the last build.
    if shutil.which("make") and shutil.which(os.environ.get("WASM_CC", "clang-14")):
        build = _run(["make", "-C", "native/wasm"], 300)
        if build.returncode != 0:
            pytest.fail(f"make -C native/wasm failed:\n{build.stdout[-2000:]}{build.stderr[-2000:]}")
    if not WASM.is_file():
        _unavailable(f"{WASM.relative_to(ROOT)} is missing and clang-14 is not here to build it (run `make web-deps`)")


@pytest.fixture(scope="module")
def snips_checkpoint(tmp_path_factory: pytest.TempPathFactory, snips_dir: Path, web_tools: None) -> Checkpoint:
    """A 7-intent SNIPS model on 1,000 training rows, 2 epochs (a few seconds)."""
    out = tmp_path_factory.mktemp("web-snips") / "ckpt"
    run_training(TrainJob(train_path=snips_dir / "train", eval_path=snips_dir / "valid", out_dir=out, epochs=2,
                          distill=False, max_rows=1000, overrides=SMALL))
    return load_checkpoint(out)


@pytest.fixture(scope="module")
def web_bundles(tmp_path_factory: pytest.TempPathFactory, small_checkpoint: Checkpoint,
                snips_checkpoint: Checkpoint, tiny_orbital8: dict[str, Path]) -> dict[str, Path]:
    """sst2-onnx, sst2-tflite, snips-onnx, snips-tflite, orbital8-onnx, orbital8-tflite: verified exports (parity
    passed); the orbital8 ones are `tiny` in the load form (conftest.py)."""
    out = tmp_path_factory.mktemp("web-bundles")
    bundles = {f"orbital8-{fmt}": path for fmt, path in tiny_orbital8.items()}
    for task, checkpoint in (("sst2", small_checkpoint), ("snips", snips_checkpoint)):
        texts = parity_texts(checkpoint)
        for fmt in FORMATS:
            bundles[f"{task}-{fmt}"] = export_bundle(checkpoint, fmt, out / f"{task}-{fmt}", texts=texts).bundle
    return bundles


@pytest.fixture(scope="module")
def texts(sst2_dir: Path, snips_dir: Path) -> dict[str, list[str]]:
    sst2 = [line.split("\t")[0] for line in (sst2_dir / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    snips = (snips_dir / "test" / "seq.in").read_text(encoding="utf-8").splitlines()
    return {"sst2": sst2[:TEXTS], "snips": snips[:TEXTS]}


def _broken_copies(bundles: dict[str, Path], root: Path) -> list[dict[str, str]]:
    """Bundles that must be refused: what was broken, how the page opens it, and the file it must name."""
    def copy(name: str, source: str) -> Path:
        target = root / name
        shutil.copytree(bundles[source], target)
        return target

    def edit_manifest(path: Path, change: Any) -> None:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        change(manifest)
        (path / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    cases = []
    tampered = copy("tampered", "sst2-onnx")  # one byte changed, same size: only the SHA-256 can tell
    model = tampered / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    cases.append({"name": "tampered", "dir": str(tampered), "via": "picker", "names": "model.onnx",
                  "says": "SHA-256 does not match"})

    truncated = copy("truncated", "snips-tflite")
    model = truncated / "model.tflite"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    cases.append({"name": "truncated", "dir": str(truncated), "via": "url", "names": "model.tflite",
                  "says": "truncated"})

    # The folder that holds the bundles exported here, picked instead of one of them.
    parent = bundles["sst2-onnx"].parent
    cases.append({"name": "parent-folder", "dir": str(parent), "via": "picker", "names": "sst2-onnx",
                  "says": f"holds {sum(path.parent == parent for path in bundles.values())} bundles"})

    missing = copy("missing", "sst2-tflite")
    (missing / "model.tflite").unlink()
    cases.append({"name": "missing", "dir": str(missing), "via": "url", "names": "model.tflite",
                  "says": "missing from the bundle"})

    edited = copy("digest-edited", "sst2-onnx")  # spec changed, digest left: the page recomputes it
    edit_manifest(edited, lambda m: m["featurizer"]["spec"].update(num_buckets=1024))
    cases.append({"name": "digest-edited", "dir": str(edited), "via": "url", "names": "manifest.json",
                  "says": "featurizer.digest does not match"})

    def future_spec(manifest: dict[str, Any]) -> None:  # a consistent spec 2.0: digest right, version unknown
        spec = dict(manifest["featurizer"]["spec"], version="2.0")
        manifest["featurizer"].update(spec=spec, version="2.0", digest=hashlib.sha256(
            json.dumps(spec, sort_keys=True, separators=(",", ":")).encode("ascii")).hexdigest())

    future = copy("spec-2.0", "sst2-tflite")
    edit_manifest(future, future_spec)
    cases.append({"name": "spec-2.0", "dir": str(future), "via": "url", "names": "manifest.json",
                  "says": "'2.0'"})
    def wrong_vectors(manifest: dict[str, Any]) -> None:  # consistent checksums, one expected logit off by 1
        path = wrong / manifest["test_vectors"]
        vectors = json.loads(path.read_text(encoding="utf-8"))
        vectors["cases"][0]["logits"][0] += 1.0
        path.write_text(json.dumps(vectors), encoding="utf-8")
        manifest["files"][manifest["test_vectors"]] = {"bytes": path.stat().st_size,
                                                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}

    wrong = copy("wrong-vectors", "sst2-tflite")
    edit_manifest(wrong, wrong_vectors)
    cases.append({"name": "wrong-vectors", "dir": str(wrong), "via": "url", "names": "test_vectors.json",
                  "says": "self-test failed"})
    return cases


@pytest.fixture(scope="module")
def typing_texts(web_bundles: dict[str, Path], texts: dict[str, list[str]]) -> list[str]:
    """Two SNIPS texts the Python runtime labels differently (most confident first), so the label must change."""
    predictions = load(web_bundles["snips-onnx"]).predict(texts["snips"])
    best: dict[str, tuple[float, str]] = {}
    for text, prediction in zip(texts["snips"], predictions, strict=True):
        if prediction.score > best.get(prediction.label, (0.0, ""))[0]:
            best[prediction.label] = (prediction.score, text)
    ranked = sorted(best.values(), reverse=True)
    assert len(ranked) >= 2, "the SNIPS model predicts a single intent on the test texts"
    return [ranked[0][1], ranked[1][1]]


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory, web_bundles: dict[str, Path], texts: dict[str, list[str]],
        typing_texts: list[str]) -> dict[str, Any]:
    """One Chromium session over every check; returns what the page reported."""
    work = tmp_path_factory.mktemp("web-e2e")
    broken = _broken_copies(web_bundles, work / "broken")
    screenshot = ARTIFACTS / "web_demo.png"
    config = {
        "bundles": {name: str(path) for name, path in web_bundles.items()},
        "texts": texts,
        "predict": [list(pair) for pair in PREDICTED],
        "picker": "snips-tflite",
        "drop": "sst2-onnx",
        "typing": {"bundle": "snips-onnx", "texts": typing_texts},
        "golden": str(GOLDEN),
        "golden_bundle": "sst2-onnx",
        "refused": broken,
        "screenshot": str(screenshot),
    }
    (work / "config.json").write_text(json.dumps(config), encoding="utf-8")
    result_path = work / "result.json"
    run = _run(["node", str(E2E), str(work / "config.json"), str(result_path)], 900)
    assert run.returncode == 0, f"web_demo/test/e2e.mjs failed:\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result["broken"] = broken
    print(f"\nweb demo screenshot: {screenshot} (Chromium {result['chromium']})")
    return result


@pytest.mark.parametrize("bundle,task", PREDICTED)
def test_page_predicts_like_python_runtime(e2e: dict[str, Any], web_bundles: dict[str, Path],
                                           texts: dict[str, list[str]], bundle: str, task: str) -> None:
    opened = e2e["bundles"][bundle]["opened"]
    assert opened["state"] == "ready", opened
    fmt = bundle.split("-")[-1]
    runtime = {"onnx": "onnxruntime-web 1.30.0", "tflite": "LiteRT.js 2.5.3"}[fmt]
    assert opened["info"]["format"] == fmt and opened["info"]["runtime"] == runtime
    assert runtime in opened["status"] and "featurizer spec 1.0" in opened["status"]
    manifest = json.loads((web_bundles[bundle] / "manifest.json").read_text(encoding="utf-8"))
    # orbital8 decoded at load: the page ran the model file it rebuilt, and says so
    assert opened["info"]["rebuilt"] == [f["path"] for f in manifest.get("weights", {}).get("files", [])]
    assert opened["info"]["downloadBytes"] == sum(f["bytes"] for f in manifest["files"].values())
    assert bool(opened["info"]["rebuilt"]) == bundle.startswith("orbital8-")
    self_test = opened["info"]["selfTest"]  # the bundle's test_vectors.json, run by the page when it opened it
    assert self_test["cases"] >= 1 and self_test["maxAbsLogit"] <= self_test["tolerance"]
    page = e2e["bundles"][bundle]["predictions"][task]
    python = load(web_bundles[bundle]).predict(texts[task])
    assert len(page) == len(python) == TEXTS
    worst = 0.0
    for i, (web, py) in enumerate(zip(page, python, strict=True)):
        assert web["label"] == py.label, f"text {i} {texts[task][i]!r}: page {web['label']}, Python {py.label}"
        assert web["truncated"] == py.truncated, f"text {i}: truncated"
        assert set(web["probabilities"]) == set(py.probabilities)
        worst = max(worst, *(abs(web["probabilities"][k] - p) for k, p in py.probabilities.items()))
    assert worst <= TOLERANCE, f"max |Δprobability| {worst:.3g} > {TOLERANCE}"


def test_golden_vectors_in_page(e2e: dict[str, Any]) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    report = e2e["golden"]
    assert "error" not in report, f"the golden check threw in the page: {report.get('error')}"
    assert report["failures"] == [], report["failures"][:20]
    assert report["counts"] == {"configs": len(golden["configs"]), "cases": len(golden["cases"]),
                                "bytes_cases": len(golden.get("bytes_cases", [])), "batches": len(golden["batches"]),
                                "token_details": len(golden.get("token_details", []))}
    assert "spec 1.0" in report["version"]


@pytest.mark.parametrize("name", ["tampered", "truncated", "parent-folder", "missing", "digest-edited", "spec-2.0",
                                  "wrong-vectors"])
def test_broken_bundle_is_refused_naming_the_file(e2e: dict[str, Any], name: str) -> None:
    case = next(c for c in e2e["broken"] if c["name"] == name)
    refused = e2e["refused"][name]
    assert refused["state"] == "error", refused
    assert refused["error"] and refused["error"].startswith("Bundle refused"), refused["error"]
    assert case["names"] in refused["error"] and case["says"] in refused["error"], refused["error"]
    assert refused["info"] is None and refused["predictError"] == "no bundle open"


def test_folder_picker_opens_a_bundle(e2e: dict[str, Any]) -> None:
    picker = e2e["picker"]
    assert picker["opened"]["state"] == "ready", picker["opened"]
    assert picker["opened"]["info"]["source"] == "snips-tflite"  # the picked directory's name
    by_url = e2e["bundles"]["snips-tflite"]["predictions"]["snips"][: len(picker["texts"])]
    assert picker["predictions"] == by_url


def test_dropped_files_open_a_bundle(e2e: dict[str, Any]) -> None:
    drop = e2e["drop"]
    assert drop["files"] >= 2 and drop["opened"]["state"] == "ready", drop["opened"]
    assert drop["opened"]["info"]["source"] == "(dropped files)"
    assert drop["predictions"] == e2e["bundles"]["sst2-onnx"]["predictions"]["sst2"][: len(drop["texts"])]


def test_typing_updates_the_label(e2e: dict[str, Any], web_bundles: dict[str, Path], typing_texts: list[str]) -> None:
    python = load(web_bundles["snips-onnx"]).predict(typing_texts)
    shown = e2e["typing"]
    assert [s["text"] for s in shown] == typing_texts
    assert [s["label"] for s in shown] == [p.label for p in python]
    assert shown[0]["label"] != shown[1]["label"]
    for s, p in zip(shown, python, strict=True):
        top_name, top_pct = s["bars"][0]
        assert top_name == p.label and abs(float(top_pct.rstrip("%")) - 100 * p.score) <= 0.05 + 1e-6
        assert all(s["timings"][stage].endswith(" ms") for stage in ("featurize", "graph", "postprocess", "total"))
    assert Path(e2e["screenshot"]).is_file()


def test_no_errors_in_the_page(e2e: dict[str, Any]) -> None:
    assert e2e["pageErrors"] == []
    # The refused bundles log nothing either: their errors are shown, not thrown.
    assert e2e["consoleErrors"] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_reader_rebuilds_the_orbital8_load_form_like_python(tiny_orbital8: dict[str, Path], fmt: str,
                                                             tmp_path: Path) -> None:
    """js/bundle.mjs (under node) on `tiny` exported as orbital8 decoded at load: it inflates the shell, decodes
    the codes and hands its runtime the very file the Python runtime rebuilds (every byte, SHA-256 checked),
    and every other file unchanged (needs node only; the page's predictions on it are in the e2e run)."""
    _require_node()
    source = tiny_orbital8[fmt]
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema_version"] == 2 and manifest["entry"] not in manifest["files"]
    run = _run(["node", str(READ_BUNDLE), str(source), str(tmp_path / "js")], 120)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert "error" not in answer, answer
    python = read_bundle(source)
    entry = manifest["entry"]
    assert answer["entry"] == entry and answer["format"] == fmt and answer["labels"] == list(python.labels)
    assert answer["files"] == {name: len(data) for name, data in python.contents.items()}
    for name, data in python.contents.items():
        assert (tmp_path / "js" / name).read_bytes() == data, name
    rebuilt = (tmp_path / "js" / entry).read_bytes()
    record = manifest["weights"]["files"][0]
    assert len(rebuilt) == record["bytes"] and hashlib.sha256(rebuilt).hexdigest() == record["sha256"]
    downloaded = sum(manifest["files"][name]["bytes"] for name in (record["shell"], manifest["weights"]["codes"]))
    assert len(rebuilt) > 3 * downloaded


def test_reader_decodes_int8_codes_like_python(tiny_orbital8: dict[str, Path], tmp_path: Path) -> None:
    """The other scheme runtime/weights.py decodes (code·scale): the TFLite load form with its smallest tensor
    stored as int8 codes (tests/orbital8_tamper.py), rebuilt by the page's reader as by the Python runtime."""
    _require_node()
    from orbital8_tamper import int8_variant

    python = int8_variant(tiny_orbital8["tflite"], tmp_path / "int8")
    run = _run(["node", str(READ_BUNDLE), str(tmp_path / "int8"), str(tmp_path / "js")], 120)
    assert run.returncode == 0 and "error" not in json.loads(run.stdout), run.stdout + run.stderr
    for name, data in python.items():
        assert (tmp_path / "js" / name).read_bytes() == data, name


def test_reader_refuses_a_broken_orbital8_load_form_as_python_does(tiny_orbital8: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    """Copies of the ONNX load-form bundle broken where only the rebuild can tell (tests/orbital8_tamper.py): the
    page's reader refuses each with the Python runtime's message, naming the same file and field."""
    _require_node()
    from orbital8_tamper import broken_load_bundles

    for case in broken_load_bundles(tiny_orbital8["onnx"], tmp_path / "broken"):
        run = _run(["node", str(READ_BUNDLE), case["dir"], str(tmp_path / "out" / case["name"])], 120)
        assert run.returncode == 0, run.stderr
        error = json.loads(run.stdout).get("error", "")
        assert error.startswith("BundleError: ") and case["says"] in error, (case["name"], error)
        if case["name"] == "not_zlib":  # the inflater's own words differ (zlib's and the platform's)
            same = case["python"].split(" does not decompress")[0] == error.removeprefix("BundleError: ").split(
                " does not decompress")[0]
        else:
            same = error.removeprefix("BundleError: ") == case["python"]
        assert same, (case["name"], error, case["python"])
        assert not (tmp_path / "out" / case["name"]).exists()  # nothing written for a refused bundle


PLANNER_INPUTS = (TensorSpec("features", "int32", ("batch", "length", 3)),
                  TensorSpec("mask", "float32", ("batch", "length")))


def _random_signatures(rng: np.random.Generator) -> list[Signature]:
    """1-4 signatures with static or ranged batch and length, some unbounded, as exporters write them."""
    signatures = []
    for i in range(int(rng.integers(1, 5))):
        ranges = []
        for top in (16, 96):
            low = int(rng.integers(1, top))
            kind = rng.integers(3)
            ranges.append(DimRange(low, low if kind == 0 else (None if kind == 1 else int(rng.integers(low, top + 1)))))
        signatures.append(Signature(f"s{i}", PLANNER_INPUTS, (TensorSpec("logits", "float32", ("batch", 2)),), *ranges))
    return signatures


def test_planner_port_matches_runtime_planner(tmp_path: Path) -> None:
    """web_demo/js/planner.mjs against runtime/planner.py: 600 random plans (signatures, batch, length)
    and 60 paddings, compared step by step and element by element (needs node only)."""
    _require_node()
    rng = np.random.default_rng(7)
    plans, expected = [], []
    for _ in range(600):
        signatures = _random_signatures(rng)
        batch, length = int(rng.integers(1, 41)), int(rng.integers(1, 97))
        plans.append({"signatures": [s.to_dict() for s in signatures], "batch": batch, "length": length})
        try:
            expected.append([{"signature": s.signature.name, "start": s.start, "stop": s.stop, "batch": s.batch,
                              "length": s.length} for s in plan(signatures, batch, length)])
        except PredictionInputError as exc:
            expected.append({"error": f"PredictionInputError: {exc}"})
    pads, padded = [], []
    for _ in range(60):
        spec = PLANNER_INPUTS[int(rng.integers(2))]
        rows, length = int(rng.integers(1, 12)), int(rng.integers(1, 9))
        shape = (rows, length, 3)[: len(spec.shape)]
        value = (rng.integers(0, 4096, shape) if spec.dtype == "int32" else rng.random(shape)).astype(spec.dtype)
        start = int(rng.integers(0, rows))
        stop = int(rng.integers(start + 1, rows + 1))
        step = Step(signature=None, start=start, stop=stop, batch=stop - start + int(rng.integers(0, 4)),  # type: ignore[arg-type]
                    length=length + int(rng.integers(0, 5)))
        pads.append({"spec": spec.to_dict(), "step": {"start": start, "stop": stop, "batch": step.batch,
                                                      "length": step.length},
                     "value": {"data": value.ravel().tolist(), "shape": list(shape)}})
        padded.append(_pad(value, spec, step))
    (tmp_path / "cases.json").write_text(json.dumps({"plans": plans, "pads": pads}), encoding="utf-8")
    run = _run(["node", str(WEB / "test" / "planner_cases.mjs"), str(tmp_path / "cases.json")], 120)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    for i, (js, py) in enumerate(zip(answer["plans"], expected, strict=True)):
        assert js == py, f"plan {i}: {plans[i]}"
    assert any(isinstance(p, dict) for p in expected), "no case exercised the 'too long' error"
    assert any(isinstance(p, list) and len(p) > 1 for p in expected), "no case was split"
    for i, (js, py) in enumerate(zip(answer["pads"], padded, strict=True)):
        assert js["shape"] == list(py.shape), f"pad {i}"
        assert np.array_equal(np.asarray(js["data"], dtype=py.dtype).reshape(py.shape), py), f"pad {i}"
