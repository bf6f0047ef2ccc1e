"""Runtime reliability (issue 14): threads and processes, bounded memory, labels checked against the model,
bundles that cannot be tampered with, and nothing but typed errors for any bundle however damaged."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from neurolite_sdk.exporters import ExportResult
from neurolite_sdk.runtime import PredictionInputError, load
from neurolite_sdk.runtime.instances import InstancePool, default_pool_size

RUNNABLE = ["onnx", "executorch", "tflite"] + (["coreml"] if sys.platform == "darwin" else [])
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
