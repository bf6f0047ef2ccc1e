"""Long differential run: the native featurizer core against the pure-Python reference, plus libFuzzer.

    python benchmarks/featurizer_fuzz.py [--inputs 1000000] [--batch 1000] [--seed 0]
                                         [--fuzz-runs 1000000] [--fuzz-time 0] [--no-libfuzzer] [--out DIR]

Part 1 (differential). ``--inputs`` random inputs, in batches, through ``NativeBloomFeaturizer`` (small
token cache, so collisions and evictions happen) and ``BloomFeaturizer``; every output array of every
batch must be identical (features, mask, lengths, truncated), and for one input in ten ``normalize`` and
``tokenize`` too. Inputs are drawn code point by code point from a mixture that covers every plane:
uniform over each of the 17 planes (so mostly unassigned and private use beyond the BMP), ASCII,
controls and spaces, the code points with a decomposition / a combining class / a case folding /
taking part in a composition (from the generated Unicode 14 tables), Cf and variation selectors, Hangul
jamo and syllables, CJK (BMP and Extension B), kana with (semi-)voiced marks, emoji with ZWJ, VS16 and
skin tones, and lone surrogates. One input in five is ``bytes``: such a text's UTF-8 with random byte
mutations (flips, cuts, encoded surrogates) or plain random bytes. Each batch uses one of the four
golden configs and a random ``max_length``. Prints the inputs, the differences (must be 0), the time;
a difference is written with its input to OUT/featurizer_fuzz_differences.json.

Part 2 (libFuzzer). ``make -C native fuzz FUZZ_RUNS=N FUZZ_TIME=S`` (native/Makefile: each harness in
native/fuzz, the core built with clang -fsanitize=fuzzer,address,undefined, seeded from the golden
texts) for ``--fuzz-runs`` runs per harness or ``--fuzz-time`` seconds, whichever ends first; reports
the runs, coverage and any sanitizer finding (crash files are copied to OUT, the logs to
OUT/libfuzzer.log).

Exit status 0 only when there is no difference and no sanitizer finding.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk import _unicode14 as tables
from neurolite_sdk.featurizer import BloomFeaturizer, FeaturizerConfig
from neurolite_sdk.featurizer_native import (
    NativeBloomFeaturizer,
    featurizer_implementation,
    native_available,
    native_unavailable_reason,
)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "golden" / "featurizer_v1.json").read_text(encoding="utf-8"))
CONFIGS = [FeaturizerConfig.from_dict({k: c[k] for k in FeaturizerConfig().to_dict()})
           for c in GOLDEN["configs"].values()]
MAX_LENGTHS = [None, None, 1, 3, 16, 64, 10**6]


def code_point_pools() -> list[tuple[str, float, np.ndarray]]:
    """(name, weight, code points) of the mixture the inputs are drawn from."""
    def span(low: int, high: int) -> np.ndarray:
        return np.arange(low, high + 1, dtype=np.uint32)

    interesting = set(tables.DECOMPOSITION) | set(tables.CCC) | set(tables.CASEFOLD)
    for first, second in tables.COMPOSITION:
        interesting.update((first, second))
    deleted = [cp for first, last, cls in tables.TOKEN_CLASS_RUNS if cls == 5 for cp in range(first, last + 1)]
    pools = [(f"plane {plane}", 1.0, span(plane << 16, (plane << 16) + 0xFFFF)) for plane in range(17)]
    pools += [
        ("ascii", 25.0, span(0x20, 0x7E)),
        ("controls and spaces", 4.0, np.array([*range(0, 0x21), *range(0x7F, 0xA1), 0x1680, *range(0x2000, 0x200B),
                                               0x2028, 0x2029, 0x202F, 0x205F, 0x3000], dtype=np.uint32)),
        ("decomposing, combining, folding, composing", 14.0, np.array(sorted(interesting), dtype=np.uint32)),
        ("Cf and variation selectors", 3.0, np.array(deleted, dtype=np.uint32)),
        ("combining marks", 4.0, span(0x0300, 0x036F)),
        ("Hangul jamo", 4.0, np.concatenate([span(0x1100, 0x11FF), span(0x3130, 0x318F), span(0xA960, 0xA97F),
                                             span(0xD7B0, 0xD7FF)])),
        ("Hangul syllables", 3.0, span(0xAC00, 0xD7A3)),
        ("CJK", 3.0, np.concatenate([span(0x4E00, 0x9FFF), span(0x3400, 0x4DBF), span(0xF900, 0xFAFF)])),
        ("CJK Extension B and beyond", 3.0, span(0x20000, 0x3134A)),
        ("kana and marks", 3.0, np.concatenate([span(0x3040, 0x30FF), span(0xFF61, 0xFF9F), span(0x1AFF0, 0x1B16F)])),
        ("emoji, ZWJ, VS16, skin tones", 4.0, np.concatenate([span(0x1F300, 0x1FAFF), np.array([0x200D, 0xFE0F, 0x20E3]
                                                               * 20, dtype=np.uint32), span(0x1F3FB, 0x1F3FF)])),
        ("scripts", 4.0, np.concatenate([span(0x0370, 0x03FF), span(0x0400, 0x04FF), span(0x0590, 0x06FF),
                                         span(0x0900, 0x097F), span(0x0E00, 0x0E7F)])),
        ("lone surrogates", 1.0, span(0xD800, 0xDFFF)),
    ]
    return pools


class Inputs:
    """Batches of random texts (str) and byte strings from the mixture."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.pools = code_point_pools()
        weights = np.array([w for _, w, _ in self.pools])
        self.p = weights / weights.sum()

    def texts(self, count: int) -> list[str]:
        rng = self.rng
        lengths = np.where(rng.random(count) < 0.03, rng.integers(0, 400, count), rng.integers(0, 40, count))
        total = int(lengths.sum())
        which = rng.choice(len(self.pools), size=total, p=self.p)
        cps = np.empty(total, dtype="<u4")
        for k, (_, _, pool) in enumerate(self.pools):
            at = np.flatnonzero(which == k)
            cps[at] = pool[rng.integers(0, len(pool), len(at))]
        joined = cps.tobytes().decode("utf-32-le", "surrogatepass")
        ends = np.cumsum(lengths)
        return [joined[e - n:e] for e, n in zip(ends.tolist(), lengths.tolist(), strict=True)]

    def mutate(self, text: str) -> bytes:
        rng = self.rng
        if rng.random() < 0.25:
            return rng.bytes(int(rng.integers(0, 24)))
        data = bytearray(text.encode("utf-8", "surrogatepass"))  # a lone surrogate: ED A0 80..ED BF BF, invalid
        for _ in range(int(rng.integers(0, 4))):
            if not data:
                break
            at = int(rng.integers(0, len(data)))
            action = rng.integers(0, 4)
            if action == 0:
                data[at] = int(rng.integers(0x80, 0x100))  # a stray lead or continuation byte
            elif action == 1:
                del data[at:]  # a cut sequence at the end
            elif action == 2:
                data[at:at] = bytes([0xC0 | int(rng.integers(0, 2)), 0x80 | int(rng.integers(0, 64))])  # overlong
            else:
                data[at:at] = b"\xf4\x90\x80\x80"  # above U+10FFFF
        return bytes(data)

    def batch(self, count: int) -> list[str | bytes]:
        texts: list[str | bytes] = list(self.texts(count))
        for i in np.flatnonzero(self.rng.random(count) < 0.2).tolist():
            texts[i] = self.mutate(texts[i])  # type: ignore[arg-type]
        return texts


def same(a: Any, b: Any) -> bool:
    return all(np.array_equal(getattr(a, n), getattr(b, n)) and getattr(a, n).dtype == getattr(b, n).dtype
               and getattr(a, n).shape == getattr(b, n).shape for n in ("features", "mask", "lengths", "truncated"))


def differential(args: argparse.Namespace, out: Path) -> int:
    inputs = Inputs(args.seed)
    native = [NativeBloomFeaturizer(config, cache_size=4096) for config in CONFIGS]
    python = [BloomFeaturizer(config) for config in CONFIGS]
    rng = np.random.default_rng(args.seed + 1)
    done = diffs = code_points = byte_inputs = 0
    t_native = t_python = t_gen = 0.0
    examples: list[dict[str, Any]] = []
    started = time.perf_counter()
    next_report = 0.0
    while done < args.inputs:
        count = min(args.batch, args.inputs - done)
        t0 = time.perf_counter()
        batch = inputs.batch(count)
        t1 = time.perf_counter()
        config = int(rng.integers(0, len(CONFIGS)))
        max_length = MAX_LENGTHS[int(rng.integers(0, len(MAX_LENGTHS)))]
        got = native[config](batch, max_length=max_length)
        t2 = time.perf_counter()
        expected = python[config](batch, max_length=max_length)
        t3 = time.perf_counter()
        t_gen, t_native, t_python = t_gen + t1 - t0, t_native + t2 - t1, t_python + t3 - t2
        bad: list[int] = []
        if not same(got, expected):
            bad = [i for i, text in enumerate(batch)
                   if not same(native[config]([text], max_length=max_length),
                               python[config]([text], max_length=max_length))] or [-1]
        for i in np.flatnonzero(rng.random(count) < 0.1).tolist():  # normalize and tokenize on a sample
            text = batch[i]
            decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            if (native[config].tokenize(text) != python[config].tokenize(decoded)
                    or native[config].normalize(text) != python[config].normalize(decoded)):
                bad.append(i)
        for i in sorted(set(bad)):
            diffs += 1
            if len(examples) < 50:
                text = batch[i] if i >= 0 else None
                examples.append({"config": GOLDEN["configs"][list(GOLDEN["configs"])[config]]["canonical_json"],
                                 "max_length": max_length, "batch_only": i < 0,
                                 "input": text.hex() if isinstance(text, bytes) else ascii(text),
                                 "kind": type(text).__name__})
        done += count
        code_points += sum(len(t) for t in batch if isinstance(t, str))
        byte_inputs += sum(isinstance(t, bytes) for t in batch)
        elapsed = time.perf_counter() - started
        if elapsed >= next_report or done >= args.inputs:
            print(f"  {done:>9,} inputs ({byte_inputs:,} bytes), {diffs} differences, {elapsed:6.0f} s "
                  f"(native {t_native:.1f} s, Python {t_python:.1f} s)", flush=True)
            next_report = elapsed + 30
    total = time.perf_counter() - started
    print(f"differential: {done:,} inputs ({done - byte_inputs:,} str with {code_points:,} code points, "
          f"{byte_inputs:,} bytes), {diffs} differences; {total:.1f} s "
          f"(generation {t_gen:.1f} s, native {t_native:.2f} s, Python reference {t_python:.1f} s, "
          f"{t_python / max(t_native, 1e-9):.1f}x)")
    if examples:
        path = out / "featurizer_fuzz_differences.json"
        path.write_text(json.dumps(examples, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
        print(f"differences written to {path}")
        for example in examples[:5]:
            print(f"  {example}")
    return diffs


SANITIZER = re.compile(r"(ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)[^\n]*"
                       r"|runtime error: [^\n]*|SUMMARY: [^\n]*|deadly signal|Test unit written to [^\n]*)")
ARTIFACTS = ("crash-*", "leak-*", "timeout-*", "oom-*", "slow-unit-*")


def libfuzzer(args: argparse.Namespace, out: Path) -> int:
    """``make -C native fuzz FUZZ_RUNS=N FUZZ_TIME=S``: every libFuzzer harness of the C core (ASan + UBSan)
    for N runs or S seconds; returns the number of sanitizer findings, or -1 when it could not run."""
    native = ROOT / "native"
    makefile = native / "Makefile"
    if args.no_libfuzzer:
        print("libFuzzer: skipped (--no-libfuzzer)")
        return -1
    if not makefile.is_file() or not re.search(r"^fuzz\s*:", makefile.read_text(encoding="utf-8"), re.M):
        print("libFuzzer: not run: native/Makefile has no 'fuzz' target")
        return -1
    clang = os.environ.get("CLANG", "clang-14")
    if shutil.which(clang) is None:
        print(f"libFuzzer: not run: {clang} is not installed (libFuzzer ships with clang; set CLANG)")
        return -1
    command = ["make", "-C", str(native), "fuzz", f"FUZZ_RUNS={args.fuzz_runs}", f"FUZZ_TIME={args.fuzz_time}",
               f"CLANG={clang}"]
    print(f"libFuzzer: {' '.join(command)}", flush=True)
    before = {p for pattern in ARTIFACTS for p in native.glob(pattern)}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=args.fuzz_timeout)
    took = time.perf_counter() - started
    logs = {log.stem: log.read_text(encoding="utf-8", errors="replace")
            for log in sorted((native / "build" / "fuzz").glob("*.log"))}
    text = result.stdout + result.stderr + "".join(logs.values())
    (out / "libfuzzer.log").write_text(result.stdout + result.stderr + "".join(
        f"\n==== {name}.log\n{log}" for name, log in logs.items()), encoding="utf-8")
    findings = sorted(set(m.group(0) for m in SANITIZER.finditer(text)))
    for artifact in sorted({p for pattern in ARTIFACTS for p in native.glob(pattern)} - before):
        shutil.copy2(artifact, out / artifact.name)
        findings.append(f"artifact {artifact.name} (copied to {out})")
    for name, log in logs.items():
        done = re.findall(r"Done (\d+) runs in (\d+) second", log)
        cov = re.findall(r"#\d+\s+\w+\s+cov: (\d+) ft: (\d+)", log)
        corpus = re.findall(r"corp: (\d+)/", log)
        print(f"  {name}: " + (f"{int(done[-1][0]):,} runs in {done[-1][1]} s" if done else "no 'Done' line")
              + (f", coverage {cov[-1][0]} edges / {cov[-1][1]} features" if cov else "")
              + (f", corpus {corpus[-1]} inputs" if corpus else ""))
    print(f"libFuzzer: make exit {result.returncode} after {took:.0f} s; {len(findings)} sanitizer findings "
          f"(log: {out / 'libfuzzer.log'})")
    for finding in findings[:20]:
        print(f"  {finding}")
    if result.returncode != 0 and not findings:
        print("  (make failed without a sanitizer report; last lines:)")
        for line in (result.stdout + result.stderr).strip().splitlines()[-15:]:
            print(f"  | {line}")
        return 1
    return len(findings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fuzz-runs", type=int, default=1_000_000, help="libFuzzer runs per harness")
    parser.add_argument("--fuzz-time", type=int, default=0, help="libFuzzer seconds per harness (0: no limit)")
    parser.add_argument("--fuzz-timeout", type=int, default=7200, help="seconds before make fuzz is stopped")
    parser.add_argument("--no-libfuzzer", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "featurizer-fuzz")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not native_available():
        print(f"native featurizer not available: {native_unavailable_reason()}", file=sys.stderr)
        return 2
    print(f"{featurizer_implementation('native')} vs the Python reference; python {platform.python_version()}, "
          f"numpy {np.__version__}, {platform.machine()}; seed {args.seed}, batches of {args.batch}")
    diffs = differential(args, args.out)
    findings = libfuzzer(args, args.out)
    ok = diffs == 0 and findings <= 0
    print(f"result: {'PASS' if ok else 'FAIL'}: {diffs} differences, "
          f"{'libFuzzer not run' if findings < 0 else f'{findings} sanitizer findings'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
