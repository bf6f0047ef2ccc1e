"""Texts per second of one bundle when a batch of texts goes through the graph in chunks of different sizes.

    python benchmarks/batch_chunks.py BUNDLE [--batch 64] [--chunks 1,4,8,16,64] [--rounds 12] [--threads 1]

Answers "should ``Predictor.predict`` send its 64 texts as one call or several": the same ``--batch`` real
texts (SST-2 dev sentences joined to the model's length) are run through ``Predictor.run`` (planner
included: a format with static batch sizes splits as it does in production) in chunks of each size, the
chunk sizes taking turns round after round, so a busy machine slows them alike. Prints the time per text
(p10 and median over rounds) for each chunk size.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--chunks", default="1,4,8,16,64")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval", type=Path, default=None, help="texts (default: SST-2 dev from the data folder)")
    args = parser.parse_args()

    from neurolite_sdk import runtime
    from neurolite_sdk.benchmarks.suite import long_texts
    from neurolite_sdk.public_data import data_dir

    predictor = runtime.load(args.bundle, threads=args.threads)
    length = predictor.bundle.featurizer.max_length
    texts = long_texts(args.eval or data_dir() / "sst2" / "dev.tsv", length, count=args.batch)
    batch = predictor.featurize(texts, max_length=length)
    chunks = [int(c) for c in args.chunks.split(",") if c]

    def run(chunk: int) -> None:
        for start in range(0, args.batch, chunk):
            predictor.run({"features": batch.features[start:start + chunk], "mask": batch.mask[start:start + chunk]})

    for chunk in chunks:
        run(chunk)
    seconds: dict[int, list[float]] = {chunk: [] for chunk in chunks}
    for round_ in range(args.rounds):
        for chunk in chunks[round_ % len(chunks):] + chunks[:round_ % len(chunks)]:
            started = time.perf_counter()
            run(chunk)
            seconds[chunk].append(time.perf_counter() - started)
    print(f"{args.bundle} ({predictor.bundle.format}): {args.batch} texts of {length} tokens, "
          f"{args.threads} thread(s), {args.rounds} rounds")
    for chunk in chunks:
        per_text = np.array(seconds[chunk]) * 1e3 / args.batch
        print(f"  chunks of {chunk:>3}: {np.percentile(per_text, 10):.3f} ms a text (p10), median "
              f"{np.median(per_text):.3f}, {args.batch / np.median(seconds[chunk]):.0f} texts/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
