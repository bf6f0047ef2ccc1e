"""Latency of one multimodal prediction through the runtime, per bundle (issue 18).

    .venv/bin/python benchmarks/multimodal_bench.py BUNDLE [BUNDLE ...] [--calls 200]

Each call is ``Predictor.predict`` of one item with text, an 8x8 image, a 0.7 s waveform (the host
log-mel included) and a 3-frame video, and separately the graph alone (``Predictor.run`` on prepared
arrays). Prints p10 / p50 / p90 in milliseconds, after 20 warm-up calls, one thread.
"""

from __future__ import annotations

import argparse
import os
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # before numpy: its BLAS runs the mel filters
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

from neurolite_sdk.multimodal_inputs import graph_inputs  # noqa: E402
from neurolite_sdk.runtime import load  # noqa: E402


def _percentiles(samples: list[float]) -> str:
    p10, p50, p90 = np.percentile(np.array(samples) * 1e3, [10, 50, 90])
    return f"p10 {p10:.2f} / p50 {p50:.2f} / p90 {p90:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(0)
    image = (load_digits().images[0] / 16.0).astype(np.float32)[None]
    for path in args.bundles:
        predictor = load(path)
        spec = predictor.multimodal
        item = {"text": ["a handwritten zero"], "image": [image],
                "audio": [rng.standard_normal(int(0.7 * spec.sample_rate)).astype(np.float32) * 0.1],
                "video": [np.stack([image] * spec.video_frames)]}
        arrays, _ = graph_inputs(spec, predictor.featurize, item)
        timings: dict[str, list[float]] = {"predict": [], "graph": []}
        for i in range(20 + args.calls):
            started = time.perf_counter()
            predictor.predict(item)
            middle = time.perf_counter()
            predictor.run(arrays)
            if i >= 20:
                timings["predict"].append(middle - started)
                timings["graph"].append(time.perf_counter() - middle)
        print(f"{predictor.bundle.format:<11} predict (host log-mel + graph) {_percentiles(timings['predict'])}; "
              f"graph alone {_percentiles(timings['graph'])}")


if __name__ == "__main__":
    main()
