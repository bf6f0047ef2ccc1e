"""Runtime reliability (issue 14): threads and processes, bounded memory, labels checked against the model,
bundles that cannot be tampered with, and nothing but typed errors for any bundle however damaged."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurolite_sdk.benchmarks.bundle_fuzz import MUTATIONS, FuzzWorker, damage_model, run_case
from neurolite_sdk.cli import main
from neurolite_sdk.exporters import ExportResult, exporter_formats
from neurolite_sdk.runtime import BundleError, PredictionInputError, load, read_bundle
from neurolite_sdk.runtime.backends import runnable_formats
from neurolite_sdk.runtime.instances import InstancePool, default_pool_size
from neurolite_sdk.runtime.predictor import BATCH_SIZE

# every format with an exporter and a backend that predicts on this platform (Core ML: macOS only)
RUNNABLE = [fmt for fmt in exporter_formats() if fmt in runnable_formats()]
JOIN_SECONDS = 300  # a bound on every threaded test: a deadlock fails it instead of hanging the suite


# ---------------------------------------------------------------------------------------------- threads
def call_plan(texts: list[str], calls: int) -> list[list[str]]:
    """Deterministic calls of 1 to 9 texts (batches cross the fixed-shape formats' batch sizes)."""
    return [[texts[(7 * i + j) % len(texts)] for j in range(1 + i % 9)] for i in range(calls)]


def run_threads(target: Callable[[int], None], count: int) -> None:
    workers = [threading.Thread(target=target, args=(k,), daemon=True) for k in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(JOIN_SECONDS)
    assert not any(worker.is_alive() for worker in workers), "threads still running: a deadlock"


@pytest.mark.parametrize("fmt", RUNNABLE)
def test_one_predictor_shared_by_16_threads_answers_as_a_serial_run(fmt: str, exports: dict[str, ExportResult],
                                                                     eval_texts: list[str]) -> None:
    """Before the instance pool, 16 threads on one LiteRT interpreter got hundreds of wrong answers."""
    calls = call_plan(eval_texts[:200], 16 * 24)
    serial = load(exports[fmt].bundle, threads=1)
    expected = [[p.probabilities for p in serial.predict(chunk)] for chunk in calls]
    shared = load(exports[fmt].bundle, threads=1)
    answers: list[list[dict[str, float]] | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        for i in range(k, len(calls), 16):
            try:
                answers[i] = [p.probabilities for p in shared.predict(calls[i])]
            except BaseException as exc:  # reported below with the others
                errors.append(exc)

    run_threads(work, 16)
    assert not errors, errors[:3]
    wrong = [i for i, (got, want) in enumerate(zip(answers, expected, strict=True)) if got != want]
    assert not wrong, f"{len(wrong)} of {len(calls)} calls answered differently from the serial run"
    pool = shared.backend.pool
    assert pool.opened <= (1 if pool.shared else default_pool_size())


def test_onnx_workers_do_not_spin_after_a_call(exports: dict[str, ExportResult], eval_texts: list[str]) -> None:
    """Before: at 2 threads onnxruntime's worker kept a core busy for ~45 ms after each call (measured with
    benchmarks/ort_spinning.py), and a second session in the process waited for that core."""
    from neurolite_sdk.runtime.backends.onnx import SPINNING_STOP

    predictor = load(exports["onnx"].bundle, threads=2)
    with predictor.backend.pool.instance() as session:
        assert session.get_session_options().get_session_config_entry(SPINNING_STOP) == "1"
    burnt = []
    for text in eval_texts[:5]:
        predictor.predict([text])
        cpu = time.process_time()
        time.sleep(0.1)
        burnt.append(time.process_time() - cpu)
    assert min(burnt) < 0.01, f"CPU seconds used in the 0.1 s after a call: {burnt}"


def test_several_processes_on_one_bundle_of_each_format(exports: dict[str, ExportResult],
                                                        eval_texts: list[str]) -> None:
    texts = eval_texts[:60]
    bundles = {fmt: str(exports[fmt].bundle) for fmt in RUNNABLE}
    script = ("import json, sys\n"
              "from neurolite_sdk.runtime import load\n"
              "bundles, texts = json.loads(sys.stdin.read())\n"
              "out = {fmt: [p.probabilities for p in load(path, threads=1).predict(texts)]\n"
              "       for fmt, path in bundles.items()}\n"
              "print(json.dumps(out))\n")
    request = json.dumps([bundles, texts])
    processes = [subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [process.communicate(request, timeout=JOIN_SECONDS) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-2000:]
    for fmt, path in bundles.items():
        # JSON round-trips floats exactly, so the comparison is bit for bit
        expected = json.loads(json.dumps([p.probabilities for p in load(path, threads=1).predict(texts)]))
        for stdout, _ in outputs:
            assert json.loads(stdout.splitlines()[-1])[fmt] == expected, fmt


def test_pool_opens_lazily_up_to_its_size_and_lends_each_instance_to_one_caller() -> None:
    opened: list[object] = []
    pool = InstancePool(lambda: opened.append(object()) or opened[-1], size=2)
    assert pool.opened == 1
    for _ in range(5):  # one caller at a time never needs a second instance
        with pool.instance() as instance:
            assert instance is opened[0]
    assert pool.opened == 1

    both_in = threading.Barrier(2, timeout=60)  # two holders at once: only possible with two instances
    held: list[object] = []
    guard = threading.Lock()
    most = [0]

    def work(k: int) -> None:
        with pool.instance() as instance:
            with guard:
                held.append(instance)
                most[0] = max(most[0], len(held))
            if k < 2:
                both_in.wait()
            with guard:
                held.remove(instance)

    run_threads(work, 8)
    assert pool.opened == 2 and most[0] == 2 and len(opened) == 2


def test_pool_of_one_is_a_lock_and_a_failed_open_gives_its_place_back() -> None:
    attempts = [0]

    def flaky() -> object:
        attempts[0] += 1
        if attempts[0] == 2:
            raise RuntimeError("second open fails")
        return object()

    pool = InstancePool(flaky, size=2)
    failures: list[BaseException] = []

    def second(_k: int) -> None:
        try:
            with pool.instance():
                pass
        except RuntimeError as exc:
            failures.append(exc)

    with pool.instance():  # the first instance is busy, so each call from another thread opens one
        run_threads(second, 1)
        assert [str(e) for e in failures] == ["second open fails"] and pool.opened == 1
        run_threads(second, 1)  # the failed open gave its place back: a new one opens
        assert pool.opened == 2 and len(failures) == 1

    lock = InstancePool(object, size=1)
    inside = [0]
    most = [0]
    guard = threading.Lock()

    def work(_k: int) -> None:
        for _ in range(50):
            with lock.instance():
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                with guard:
                    inside[0] -= 1

    run_threads(work, 8)
    assert lock.opened == 1 and most[0] == 1


def test_instances_must_be_a_positive_integer(exports: dict[str, ExportResult]) -> None:
    with pytest.raises(PredictionInputError, match="instances: must be a positive integer"):
        load(exports["onnx"].bundle, instances=0)
    assert load(exports["tflite"].bundle, instances=3).backend.pool.size == 3


# ---------------------------------------------------------------------------------------------- labels (defect 5)
@pytest.fixture
def bundle_copy(exports: dict[str, ExportResult], tmp_path: Path) -> Callable[[str], Path]:
    def copy(fmt: str) -> Path:
        target = tmp_path / fmt
        shutil.copytree(exports[fmt].bundle, target)
        return target

    return copy


def edit_manifest(bundle: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def resize_logits(manifest: dict[str, Any], classes: int) -> None:
    for signature in manifest["signatures"]:
        for output in signature["outputs"]:
            if output["name"] == "logits":
                output["shape"][-1] = classes


@pytest.mark.parametrize("fmt", RUNNABLE + (["coreml"] if "coreml" not in RUNNABLE else []))
def test_reordered_labels_are_refused_not_silently_inverted(fmt: str, bundle_copy: Callable[[str], Path]) -> None:
    bundle = bundle_copy(fmt)
    edit_manifest(bundle, lambda m: m.__setitem__("labels", m["labels"][::-1]))
    with pytest.raises(BundleError, match=r"labels \['1', '0'\] differ from the labels model\.\w+ carries "
                                          r"\(neurolite_labels: \['0', '1'\]\); the same labels in another order"):
        load(bundle)


@pytest.mark.parametrize("fmt", RUNNABLE)
@pytest.mark.parametrize("labels", [["0"], ["0", "1", "2"], ["neg", "pos"]])
def test_labels_of_another_length_or_model_are_refused_at_load(fmt: str, labels: list[str],
                                                               bundle_copy: Callable[[str], Path]) -> None:
    bundle = bundle_copy(fmt)
    edit_manifest(bundle, lambda m: m.__setitem__("labels", labels))
    with pytest.raises(BundleError) as refused:
        load(bundle)
    assert "\n" not in str(refused.value) and "labels" in str(refused.value)
    edit_manifest(bundle, lambda m: resize_logits(m, len(labels)))  # the manifest made consistent with itself
    expected = "must be a list of at least two strings" if len(labels) < 2 else \
        r"labels .* differ from the labels model\.\w+ carries"
    with pytest.raises(BundleError, match=expected):
        load(bundle)


def test_output_shape_is_checked_even_when_manifest_and_metadata_agree(bundle_copy: Callable[[str], Path]) -> None:
    """Three labels in the manifest, its logits and the model file's own metadata: the graph still scores 2."""
    import onnx

    bundle = bundle_copy("onnx")
    model = onnx.load(str(bundle / "model.onnx"))
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props},
                                        "neurolite_labels": json.dumps(["0", "1", "2"])})
    onnx.save_model(model, str(bundle / "model.onnx"))
    rewrite_record(bundle, "model.onnx")
    edit_manifest(bundle, lambda m: (m.__setitem__("labels", ["0", "1", "2"]), resize_logits(m, 3)))
    with pytest.raises(BundleError, match=r"signature 'forward': 'logits': axis 1 is 2 in the model, manifest\.json "
                                          r"says 3; manifest\.json does not describe this model"):
        load(bundle)


def test_signatures_shorter_than_the_featurizer_keeps_are_refused(bundle_copy: Callable[[str], Path]) -> None:
    """Found by the manifest fuzz: a shortened length range loaded, then long texts failed at predict as if
    the input were at fault."""
    bundle = bundle_copy("onnx")
    edit_manifest(bundle, lambda m: [s.__setitem__("length", [1, 8]) for s in m["signatures"]])
    with pytest.raises(BundleError, match="signatures take at most 8 tokens, but the featurizer keeps up to 16"):
        read_bundle(bundle)


def test_featurizer_of_another_model_is_refused(bundle_copy: Callable[[str], Path]) -> None:
    """A manifest whose featurizer was changed consistently (digest recomputed) no longer matches the model."""
    from neurolite_sdk.featurizer import FeaturizerConfig

    bundle = bundle_copy("onnx")

    def other_featurizer(manifest: dict[str, Any]) -> None:
        config = FeaturizerConfig.from_dict({**manifest["featurizer"]["spec"], "seed": 7})
        manifest["featurizer"] = {**manifest["featurizer"], "spec": config.to_dict(), "digest": config.digest()}

    edit_manifest(bundle, other_featurizer)
    with pytest.raises(BundleError, match="featurizer digest .* differs from the one model.onnx was trained with"):
        load(bundle)


# ---------------------------------------------------------------------------------------------- integrity (defect 6)
def rewrite_record(bundle: Path, name: str) -> None:
    data = (bundle / name).read_bytes()
    edit_manifest(bundle, lambda m: m["files"].__setitem__(name, {"bytes": len(data),
                                                                  "sha256": hashlib.sha256(data).hexdigest()}))


def external_weights(bundle: Path, location: str) -> None:
    """Move model.onnx's weights to ``location`` beside it (ONNX external data) and re-checksum model.onnx."""
    import onnx

    model = onnx.load(str(bundle / "model.onnx"))
    (bundle / "model.onnx").unlink()
    onnx.save_model(model, str(bundle / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=256)
    rewrite_record(bundle, "model.onnx")


@pytest.mark.parametrize("listed", [False, True])
def test_onnx_weights_in_another_file_are_refused_listed_or_not(listed: bool, bundle_copy: Callable[[str], Path],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: weights moved to an unlisted file loaded and changed the output without an error."""
    bundle = bundle_copy("onnx")
    external_weights(bundle, "weights.bin")
    if listed:
        rewrite_record(bundle, "weights.bin")
    monkeypatch.chdir(bundle)  # onnxruntime resolves external data of a model given as bytes against the cwd
    with pytest.raises(BundleError, match=r"model\.onnx: its weights refer to external data in 'weights\.bin'; a "
                                          r"NeuroLite ONNX bundle keeps every weight inside model\.onnx"):
        load(bundle)


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "coreml"])
def test_symbolic_links_are_refused_wherever_they_point(fmt: str, bundle_copy: Callable[[str], Path],
                                                        tmp_path: Path) -> None:
    bundle = bundle_copy(fmt)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    entry = bundle / manifest["entry"]
    outside = tmp_path / "outside" / entry.name
    outside.parent.mkdir()
    entry.rename(outside)  # identical bytes: the checksums alone would pass
    entry.symlink_to(outside, target_is_directory=outside.is_dir())
    with pytest.raises(BundleError, match=r"a symbolic link \(or under one\); the runtime reads only regular "
                                          r"files inside the bundle and follows no link"):
        read_bundle(bundle)
    entry.unlink()
    entry.symlink_to(Path("..") / "outside" / entry.name)  # relative, leaving the bundle
    with pytest.raises(BundleError, match="a symbolic link"):
        read_bundle(bundle)


def test_manifest_as_a_link_and_a_listed_fifo_are_refused(bundle_copy: Callable[[str], Path], tmp_path: Path) -> None:
    bundle = bundle_copy("onnx")
    (bundle / "manifest.json").rename(tmp_path / "manifest.json")
    (bundle / "manifest.json").symlink_to(tmp_path / "manifest.json")
    with pytest.raises(BundleError, match=r"manifest\.json: a symbolic link"):
        read_bundle(bundle)
    (bundle / "manifest.json").unlink()
    (tmp_path / "manifest.json").rename(bundle / "manifest.json")
    (bundle / "model.onnx").unlink()
    os.mkfifo(bundle / "model.onnx")  # opening a FIFO to read would block until a writer came
    with pytest.raises(BundleError, match=r"model\.onnx: not a regular file"):
        read_bundle(bundle)


def test_unlisted_files_are_never_read_and_files_changed_after_load_are_not_read_again(
        bundle_copy: Callable[[str], Path], eval_texts: list[str]) -> None:
    bundle = bundle_copy("tflite")
    texts = eval_texts[:24]
    expected = [p.probabilities for p in load(bundle, threads=1).predict(texts)]
    (bundle / "model.tflite.bak").write_bytes(b"\0" * 1000)  # unlisted: ignored, whatever its name
    (bundle / ".DS_Store").write_bytes(b"Bud1")
    predictor = load(bundle, threads=1, instances=4)
    (bundle / "model.tflite").write_bytes(b"garbage")  # replaced after the checks ...
    answers: list[list[dict[str, float]]] = [[] for _ in range(3)]

    def work(k: int) -> None:
        answers[k] = [p.probabilities for p in predictor.predict(texts)]

    with predictor.backend.pool.instance():  # ... and the first interpreter busy: the calls open new ones,
        run_threads(work, 3)                 # from the bytes verified at load, not from the file
    assert predictor.backend.pool.opened >= 2
    assert answers == [expected] * 3


# ---------------------------------------------------------------------------------------------- tracebacks (defect 9)
@pytest.mark.parametrize("offset", [0.6, 0.7])
def test_pte_damaged_where_methods_load_is_a_bundle_error(offset: float, bundle_copy: Callable[[str], Path]) -> None:
    """Before: a .pte damaged in its method data (checksums updated) loaded as a program, then ``load_method``
    raised a bare RuntimeError outside the error handling: a traceback."""
    bundle = bundle_copy("executorch")
    damage_model(bundle, 0, "zero", offset, 64, 0)
    with pytest.raises(BundleError, match=r"model\.pte: ExecuTorch cannot load it \(Failed to load method"):
        load(bundle)


@pytest.mark.parametrize(("needle", "message"), [
    (b"ET12", r"file identifier b'ET\\xff2', expected b'ET12'"),
    (b"aten::embedding", "codec can't decode byte 0xff"),  # an operator name ExecuTorch logs when missing
    (b"XN01", r"XNNPACK graph identifier b'XN\\xff1'"),  # XNNPACK logs a wrong identifier's bytes
])
def test_pte_names_executorch_would_log_are_checked_first(needle: bytes, message: str,
                                                          bundle_copy: Callable[[str], Path],
                                                          fuzz_worker: FuzzWorker) -> None:
    """ExecuTorch's bindings decode each log line as UTF-8 and abort the process when that fails: before the
    check, these one-byte damages (checksums updated) killed the process instead of raising."""
    bundle = bundle_copy("executorch")

    def damage(case: Path) -> str:
        data = bytearray((case / "model.pte").read_bytes())
        data[data.index(needle) + 2] = 0xFF
        (case / "model.pte").write_bytes(bytes(data))
        rewrite_record(case, "model.pte")
        return f"{needle!r} damaged"

    with tempfile.TemporaryDirectory(prefix="pte-") as scratch:
        answer = run_case(fuzz_worker, bundle, Path(scratch), damage)  # in a worker: an abort fails, not kills
    assert answer["outcome"] == "typed" and answer["type"] == "BundleError", answer
    assert re.search(r"model\.pte: not a valid ExecuTorch program \(.*" + message, answer["message"]), answer


# ---------------------------------------------------------------------------------------------- fuzzing
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children,
                                                                                     max_size=3), max_leaves=8)
# derandomize: the same examples every run (ExecuTorch still crashes on about 1 in 1,000 damaged XNNPACK graphs,
# docs/bundle.md), so the suite never fails by chance; benchmarks/bundle_fuzz.py draws new ones.
FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def fuzz_worker() -> Iterator[FuzzWorker]:
    """One process that loads the fuzzed bundles: a native crash or a hang there fails the example, not the suite."""
    worker = FuzzWorker(timeout=JOIN_SECONDS)
    yield worker
    worker.close()


def check_case(worker: FuzzWorker, source: Path, damage: Callable[[Path], str]) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as scratch:
        answer = run_case(worker, source, Path(scratch), damage)
    assert answer["outcome"] in ("loaded", "typed"), answer


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "executorch", "coreml"])
@FUZZ
@given(which=st.integers(0, 7), kind=st.sampled_from(MUTATIONS), offset=st.floats(0, 1),
       length=st.sampled_from([1, 2, 16, 256, 4096]), seed=st.integers(0, 2**32 - 1))
def test_damaged_model_files_with_updated_checksums_give_only_typed_errors(
        fmt: str, which: int, kind: str, offset: float, length: int, seed: int, exports: dict[str, ExportResult],
        fuzz_worker: FuzzWorker) -> None:
    """load() and predict() on a model file damaged past its checksums: loaded, or a one-line NeuroLiteError
    (Core ML off macOS: structurally checked, then PlatformUnsupportedError)."""
    check_case(fuzz_worker, exports[fmt].bundle, lambda case: damage_model(case, which, kind, offset, length, seed))


def mutate_at(manifest: dict[str, Any], path: tuple[Any, ...], value: Any, delete: bool) -> None:
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


def tree_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [path] + [p for key, child in children for p in tree_paths(child, (*path, key))]


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "executorch"])
@FUZZ
@given(data=st.data())
def test_mutated_manifests_give_only_typed_errors(fmt: str, data: st.DataObject, exports: dict[str, ExportResult],
                                                  fuzz_worker: FuzzWorker) -> None:
    """Any value of the manifest replaced by any JSON value, or deleted: loaded, or a one-line NeuroLiteError."""
    manifest = json.loads((exports[fmt].bundle / "manifest.json").read_text(encoding="utf-8"))
    path = data.draw(st.sampled_from([p for p in tree_paths(manifest) if p]), label="path")
    delete = data.draw(st.booleans(), label="delete")
    value = None if delete else data.draw(JSON, label="value")

    def damage(case: Path) -> str:
        edit_manifest(case, lambda m: mutate_at(m, path, value, delete))
        return f"{'delete' if delete else 'replace'} {path}"

    check_case(fuzz_worker, exports[fmt].bundle, damage)


# ---------------------------------------------------------------------------------------------- memory (defect 3)
def test_predict_iter_reads_texts_lazily_a_batch_at_a_time(exports: dict[str, ExportResult],
                                                           eval_texts: list[str]) -> None:
    """Memory flat in the number of texts: an endless stream is answered, one batch pulled ahead at most."""
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield eval_texts[i % len(eval_texts)]

    predictor = load(exports["onnx"].bundle, threads=1)
    stream = predictor.predict_iter(endless())
    assert pulled == 0  # nothing is read before the first answer is asked for
    first = list(itertools.islice(stream, BATCH_SIZE + 1))
    assert pulled == 2 * BATCH_SIZE
    assert first == predictor.predict(eval_texts[:BATCH_SIZE + 1])  # predict runs the same batches
    with pytest.raises(PredictionInputError, match="batch_size: must be a positive integer"):
        predictor.predict_iter(eval_texts, batch_size=0)


@pytest.mark.parametrize("command", ["run", "predict"])
def test_run_and_predict_stream_a_long_file_as_valid_json(command: str, exports: dict[str, ExportResult],
                                                          small_checkpoint_dir: Path, eval_texts: list[str],
                                                          tmp_path: Path) -> None:
    texts = [eval_texts[i % len(eval_texts)] + f" #{i}" for i in range(2 * BATCH_SIZE + 22)]
    texts[5] = "one line\u2028with a line separator inside"
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts[:70]) + "\n\n   \n" + "\n".join(texts[70:]) + "\n", encoding="utf-8")
    target = str(exports["onnx"].bundle if command == "run" else small_checkpoint_dir)
    result = CliRunner().invoke(main, [command, target, "--file", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)  # one valid array, whatever the number of batches
    assert [row["text"] for row in rows] == texts
    assert len(result.stdout.splitlines()) == len(texts) + 2  # "[", one object per line, "]"
    shown = CliRunner().invoke(main, [command, target, "--file", str(path)])
    assert shown.exit_code == 0 and len(shown.stdout.splitlines()) == len(texts)


@pytest.mark.parametrize("command", ["run", "predict"])
def test_a_bad_line_is_reported_before_any_output(command: str, exports: dict[str, ExportResult],
                                                  small_checkpoint_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_bytes(b"fine\n" * 150 + b"\xff broken\n" + b"fine\n")
    target = str(exports["onnx"].bundle if command == "run" else small_checkpoint_dir)
    result = CliRunner().invoke(main, [command, target, "--file", str(path), "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "line 151: not valid UTF-8" in errors[0] and "Traceback" not in result.stderr
