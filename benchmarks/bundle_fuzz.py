"""Fuzz bundles: damaged model files whose checksums were updated, and mutated manifests.

    python benchmarks/bundle_fuzz.py --bundles DIR [--cases 300] [--seed 0] [--formats onnx tflite executorch coreml]

DIR holds one bundle per format (``neurolite export CKPT --format all --out DIR``). Each case copies one
bundle, mutates it, and hands it to a worker process that runs ``load()`` and ``predict()`` on a few
texts (short, long, empty). The only acceptable outcomes are a loaded bundle or one of the project's
typed errors (``NeuroLiteError``) with a one-line message; anything else is an escape: another
exception type, a multi-line message, a crash of the worker (a signal: segfault, abort) or a hang
(no answer within --timeout seconds). Printed: cases, outcomes by kind and error type, and every
escape with the mutation that caused it (reproducible from --seed).

Model-file mutations (``mutate_bytes``) flip bits, overwrite, zero, truncate, insert or repeat a range
of the entry file (for Core ML, any file of the package), then rewrite the manifest's size and SHA-256
for it, so the damage gets past the checksums and reaches the runtime's own parsers. Manifest
mutations (``mutate_manifest``) replace, delete, retype, reorder or duplicate any value in the JSON
tree (labels, signatures, featurizer, file records ...) or damage its bytes.

The suite's hypothesis tests (tests/test_reliability_runtime.py) drive the same worker with a few
dozen examples; this script is the longer run whose figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

MUTATIONS = ("flip", "overwrite", "zero", "truncate", "insert", "repeat")
TEXTS = ["a gorgeous , witty , seductive movie .", "dull", "",
         " ".join(["the film is long and the plot twists keep coming"] * 12)]


# ---------------------------------------------------------------------------------------------- mutations
def mutate_bytes(data: bytes, kind: str, offset: float, length: int, seed: int) -> bytes:
    """``data`` damaged by ``kind`` at ``offset`` (a fraction of its length), over ``length`` bytes."""
    rng = random.Random(seed)
    size = len(data)
    at = min(size, int(offset * size))
    span = max(1, min(length, size - at)) if size else 0
    if kind == "flip":
        out = bytearray(data)
        for _ in range(max(1, length // 8)):
            if out:
                i = rng.randrange(len(out))
                out[i] ^= 1 << rng.randrange(8)
        return bytes(out)
    if kind == "overwrite":
        return data[:at] + rng.randbytes(span) + data[at + span:]
    if kind == "zero":
        return data[:at] + bytes(span) + data[at + span:]
    if kind == "truncate":
        return data[:at]
    if kind == "insert":
        return data[:at] + rng.randbytes(length) + data[at:]
    if kind == "repeat":
        return data[:at + span] + data[at:at + span] + data[at + span:]
    raise ValueError(f"unknown mutation {kind!r}")


def rewrite_record(bundle: Path, name: str) -> None:
    """Make the manifest's size and SHA-256 of ``name`` match the file as it now is."""
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    data = (bundle / name).read_bytes()
    manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def model_files(bundle: Path) -> list[str]:
    """The listed files the format's runtime parses: the entry file, or every file of a package entry."""
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["entry"]
    return sorted(name for name in manifest["files"] if name == entry or name.startswith(entry + "/"))


def damage_model(bundle: Path, which: int, kind: str, offset: float, length: int, seed: int) -> str:
    """Damage one model file of ``bundle`` in place (checksums updated); returns its name."""
    names = model_files(bundle)
    name = names[which % len(names)]
    path = bundle / name
    path.write_bytes(mutate_bytes(path.read_bytes(), kind, offset, length, seed))
    rewrite_record(bundle, name)
    return name


JSON_VALUES: list[Any] = [None, True, False, 0, 1, -1, 2, 3, 7, 8, 16, 64, 10**9, -(10**12), 1e308, 0.5, float("nan"),
                          "", "0", "1", "batch", "length", "logits", "features", "mask", "float32", "int32",
                          "../outside", "/etc/passwd", "model.onnx", "a\u2028b", [], {}, [1, None], {"a": 1}]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _nodes(child, (*path, i))
    return found


def mutate_manifest(manifest: dict[str, Any], seed: int) -> tuple[dict[str, Any], str]:
    """One structural mutation of a manifest anywhere in its tree; returns it and a description."""
    rng = random.Random(seed)
    copy = json.loads(json.dumps(manifest))
    nodes = [p for p in _nodes(copy) if p]
    path = rng.choice(nodes)
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    value = parent[key]
    op = rng.choice(["replace", "delete", "retype", "reorder", "duplicate", "number", "string"])
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = rng.choice(JSON_VALUES)
    elif op == "retype":
        parent[key] = [value] if not isinstance(value, list) else {"0": value}
    elif op == "reorder" and isinstance(value, (list, dict)) and len(value) > 1:
        items = list(value.items()) if isinstance(value, dict) else list(value)
        rng.shuffle(items)
        parent[key] = dict(items) if isinstance(value, dict) else items
    elif op == "duplicate" and isinstance(value, list) and value:
        parent[key] = value + [rng.choice(value)]
    elif op == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        parent[key] = rng.choice([value + 1, value - 1, -value, value * 1000, 0, float(value) + 0.5])
    elif op == "string" and isinstance(value, str):
        parent[key] = rng.choice([value + "x", value[::-1], value.upper(), "", value + "/.."])
    else:
        parent[key] = rng.choice(JSON_VALUES)
        op = "replace"
    return copy, f"{op} at {'.'.join(map(str, path))}"


def damage_manifest(bundle: Path, seed: int, raw: bool = False) -> str:
    """Mutate ``bundle``'s manifest in place (structurally, or its bytes when ``raw``); a description."""
    path = bundle / "manifest.json"
    if raw:
        rng = random.Random(seed)
        kind = rng.choice(MUTATIONS)
        path.write_bytes(mutate_bytes(path.read_bytes(), kind, rng.random(), rng.choice([1, 4, 64]), seed))
        return f"manifest bytes: {kind}"
    manifest, description = mutate_manifest(json.loads(path.read_text(encoding="utf-8")), seed)
    path.write_text(json.dumps(manifest), encoding="utf-8")  # NaN is written as NaN: JSON's reader must cope
    return f"manifest: {description}"


# ---------------------------------------------------------------------------------------------- the worker
def _worker() -> None:
    """Read bundle paths on stdin, answer one JSON line each on the original stdout (fd 1 goes to /dev/null,
    where the runtimes' native chatter belongs)."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    from neurolite_sdk.errors import NeuroLiteError
    from neurolite_sdk.runtime import load

    for line in sys.stdin:
        request = json.loads(line)
        try:
            predictor = load(request["bundle"], threads=1, instances=1)
            predictor.predict(request["texts"])
            answer = {"outcome": "loaded"}
        except NeuroLiteError as exc:
            message = str(exc)
            answer = {"outcome": "typed" if "\n" not in message.strip() else "escape",
                      "type": type(exc).__name__, "message": message[:400]}
        except BaseException as exc:  # what fuzzing is for: anything here is a bug
            answer = {"outcome": "escape", "type": type(exc).__name__, "message": str(exc)[:400]}
        answers.write(json.dumps(answer) + "\n")


class FuzzWorker:
    """A worker process that loads bundles and says what happened; restarted after a crash or a hang."""

    def __init__(self, timeout: float = 120.0) -> None:
        self.timeout = timeout
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen([sys.executable, "-c", "from neurolite_sdk.benchmarks.bundle_fuzz import "
                                             "_worker; _worker()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, text=True, bufsize=1)
        return self.process

    def check(self, bundle: Path, texts: list[str] = TEXTS) -> dict[str, Any]:
        """``{"outcome": "loaded" | "typed" | "escape" | "crash" | "hang", ...}`` for one bundle."""
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps({"bundle": str(bundle), "texts": texts}) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], self.timeout)
        line = process.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        if ready:  # end of file: the worker died
            code = process.wait()
            return {"outcome": "crash", "type": f"exit {code}", "message": "the worker died (a native crash)"}
        process.kill()
        process.wait()
        return {"outcome": "hang", "type": "timeout", "message": f"no answer within {self.timeout:g} s"}

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=60)


# ---------------------------------------------------------------------------------------------- the run
def run_case(worker: FuzzWorker, source: Path, scratch: Path, damage: Callable[[Path], str]) -> dict[str, Any]:
    case = scratch / "case"
    if case.exists():
        shutil.rmtree(case)
    shutil.copytree(source, case, symlinks=True)
    description = damage(case)
    answer = worker.check(case)
    answer["mutation"] = description
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", type=Path, required=True)
    parser.add_argument("--formats", nargs="+", default=["onnx", "tflite", "executorch", "coreml"])
    parser.add_argument("--cases", type=int, default=300, help="model-file cases per format (as many manifest cases)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    totals: Counter[str] = Counter()
    escapes: list[dict[str, Any]] = []
    worker = FuzzWorker(args.timeout)
    print(f"# bundle fuzz: seed {args.seed}, {args.cases} model-file and {args.cases} manifest cases per format")
    print("| format | target | cases | loaded and predicted | typed errors | escapes | crashes | hangs | "
          "typed errors by class |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bundle-fuzz-") as scratch_dir:
        scratch = Path(scratch_dir)
        for fmt in args.formats:
            source = args.bundles / fmt
            for target in ("model file", "manifest"):
                outcomes: Counter[str] = Counter()
                classes: Counter[str] = Counter()
                for _ in range(args.cases):
                    seed = rng.randrange(2**32)
                    if target == "model file":
                        which, kind = rng.randrange(8), rng.choice(MUTATIONS)
                        offset, length = rng.random(), rng.choice([1, 2, 4, 16, 64, 256, 4096])

                        def damage(case: Path, w: int = which, k: str = kind, o: float = offset, n: int = length,
                                   s: int = seed) -> str:
                            name = damage_model(case, w, k, o, n, s)
                            return f"{name}: {k} at {o:.4f} x{n} (seed {s})"
                    else:
                        raw = rng.random() < 0.2

                        def damage(case: Path, s: int = seed, r: bool = raw) -> str:
                            return f"{damage_manifest(case, s, r)} (seed {s})"
                    answer = run_case(worker, source, scratch, damage)
                    outcomes[answer["outcome"]] += 1
                    if answer["outcome"] == "typed":
                        classes[answer["type"]] += 1
                    if answer["outcome"] in ("escape", "crash", "hang"):
                        escapes.append({"format": fmt, "target": target, **answer})
                totals.update(outcomes)
                by_class = ", ".join(f"{name} {count}" for name, count in classes.most_common())
                print(f"| {fmt} | {target} | {sum(outcomes.values())} | {outcomes['loaded']} | {outcomes['typed']} | "
                      f"{outcomes['escape']} | {outcomes['crash']} | {outcomes['hang']} | {by_class} |", flush=True)
    worker.close()
    print(f"# {sum(totals.values())} cases in {time.perf_counter() - started:.0f} s: {totals['loaded']} loaded, "
          f"{totals['typed']} typed errors, {totals['escape'] + totals['crash'] + totals['hang']} escapes "
          f"(crashes {totals['crash']}, hangs {totals['hang']})")
    for escape in escapes:
        print(f"ESCAPE {escape['format']} {escape['target']}: {escape['mutation']}: {escape['outcome']} "
              f"{escape.get('type')}: {escape.get('message')}")
    if escapes:
        sys.exit(1)


if __name__ == "__main__":
    main()
