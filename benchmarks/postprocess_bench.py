"""What the post-processors add to one ``tiny`` prediction: rules (23 rules, 11 predicates) and a network.

    nice .venv/bin/python benchmarks/postprocess_bench.py [--checkpoint CKPT] [--threads 1] [--runs 2000]

Builds a ``tiny`` model with the predicate head of ``examples/rules/snips_followups.json`` (random
weights unless ``--checkpoint`` names a trained one: the post-processors' cost depends on how many
facts fire, so a trained model is the honest case), exports it to ONNX with the rules and
``examples/networks/snips_dialogue.json``, and times batch-1 ``Predictor.predict`` on SNIPS test
texts, round robin, with and without post-processing, and the post-processing step alone (facts ->
rule engine; soft evidence -> exact network posteriors). Prints median and p90 in milliseconds.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from neurolite_sdk import NeuroLiteConfig, NeuroLiteForClassification
from neurolite_sdk.exporters import export_bundle
from neurolite_sdk.exporters.parity import ParityTexts
from neurolite_sdk.public_data import data_path
from neurolite_sdk.reasoning import BayesianBeliefNetwork, SymbolicRuleEngine
from neurolite_sdk.runtime import load
from neurolite_sdk.training.checkpoint import Checkpoint, load_checkpoint
from neurolite_sdk.training.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "rules" / "snips_followups.json"
NETWORK = ROOT / "examples" / "networks" / "snips_dialogue.json"
SNIPS_TEST = data_path("snips", "test")


def random_checkpoint(labels: list[str]) -> Checkpoint:
    engine = SymbolicRuleEngine.from_json(RULES)
    torch.manual_seed(0)
    config = NeuroLiteConfig.tiny(use_symbolic_module=True, symbolic_rules_file=str(RULES),
                                  symbolic_predicates=list(engine.model_facts.predicate_names),
                                  use_bayesian_module=True, num_bayesian_variables=1,
                                  bayesian_network_file=str(NETWORK))
    model = NeuroLiteForClassification(config, num_labels=len(labels)).eval()
    reasoning = {"rules.json": engine.to_dict(), "network.json": BayesianBeliefNetwork.from_json(NETWORK).to_dict()}
    return Checkpoint(model=model, labels=labels, reasoning=reasoning)


def timed(call, runs: int) -> np.ndarray:
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        call(i)
        times[i] = time.perf_counter() - start
    return times * 1e3


def summary(name: str, ms: np.ndarray) -> str:
    return f"{name:<44} median {np.median(ms):7.3f} ms   p90 {np.percentile(ms, 90):7.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    test = load_dataset(SNIPS_TEST)
    checkpoint = load_checkpoint(args.checkpoint) if args.checkpoint else random_checkpoint(sorted(set(test.labels)))
    with tempfile.TemporaryDirectory() as tmp:
        export_bundle(checkpoint, "onnx", Path(tmp) / "onnx", texts=ParityTexts(test.texts[:128], "SNIPS test"))
        predictor = load(Path(tmp) / "onnx", threads=args.threads)
    post = predictor.postprocessor
    texts = test.texts
    for text in texts[:50]:  # warm-up: onnxruntime, the featurizer's token cache, numpy paths
        predictor.predict([text])
    outputs = [predictor.predict([t])[0] for t in texts]
    rules_only = type(post)(post.labels, post.predicates, post.engine, None)

    def reason(i: int, processor=post) -> None:
        p = outputs[i % len(outputs)]
        processor(p.label, p.probabilities, np.array(list(p.predicates.values())))

    with_post = timed(lambda i: predictor.predict([texts[i % len(texts)]]), args.runs)
    alone = timed(reason, args.runs)
    alone_rules = timed(lambda i: reason(i, rules_only), args.runs)
    predictor.postprocessor = None
    without = timed(lambda i: predictor.predict([texts[i % len(texts)]]), args.runs)
    fired = np.mean([sum(f.startswith("slot(") for f in p.facts) for p in outputs])
    derived = np.mean([len(p.derived) for p in outputs])
    print(f"tiny ({'trained: ' + str(args.checkpoint) if args.checkpoint else 'random weights'}), ONNX, batch 1, "
          f"{args.threads} thread(s), {args.runs} runs over {len(texts)} SNIPS test texts; "
          f"{len(post.engine.rules)} rules, {len(post.predicates)} predicates, "
          f"{fired:.2f} predicate facts and {derived:.1f} derived facts per text on average")
    print(summary("predict, no post-processing", without))
    print(summary("predict + rules + network (exact)", with_post))
    print(summary("post-processing alone: rules + network", alone))
    print(summary("post-processing alone: rules", alone_rules))
    print(f"added to a prediction (median difference): {np.median(with_post) - np.median(without):.3f} ms")
    print(f"python {platform.python_version()}, numpy {np.__version__}, onnxruntime "
          f"{importlib.metadata.version('onnxruntime')}, {platform.machine()}")


if __name__ == "__main__":
    main()
