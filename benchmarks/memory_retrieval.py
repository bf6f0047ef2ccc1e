"""Issue 17's memory targets: retrieval of stored facts, and what reading memory costs `tiny`.

    python -m benchmarks.memory_retrieval --out DIR [--steps 1000] [--seed 0] [--runs 2000] [--formats onnx,tflite]

1. Model: `tiny` with ``use_external_memory`` (default sizes: 16 short-term, 128 long-term, 32 persistent
   slots of 64), the encoder loaded from the pretrained `tiny` encoder in the wheel
   (neurolite_sdk/pretrained/tiny), the classifier head untouched (random: nothing here reads its labels).
2. Training, the documented step (training/memory_retrieval.py): the memory's query and key projections
   only, contrastively, on facts of 2,000 generated people ("NAME lives in CITY"), ``--steps`` episodes of
   100 facts; the encoder is frozen. Seeded: the same seed gives the same weights on the same machine.
3. Retrieval: 100 other generated people (no name shared with training) are stored one fact per call into
   an empty memory, writing; then each is asked about ("Where does NAME live?" and two other phrasings)
   without writing; top-1 is the share of questions whose most-read slot holds that person's fact. In
   PyTorch, then through each exported bundle's runtime session (the exported graph computes the writes).
4. Latency: the same weights exported with and without memory, each format's graph called at batch 1 on a
   64-token input (the backend's ``run``), the memory model with the state the 100 facts left and writing
   on (reads and writes, as a session call runs). Both loaded in one process and called in turn, so the
   machine's load moves both alike; reported: each one's p10/median/p90 and the ratio of medians, with
   the p10-p90 of the per-round ratios.
5. Breakdown (ONNX, onnxruntime directly): the plain graph, the memory graph, and the memory graph with
   its write path taken out (the state passed through unchanged; built only here, to split the cost of
   reading from the cost of the in-graph writes), called in turn the same way.

Writes DIR/memory_retrieval.json; the bundles stay in DIR/bundles.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

LATENCY_TEXT = ("the film is a gorgeous , witty , seductive movie that keeps its audience guessing until the very "
                "last frame , and its cast of unknowns carries every scene with a warmth that most big productions "
                "never find , so see it twice , ") * 2
PRETRAINED = Path(__file__).resolve().parents[1] / "neurolite_sdk" / "pretrained" / "tiny"


def build(memory: bool, seed: int) -> Any:
    import torch

    from neurolite_sdk.config import NeuroLiteConfig
    from neurolite_sdk.modeling.model import NeuroLiteForClassification
    from neurolite_sdk.training.pretrain import load_encoder

    torch.manual_seed(seed)
    model = NeuroLiteForClassification(NeuroLiteConfig.tiny(use_external_memory=memory), num_labels=2)
    load_encoder(model, PRETRAINED)
    return model.eval()


def export(model: Any, fmt: str, target: Path) -> Path:
    from neurolite_sdk.exporters import ParityTexts, export_bundle
    from neurolite_sdk.public_data import data_path
    from neurolite_sdk.training.checkpoint import Checkpoint

    lines = data_path("sst2", "dev.tsv").read_text(encoding="utf-8").splitlines()[1:129]
    texts = ParityTexts([line.split("\t")[0] for line in lines], "sst2 dev (first 128 texts)")
    result = export_bundle(Checkpoint(model=model, labels=["negative", "positive"]), fmt, target, texts=texts,
                           overwrite=True)
    print(f"exported {target.name}: parity {result.parity['status']}, max |dlogit| {result.parity['max_abs_logit']:.2g}"
          f", max |dmemory| {max(s.get('max_abs_memory', 0.0) for s in result.parity['signatures'].values()):.2g}",
          flush=True)
    return target


def session_step(predictor: Any) -> Any:
    session = predictor.session()

    def step(text: str, write: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        session.predict([text], update_memory=write)
        return session.attention, {name: value[0] for name, value in session.state.items()}

    step.session = session  # type: ignore[attr-defined]
    return step


def latency(plain: Any, memory: Any, state: dict[str, np.ndarray], runs: int) -> dict[str, Any]:
    """Graph time at batch 1 on a 64-token text: the plain model against the memory model, in turns."""
    from neurolite_sdk.benchmarks.worker import latency_stats

    feeds, calls = {}, {}
    for name, predictor in (("plain", plain), ("memory", memory)):
        batch = predictor.featurize([LATENCY_TEXT])
        signature = min((s for s in predictor.bundle.signatures if s.batch.min == 1
                         and (s.length.max or 10**9) >= 64), key=lambda s: s.length.max or 10**9)
        length = 64
        features = np.zeros((1, length, batch.features.shape[2]), dtype=np.int32)
        mask = np.zeros((1, length), dtype=np.float32)
        features[:, :batch.features.shape[1]] = batch.features[:, :length]
        mask[:, :batch.mask.shape[1]] = batch.mask[:, :length]
        feed = {"features": features, "mask": mask}
        if name == "memory":
            feed.update(predictor.memory.inputs(state, np.ones(1, dtype=np.float32)))
        feeds[name] = feed
        calls[name] = (predictor.backend, signature.name)
    assert int(feeds["plain"]["mask"].sum()) == 64, "the latency text must fill 64 tokens"
    for _ in range(200):
        for name, (backend, signature) in calls.items():
            backend.run(signature, feeds[name])
    times: dict[str, list[float]] = {"plain": [], "memory": []}
    order = ["plain", "memory"]
    for i in range(runs):
        for name in order[i % 2:] + order[:i % 2]:
            backend, signature = calls[name]
            started = time.perf_counter()
            backend.run(signature, feeds[name])
            times[name].append(time.perf_counter() - started)
    ratios = np.array(times["memory"]) / np.array(times["plain"])
    return {"signature": {name: calls[name][1] for name in calls},
            "plain": latency_stats(times["plain"]), "memory": latency_stats(times["memory"]),
            "ratio_of_medians": float(np.median(times["memory"]) / np.median(times["plain"])),
            "round_ratio_p10_p50_p90": [float(np.percentile(ratios, q)) for q in (10, 50, 90)]}


def breakdown(model: Any, plain_model: Any, state: dict[str, np.ndarray], runs: int) -> dict[str, Any]:
    """ONNX graph time at batch 1, 64 tokens: plain, read only (write path removed), read and write."""
    import onnx
    import onnxruntime as ort

    from neurolite_sdk.benchmarks.worker import latency_stats
    from neurolite_sdk.exporters.base import ExportJob
    from neurolite_sdk.exporters.onnx import OnnxExporter
    from neurolite_sdk.modeling import memory

    def proto(graph_model: Any) -> bytes:
        exporter = OnnxExporter()
        job = ExportJob(model=graph_model, labels=["negative", "positive"], metadata={})
        return exporter.export_fp32(job, exporter.signatures(job)).SerializeToString()

    protos = {"plain": proto(plain_model), "read_and_write": proto(model)}
    write = memory.HierarchicalMemory.write
    memory.HierarchicalMemory.write = lambda self, pooled, state, *rest: {k: v * 1.0 for k, v in state.items()}
    try:
        protos["read_only"] = proto(model)
    finally:
        memory.HierarchicalMemory.write = write
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = {name: ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
                for name, data in protos.items()}
    features, mask = model.neurolite.featurize([LATENCY_TEXT])
    base = {"features": features[:, :64].numpy(), "mask": mask[:, :64].numpy()}
    full = {**base, **{f"memory_{k}": v for k, v in state.items()}, "memory_write": np.ones(1, dtype=np.float32)}
    feeds = {"plain": base, "read_only": full, "read_and_write": full}
    names = list(sessions)
    for _ in range(200):
        for name in names:
            sessions[name].run(None, feeds[name])
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        for name in names[i % 3:] + names[:i % 3]:
            started = time.perf_counter()
            sessions[name].run(None, feeds[name])
            times[name].append(time.perf_counter() - started)
    return {name: {**latency_stats(times[name]), "nodes": len(onnx.load_from_string(protos[name]).graph.node),
                   "ratio_of_medians": float(np.median(times[name]) / np.median(times["plain"])),
                   "ratio_of_p10": float(np.percentile(times[name], 10) / np.percentile(times["plain"], 10))}
            for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--formats", default="onnx,tflite")
    args = parser.parse_args()

    import torch

    from neurolite_sdk.runtime import load
    from neurolite_sdk.training.memory_retrieval import (
        QUESTIONS,
        evaluate_retrieval,
        generate_people,
        torch_step,
        train_retrieval,
    )

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"steps": args.steps, "seed": args.seed, "torch_threads": 1}
    model = build(memory=True, seed=args.seed)
    short = model.config.memory_short_term_size
    test = generate_people(100, seed=args.seed + 1)
    train = generate_people(2000, seed=args.seed + 2, exclude=test)
    report["untrained_top1"] = evaluate_retrieval(torch_step(model), test, short).top1
    started = time.perf_counter()
    losses = train_retrieval(model, train, steps=args.steps, seed=args.seed)
    report["training"] = {"seconds": round(time.perf_counter() - started, 1), "first_loss": losses[0],
                          "last_loss": float(np.mean(losses[-50:]))}
    report["pytorch"] = {QUESTIONS[k]: vars(evaluate_retrieval(torch_step(model), test, short, phrasing=k))
                         for k in range(len(QUESTIONS))}
    print(json.dumps(report, indent=1), flush=True)
    plain_model = build(memory=False, seed=args.seed)
    plain_model.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("memory.")})
    report["formats"] = {}
    for fmt in args.formats.split(","):
        with_memory = load(export(model, fmt, args.out / "bundles" / f"{fmt}-memory"), threads=1)
        plain = load(export(plain_model, fmt, args.out / "bundles" / f"{fmt}-plain"), threads=1)
        entry: dict[str, Any] = {}
        step = session_step(with_memory)
        entry["retrieval"] = vars(evaluate_retrieval(step, test, short))
        entry["latency"] = latency(plain, with_memory, step.session.state, args.runs)
        report["formats"][fmt] = entry
        print(fmt, json.dumps(entry, indent=1), flush=True)
        state = step.session.state
    report["breakdown_onnx"] = breakdown(model, plain_model, state, args.runs)
    print("breakdown", json.dumps(report["breakdown_onnx"], indent=1), flush=True)
    (args.out / "memory_retrieval.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
