"""A SNIPS classifier's probabilities as soft evidence in a Bayesian network; exact vs sampled posteriors.

    .venv/bin/python examples/bayesian_network_example.py --checkpoint runs/snips-symbolic-example
    .venv/bin/python examples/bayesian_network_example.py          # trains a small model first (~1 min)

The network is ``examples/networks/snips_dialogue.json``: Intent -> Located, Timed; (Intent, Located)
-> AskLocation ("ask the user for a place"). The script

1. refits its CPTs on ../shared/data/snips/train by counting (gold intents, the rules file's cue labels, and
   AskLocation as the rule "a GetWeather or SearchScreeningEvent request without a place" says), with
   a Dirichlet(1) prior, and compares them with the shipped file;
2. for every text of ../shared/data/snips/test, enters the classifier's probabilities as soft evidence on Intent
   and the predicate head's location and time scores on Located and Timed, and compares the posterior
   of AskLocation from variable elimination (exact) with likelihood weighting (10,000 samples, seeded);
3. scores P(AskLocation) against the gold answer (from the gold intent and the cue labels): the Brier
   score of the soft-evidence posterior, and of the hard decision (argmax intent, thresholded scores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from neurolite_sdk.public_data import data_path
from neurolite_sdk.reasoning import BayesianBeliefNetwork, SymbolicRuleEngine
from neurolite_sdk.training.checkpoint import load_checkpoint
from neurolite_sdk.training.data import load_dataset
from neurolite_sdk.training.pipeline import TrainJob, run_training
from neurolite_sdk.training.trainer import encode_texts, predict_predicates, predict_proba

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "rules" / "snips_followups.json"
NETWORK = ROOT / "examples" / "networks" / "snips_dialogue.json"
SNIPS = data_path("snips")
ASKS_FOR_PLACE = {"GetWeather", "SearchScreeningEvent"}
SMALL = dict(num_buckets=2048, embedding_dim=64, hidden_size=64, num_mixer_layers=2, max_length=32,
             token_mixing_dim=32, channel_mixing_dim=128)


def flag(value: bool) -> str:
    return "true" if value else "false"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint with the predicate head (default: train one)")
    parser.add_argument("--out", type=Path, default=Path("runs/snips-bayes-example"))
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--overwrite", action="store_true", help="replace the checkpoint a previous run left at --out")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.checkpoint is None:
        run_training(TrainJob(train_path=SNIPS / "train", eval_path=SNIPS / "valid", out_dir=args.out, epochs=1,
                              distill=False, overrides={**SMALL, "use_symbolic_module": True,
                                                        "symbolic_rules_file": str(RULES)},
                              overwrite=args.overwrite))
    checkpoint = load_checkpoint(args.checkpoint or args.out)
    model, labels = checkpoint.model, checkpoint.labels
    facts = SymbolicRuleEngine.from_json(RULES).model_facts
    if model.symbolic is None or model.config.symbolic_predicates != list(facts.predicate_names):
        raise SystemExit(f"{args.checkpoint}: needs a model trained with {RULES}")
    where, when = facts.predicate_names.index("location"), facts.predicate_names.index("time")

    shipped = BayesianBeliefNetwork.from_json(NETWORK)
    train = load_dataset(SNIPS / "train")
    cues = facts.cue_labels(train.texts)
    records = [{"Intent": intent, "Located": flag(row[where] > 0), "Timed": flag(row[when] > 0),
                "AskLocation": flag(intent in ASKS_FOR_PLACE and not row[where])}
               for intent, row in zip(train.labels, cues, strict=True)]
    network = shipped.fit(records, alpha=1.0)
    drift = max(float(np.abs(network.cpt(v) - shipped.cpt(v)).max()) for v in network.variables)
    print(f"CPTs refitted on {len(records)} SNIPS train rows; max |difference| from {NETWORK.name}: {drift:.2g}")

    test = load_dataset(SNIPS / "test")
    encoded = encode_texts(model.featurizer, test.texts)
    probabilities, scores = predict_proba(model, encoded), predict_predicates(model, encoded)
    test_cues = facts.cue_labels(test.texts)
    gold = np.array([intent in ASKS_FOR_PLACE and not row[where] for intent, row in zip(test.labels, test_cues,
                                                                                           strict=True)])
    exact, sampled, ess, hard = [], [], [], []
    timings = {"exact": 0.0, "lw": 0.0}
    for i, (probs, row) in enumerate(zip(probabilities, scores, strict=True)):
        evidence = {"Intent": dict(zip(labels, map(float, probs), strict=True)),
                    "Located": {"true": float(row[where]), "false": 1.0 - float(row[where])},
                    "Timed": {"true": float(row[when]), "false": 1.0 - float(row[when])}}
        tick = time.perf_counter()
        exact.append(network.infer("AskLocation", evidence).posteriors["AskLocation"]["true"])
        timings["exact"] += time.perf_counter() - tick
        tick = time.perf_counter()
        result = network.infer("AskLocation", evidence, method="lw", samples=args.samples, seed=i)
        timings["lw"] += time.perf_counter() - tick
        sampled.append(result.posteriors["AskLocation"]["true"])
        ess.append(result.effective_sample_size)
        label = labels[int(probs.argmax())]
        hard.append(label in ASKS_FOR_PLACE and row[where] < facts.threshold)
    exact, sampled, hard, gold = np.array(exact), np.array(sampled), np.array(hard, float), gold.astype(float)
    gap = np.abs(exact - sampled)
    n = len(test)
    print(f"\nP(AskLocation = true | classifier, head) on {n} SNIPS test texts:")
    print(f"  exact (variable elimination): {timings['exact'] / n * 1e3:.3f} ms per text")
    print(f"  likelihood weighting ({args.samples:,} samples): {timings['lw'] / n * 1e3:.3f} ms per text, "
          f"median effective sample size {np.median(ess):,.0f}")
    print(f"  |LW - exact|: mean {gap.mean():.4f}, max {gap.max():.4f}")
    print(f"\nagainst the gold answer ({int(gold.sum())} of {n} texts should ask for a place):")
    print(f"  Brier score, soft-evidence posterior:      {float(np.mean((exact - gold) ** 2)):.4f}")
    print(f"  Brier score, hard decision (argmax, cut):  {float(np.mean((hard - gold) ** 2)):.4f}")
    print(f"  accuracy of posterior > 0.5: {float(np.mean((exact > 0.5) == gold)):.2%}; hard decision: "
          f"{float(np.mean(hard == gold)):.2%}")
    print(f"\ndone in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
