"""Text generation benchmarks (benchmarks/RESULTS.md, section "Text generation").

    python -m benchmarks.generation_bench train --corpus shakespeare --steps 80 --out runs/gen-shakespeare
    python -m benchmarks.generation_bench baseline --corpus shakespeare --order 5
    python -m benchmarks.generation_bench speed runs/gen-shakespeare --formats onnx,executorch,tflite,coreml \
        --lengths 64,512,4096

``train``: the causal NeuroLite model via ``train_generator`` (the code ``neurolite train --task generation``
runs), scored on the first ``--eval-bytes`` of the held-out text. ``baseline``: the byte n-gram model
(benchmarks/ngram_baseline.py) on the same training and held-out bytes. ``speed``: exports the step
graph per format (into ``--bundles``) and measures generation (bytes/s over ``--lengths`` new bytes, so a
cost per byte that grew with the length would show), and the peak RSS of a fresh process that opens one
bundle and generates 1,024 bytes (``rss``; it imports torch only for ExecuTorch). Corpora: Tiny Shakespeare (first 90%
/ last 10% of input.txt) and WikiText-2 (trained on valid.txt, scored on test.txt: the train split is
not in ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from neurolite_sdk.public_data import data_path

CORPORA = {"shakespeare": (("tinyshakespeare", "input.txt"), ("tinyshakespeare", "input.txt")),
           "wikitext": (("wikitext-2", "valid.txt"), ("wikitext-2", "test.txt"))}


def _train(args: argparse.Namespace) -> dict:
    import torch

    from neurolite_sdk.generation.config import GenerationConfig
    from neurolite_sdk.generation.train import GenerationTrainJob, train_generator

    torch.set_num_threads(args.threads)
    train_path, eval_path = (data_path(*p) for p in CORPORA[args.corpus])
    overrides = json.loads(args.config) if args.config else {}
    job = GenerationTrainJob(train_path=train_path, eval_path=eval_path, out_dir=Path(args.out),
                             config=GenerationConfig(**overrides), batch_size=args.batch_size, seq_len=args.seq_len,
                             learning_rate=args.lr, max_steps=args.steps, eval_bytes=args.eval_bytes,
                             seed=args.seed, overwrite=True)
    report = train_generator(job, log=lambda line: print(line, file=sys.stderr, flush=True))
    return {k: v for k, v in report.items() if k != "history"}


def _baseline(args: argparse.Namespace) -> dict:
    from benchmarks.ngram_baseline import run
    from neurolite_sdk.generation.train import read_texts

    train_path, eval_path = (data_path(*p) for p in CORPORA[args.corpus])
    train, held, split = read_texts(train_path, eval_path)
    return {"corpus": args.corpus, "split": split, "eval_bytes": min(len(held), args.eval_bytes),
            **run(train, held[: args.eval_bytes], args.order)}


def _rss(args: argparse.Namespace) -> dict:
    """Peak RSS of a fresh process that opens one step bundle and generates (torch-free except ExecuTorch)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from neurolite_sdk.runtime.generation import generate, open_session

    session = open_session(args.bundle, threads=args.threads)
    generate(session, "ROMEO:\n", args.new_bytes, temperature=0.8, top_k=40, seed=0)
    return {"bundle": args.bundle, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_import_mib": before, "torch_imported": "torch" in sys.modules}


def _speed(args: argparse.Namespace) -> dict:
    import subprocess

    import torch

    from neurolite_sdk.exporters.step_graph import export_step_bundle
    from neurolite_sdk.generation.api import generate_bytes
    from neurolite_sdk.generation.checkpoint import load_generator
    from neurolite_sdk.generation.sampling import DecodingSettings
    from neurolite_sdk.runtime.generation import generate_bytes as runtime_generate
    from neurolite_sdk.runtime.generation import open_session

    torch.set_num_threads(args.threads)
    model = load_generator(args.checkpoint).model
    prompt = "ROMEO:\n"
    results: dict = {"threads": args.threads, "prompt": prompt, "formats": {}}
    lengths = [int(n) for n in args.lengths.split(",")]

    def timed(run) -> dict:
        out = {}
        for n in lengths:
            settings = DecodingSettings(max_new_tokens=n, temperature=0.8, top_k=40, seed=0)
            started = time.perf_counter()
            run(settings)
            seconds = time.perf_counter() - started
            out[str(n)] = {"seconds": seconds, "bytes_per_s": n / seconds}
        return out

    results["formats"]["pytorch"] = timed(lambda s: generate_bytes(model, prompt, s))
    for fmt in args.formats.split(","):
        folder = Path(args.bundles) / fmt
        started = time.perf_counter()
        manifest = export_step_bundle(model, fmt, folder, overwrite=True)
        entry = folder / manifest["entry"]
        size = sum(p.stat().st_size for p in ([entry] if entry.is_file() else entry.rglob("*")) if p.is_file())
        row = {"export_seconds": time.perf_counter() - started, "file_bytes": size, "parity": manifest["parity"]}
        if fmt != "coreml":
            session = open_session(folder, threads=args.threads)
            row["generation"] = timed(lambda s, session=session: runtime_generate(session, prompt, s))
            probe = subprocess.run([sys.executable, "-m", "benchmarks.generation_bench", "rss", str(folder),
                                    "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            row["fresh_process"] = json.loads(probe.stdout)
        results["formats"][fmt] = row
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train")
    train.add_argument("--corpus", choices=sorted(CORPORA), required=True)
    train.add_argument("--out", required=True)
    train.add_argument("--steps", type=int, default=80)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--seq-len", type=int, default=128)
    train.add_argument("--lr", type=float, default=5e-3)
    train.add_argument("--config", default=None, help="GenerationConfig fields as a JSON object")
    train.add_argument("--eval-bytes", type=int, default=100_000)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=1)
    base = sub.add_parser("baseline")
    base.add_argument("--corpus", choices=sorted(CORPORA), required=True)
    base.add_argument("--order", type=int, default=5)
    base.add_argument("--eval-bytes", type=int, default=100_000)
    speed = sub.add_parser("speed")
    speed.add_argument("checkpoint")
    speed.add_argument("--formats", default="onnx,executorch,tflite,coreml")
    speed.add_argument("--lengths", default="64,256,1024")
    speed.add_argument("--threads", type=int, default=1)
    speed.add_argument("--bundles", default="runs/gen-bundles", help="where the step bundles are written")
    rss = sub.add_parser("rss")
    rss.add_argument("bundle")
    rss.add_argument("--new-bytes", type=int, default=1024)
    rss.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    result = {"train": _train, "baseline": _baseline, "speed": _speed, "rss": _rss}[args.command](args)
    print(json.dumps(result, indent=2, allow_nan=False))


if __name__ == "__main__":
    main()
