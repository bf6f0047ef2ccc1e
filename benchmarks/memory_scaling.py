"""Peak memory of ``neurolite run`` and ``neurolite predict`` against the number of texts in ``--file``.

    python benchmarks/memory_scaling.py --bundles DIR --checkpoint CKPT [--counts 1000 10000 100000]
        [--formats onnx tflite]

For each count N, the first N sentences of SST-2 train (../shared/data/sst2/train.tsv, 67,349 rows,
cycled for larger N) go into a file, one per line; each command runs in a fresh process with ``--file``
and ``--json`` (stdout to a file), and its peak RSS (``ru_maxrss`` from ``wait4``) and wall time are
printed with the number of JSON rows it wrote (checked: a valid JSON array of N objects). ``run`` uses
``--threads 1``. Flat memory means the peak does not grow with N.

The commands run with this interpreter and environment: with ``PYTHONPATH`` pointing at an older
checkout laid out as the installed package, the same script measures that version (before/after).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neurolite_sdk.public_data import data_path

CLI = "from neurolite_sdk.cli import main; main()"


def sentences(count: int) -> list[str]:
    lines = data_path("sst2", "train.tsv").read_text(encoding="utf-8").split("\n")
    column = lines[0].split("\t").index("sentence")
    rows = [line.split("\t")[column] for line in lines[1:] if line.strip()]
    return [rows[i % len(rows)] for i in range(count)]


def measure(args: list[str], out: Path) -> tuple[float, float, int]:
    """(peak RSS MB, wall seconds, JSON rows) of one command in a fresh process, run in the scratch folder
    (the working directory comes first on ``sys.path``: a checkout there would shadow ``PYTHONPATH``)."""
    errors = out.with_suffix(".stderr")
    with out.open("wb") as stdout, errors.open("wb") as stderr_file:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", CLI, *args], stdout=stdout, stderr=stderr_file,
                                   cwd=out.parent)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
    stderr = errors.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed: {stderr.strip()[-500:]}")
    rows = json.loads(out.read_text(encoding="utf-8"))
    return usage.ru_maxrss / 1024, seconds, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--counts", nargs="+", type=int, default=[1000, 10000, 100000])
    parser.add_argument("--formats", nargs="+", default=["onnx", "tflite"])
    args = parser.parse_args()
    bundles, checkpoint = args.bundles.resolve(), args.checkpoint.resolve()
    with tempfile.TemporaryDirectory(prefix="memory-scaling-") as scratch:
        where = subprocess.run([sys.executable, "-c", "import neurolite_sdk.cli as c; print(c.__file__)"],
                               cwd=scratch, capture_output=True, text=True, check=True).stdout.strip()
        print(f"# {platform.platform()}, python {platform.python_version()}; the CLI from {Path(where).parents[1]}")
        print("| command | texts | peak RSS MB | wall s | JSON rows |")
        print("|---|---|---|---|---|")
        texts_file, out = Path(scratch) / "texts.txt", Path(scratch) / "out.json"
        for count in args.counts:
            texts_file.write_text("".join(text + "\n" for text in sentences(count)), encoding="utf-8")
            commands = [(f"run {fmt}", ["run", str(bundles / fmt), "--file", str(texts_file), "--json",
                                        "--threads", "1"]) for fmt in args.formats]
            commands.append(("predict", ["predict", str(checkpoint), "--file", str(texts_file), "--json"]))
            for name, command in commands:
                peak, seconds, rows = measure(command, out)
                if rows != count:
                    raise SystemExit(f"{name}: {rows} JSON rows for {count} texts")
                print(f"| {name} | {count:,} | {peak:,.0f} | {seconds:,.1f} | {rows:,} |", flush=True)


if __name__ == "__main__":
    main()
