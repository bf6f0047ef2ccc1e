"""A SNIPS intent classifier whose predictions become facts, and rules that derive follow-ups and explain them.

    .venv/bin/python examples/symbolic_reasoning_example.py                 # trains a tiny model (1 epoch)
    .venv/bin/python examples/symbolic_reasoning_example.py --checkpoint runs/snips-symbolic

The model is ``tiny`` with the predicate head of ``examples/rules/snips_followups.json`` (11 slot-cue
predicates), trained on ../shared/data/snips/train with the cues' matches as weak labels. The script reports,
on ../shared/data/snips/test:

1. intent accuracy;
2. each predicate's precision / recall / F1 against the cue labels (what the head learned to copy);
3. what the head adds beyond exact matching: every token of 5+ characters loses its middle letter
   (``tomorrow`` -> ``tomrrow``), so exact cue matching misses every cue it used to find; the head's
   recall on those texts is what the character n-gram features carry over;
4. for a few utterances: the prediction as facts, what the rules derive, and each derivation's proof.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from neurolite_sdk.public_data import data_path
from neurolite_sdk.reasoning import SymbolicRuleEngine
from neurolite_sdk.reasoning.model_facts import predicate_metrics
from neurolite_sdk.runtime.postprocess import PostProcessor
from neurolite_sdk.training.checkpoint import load_checkpoint
from neurolite_sdk.training.data import load_dataset
from neurolite_sdk.training.pipeline import TrainJob, run_training
from neurolite_sdk.training.trainer import encode_texts, predict_predicates, predict_proba

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "rules" / "snips_followups.json"
SNIPS = data_path("snips")
SHOWN = ["what will the weather be in texas tomorrow", "book a table for 4 at a sushi restaurant",
         "add this song to my workout playlist", "rate this novel 4 out of 6", "play some jazz"]


def train(out: Path, epochs: int, overwrite: bool) -> Path:
    """tiny + the predicate head, trained on SNIPS (the cue labels come from the rules file)."""
    run_training(TrainJob(train_path=SNIPS / "train", eval_path=SNIPS / "valid", out_dir=out, epochs=epochs,
                          overrides={"use_symbolic_module": True, "symbolic_rules_file": str(RULES)},
                          overwrite=overwrite))
    return out


def drop_middle_letters(text: str) -> str:
    return " ".join(w[: len(w) // 2] + w[len(w) // 2 + 1:] if len(w) >= 5 else w for w in text.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint trained with the rules (default: train one)")
    parser.add_argument("--out", type=Path, default=Path("runs/snips-symbolic-example"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--overwrite", action="store_true", help="replace the checkpoint a previous run left at --out")
    args = parser.parse_args()
    started = time.perf_counter()
    checkpoint = load_checkpoint(args.checkpoint or train(args.out, args.epochs, args.overwrite))
    model, labels = checkpoint.model, checkpoint.labels
    engine = SymbolicRuleEngine.from_dict(checkpoint.reasoning["rules.json"])
    facts = engine.model_facts
    if model.symbolic is None:
        raise SystemExit(f"{args.checkpoint}: the model has no predicate head; train it with the rules file")
    test = load_dataset(SNIPS / "test")
    encoded = encode_texts(model.featurizer, test.texts)
    probabilities = predict_proba(model, encoded)
    accuracy = float((probabilities.argmax(1) == np.array([labels.index(x) for x in test.labels])).mean())
    print(f"intent accuracy on {SNIPS / 'test'}: {accuracy:.2%} ({len(test)} texts)")

    scores = predict_predicates(model, encoded)
    cues = facts.cue_labels(test.texts)
    report = predicate_metrics(scores, cues, facts.predicate_names, facts.threshold)
    print(f"\npredicate head vs cue labels (threshold {facts.threshold}):")
    print(f"{'predicate':<14}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}")
    for name, row in report.items():
        print(f"{name:<14}{row['precision']:>10.3f}{row['recall']:>8.3f}{row['f1']:>8.3f}{row['support']:>9}")

    typos = [drop_middle_letters(t) for t in test.texts]
    lost = (cues == 1) & (facts.cue_labels(typos) == 0)  # cues exact matching no longer finds
    typo_scores = predict_predicates(model, encode_texts(model.featurizer, typos))
    print(f"\nbeyond exact matching: {int(lost.sum())} (text, predicate) cues lost to typos; exact matching finds "
          f"0 of them, the head {int((typo_scores[lost] >= facts.threshold).sum())} "
          f"(recall {float((typo_scores[lost] >= facts.threshold).mean()):.3f}; on the same texts without typos: "
          f"{float((scores[lost] >= facts.threshold).mean()):.3f})")

    post = PostProcessor(labels, facts.predicate_names, engine)
    print("\nutterances -> facts -> follow-ups (with proofs):")
    batch = model.featurizer(SHOWN)
    with torch.no_grad():
        out = model(torch.from_numpy(batch.features), torch.from_numpy(batch.mask))
    for text, logits, row in zip(SHOWN, out["logits"], out["predicates"].numpy(), strict=True):
        probs = dict(zip(labels, map(float, torch.softmax(logits, -1)), strict=True))
        label = max(probs, key=probs.get)
        reasoning = post(label, probs, row)
        print(f"\n  {text!r} -> {label} ({probs[label]:.2f})")
        print(f"    facts: {', '.join(reasoning.facts)}")
        for entry in reasoning.derived:
            if entry["fact"].startswith(("ask(", "assume(", "ready(", "confirm(")):
                because = [p["fact"] for p in entry["premises"]] + [f"NOT {f}" for f in entry["absent"]]
                print(f"    {entry['fact']:<36} because {' and '.join(because)}   [rules[{entry['rule']}]]")
    print(f"\ndone in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
