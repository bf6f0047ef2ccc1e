"""The LiteRT generation step graph with ChannelNorm's statistics as ``linear`` by an averaging row against
``mean`` (``norms_by_mean``, what ``exporters/step_graph.py`` now exports): parity and per-step latency.

    python benchmarks/step_norms.py runs/gen300-shakespeare [--calls 4000] [--threads 1]

Converts the checkpoint's step graph both ways, runs both interpreters on the same random state, and
times ``step`` interleaved (one call of each per round), printing the medians and the per-round ratio's
p10-p90. The figure in benchmarks/RESULTS.md ("LiteRT step graph with its norms as MEAN") comes from it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a `neurolite train --task generation` checkpoint")
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import litert_torch
    import torch
    from ai_edge_litert.interpreter import Interpreter

    from neurolite_sdk.exporters.step_graph import _NamedStep, example_inputs
    from neurolite_sdk.generation.checkpoint import load_generator
    from neurolite_sdk.modeling.layers import norms_by_mean

    torch.set_num_threads(args.threads)
    model = load_generator(args.checkpoint).model.eval()
    features, conv, rec = example_inputs(model)
    sample = {"features": features, "conv_state": conv, "rec_state": rec}

    def convert(by_mean: bool) -> bytes:
        converter = litert_torch.Converter()
        if not by_mean:
            converter.signature("step", _NamedStep(model).eval(), sample_kwargs=sample)
            return converter.convert().model_content()
        with norms_by_mean(model):
            converter.signature("step", _NamedStep(model).eval(), sample_kwargs=sample)
            return converter.convert().model_content()

    runners = {name: Interpreter(model_content=convert(by_mean), num_threads=args.threads).get_signature_runner("step")
               for name, by_mean in (("linear", False), ("mean", True))}
    rng = np.random.default_rng(0)
    feeds = {"features": features.numpy(), "conv_state": rng.standard_normal(conv.shape).astype(np.float32),
             "rec_state": rng.standard_normal(rec.shape).astype(np.float32)}
    outputs = {name: runner(**feeds) for name, runner in runners.items()}
    diff = max(float(np.abs(outputs["linear"][k] - outputs["mean"][k]).max()) for k in outputs["linear"])
    for runner in runners.values():
        for _ in range(200):
            runner(**feeds)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.calls):
        for name, runner in runners.items():
            started = time.perf_counter()
            runner(**feeds)
            times[name].append(time.perf_counter() - started)
    for name, values in times.items():
        us = np.array(values) * 1e6
        p10, p90 = np.percentile(us, 10), np.percentile(us, 90)
        print(f"{name}: median {np.median(us):.1f} us (p10 {p10:.1f}, p90 {p90:.1f})")
    ratio = np.array(times["mean"]) / np.array(times["linear"])
    print(f"mean / linear: median {np.median(ratio):.3f}x (p10-p90 {np.percentile(ratio, 10):.3f}-"
          f"{np.percentile(ratio, 90):.3f}); max |difference| of the outputs {diff:.1e}")


if __name__ == "__main__":
    main()
