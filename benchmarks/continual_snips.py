"""Continual learning on SNIPS (issue 17): forgetting with the adapter vs plain fine-tuning, and drift.

Phase 1 trains ``tiny`` (with the continual adapter, so the checkpoint keeps a replay buffer) on four
intents; phase 2 continues on the other three, either with ``continue_training`` (adapter + head,
replay mixed into every step) or by plain fine-tuning (every weight, new rows only, the head grown the
same way). Both are scored on SNIPS test: the old intents' rows and the new intents' rows, 7-way.
``--runs joint`` adds the reference the two phases are measured against: the phase-1 recipe (same epochs,
learning rate and seed, no teacher) trained on all seven intents at once.

Drift: the phase-1 model's ``RepresentationDrift`` (Page-Hinkley on the batch mean distance to the
nearest replay class centroid, calibrated on replay batches) watches (a) 1,000 batches drawn from
held-out in-distribution SNIPS text (valid + test rows of the four intents) and (b) streams that switch
from such SNIPS batches to SST-2 dev batches: the delay is counted in batches after the switch.

    .venv/bin/python -m benchmarks.continual_snips [--epochs 2] [--continue-epochs 3] [--batch 32] [--phase1 DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neurolite_sdk.public_data import data_path
from neurolite_sdk.training.checkpoint import load_checkpoint
from neurolite_sdk.training.continual import (
    RepresentationDrift,
    continue_training,
    grow_head,
    load_replay,
    pooled_representations,
)
from neurolite_sdk.training.data import load_dataset
from neurolite_sdk.training.pipeline import TrainJob, run_training

OLD = ("AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic")
NEW = ("RateBook", "SearchCreativeWork", "SearchScreeningEvent")


def subset(dataset, keep: tuple[str, ...]) -> tuple[list[str], list[str]]:
    rows = [(t, lab) for t, lab in zip(dataset.texts, dataset.labels, strict=True) if lab in keep]
    return [t for t, _ in rows], [lab for _, lab in rows]


def write_tsv(path: Path, texts: list[str], labels: list[str]) -> Path:
    rows = "".join(f"{t.strip()}\t{lab}\n" for t, lab in zip(texts, labels, strict=True))
    path.write_text("sentence\tlabel\n" + rows, encoding="utf-8")
    return path


@torch.no_grad()
def accuracy(model, labels: list[str], texts: list[str], gold: list[str]) -> float:
    model.eval()
    predicted = []
    for start in range(0, len(texts), 256):
        predicted += model(input_texts=texts[start:start + 256])["logits"].argmax(-1).tolist()
    return float(np.mean([labels[p] == g for p, g in zip(predicted, gold, strict=True)]))


def plain_fine_tune(model, labels: list[str], texts: list[str], gold: list[str], epochs: int, batch: int,
                    lr: float, seed: int) -> list[str]:
    all_labels = list(labels) + sorted(set(gold) - set(labels))
    grow_head(model, len(all_labels))
    index = {n: i for i, n in enumerate(all_labels)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(texts))
        for start in range(0, len(texts), batch):
            rows = order[start:start + batch]
            features, mask = model.neurolite.featurize([texts[i] for i in rows])
            loss = F.cross_entropy(model(features, mask)["logits"], torch.tensor([index[gold[i]] for i in rows]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    return all_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="phase-1 epochs")
    parser.add_argument("--phase1-lr", type=float, default=None,
                        help="phase-1 peak learning rate (default: neurolite train's; 1e-3 from a pretrained encoder)")
    parser.add_argument("--continue-epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--finetune-lr", type=float, default=1e-3)
    parser.add_argument("--drift-trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--phase1", type=Path, default=None,
                        help="keep the phase-1 checkpoint here (and reuse it when it is already there)")
    parser.add_argument("--runs", default="adapter+replay,adapter-no-replay,plain-fine-tuning",
                        help="which phase-2 runs, comma-separated (also: joint, every intent trained at once)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train = load_dataset(data_path("snips", "train"))
    valid = load_dataset(data_path("snips", "valid"))
    test = load_dataset(data_path("snips", "test"))
    old_train, new_train = subset(train, OLD), subset(train, NEW)
    old_test, new_test = subset(test, OLD), subset(test, NEW)
    result: dict = {"threads": 1, "torch": torch.__version__, "python": platform.python_version(),
                    "old_intents": OLD, "new_intents": NEW}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        phase1 = args.phase1 or tmp / "ckpt"
        started = time.perf_counter()
        if not (phase1 / "config.json").is_file():
            run_training(TrainJob(train_path=write_tsv(tmp / "old.tsv", *old_train),
                                  eval_path=write_tsv(tmp / "old-valid.tsv", *subset(valid, OLD)), out_dir=phase1,
                                  epochs=args.epochs, distill=False, seed=args.seed, learning_rate=args.phase1_lr,
                                  overrides={"use_continual_adapter": True}))
        result["phase1_seconds"] = time.perf_counter() - started
        checkpoint = load_checkpoint(phase1)
        buffer = load_replay(phase1, args.seed)
    base_model, base_labels = checkpoint.model, checkpoint.labels
    result["phase1_old_accuracy"] = accuracy(base_model, base_labels, *old_test)
    print(f"phase 1 ({len(old_train[0])} rows, {args.epochs} epochs, {result['phase1_seconds']:.0f} s): "
          f"old-intent test accuracy {result['phase1_old_accuracy']:.2%}; replay buffer {len(buffer)} rows")

    # ---- drift, on the phase-1 model (before anything changes it)
    index = {n: i for i, n in enumerate(base_labels)}
    reference = pooled_representations(base_model, [t for t, _ in buffer.items])
    rng = np.random.default_rng(args.seed)
    held_out = subset(valid, OLD)[0] + old_test[0]
    sst2 = [line.split("\t")[0] for line in
            data_path("sst2", "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    held_reps = pooled_representations(base_model, held_out)
    sst2_reps = pooled_representations(base_model, sst2)

    def detector() -> RepresentationDrift:
        drift = RepresentationDrift.from_reference(reference, [index[lab] for _, lab in buffer.items])
        picks = [rng.choice(len(reference), size=args.batch, replace=False) for _ in range(20)]
        drift.calibrate([drift.statistic(reference[p]) for p in picks],
                        base_model.config.continual_adapter_drift_threshold)
        return drift

    drift = detector()
    false_alarms, first = 0, None
    for b in range(1000):
        if drift.update(held_reps[rng.choice(len(held_reps), size=args.batch, replace=False)]):
            false_alarms += 1
            first = first or b + 1
            drift.detector.reset()
    delays = []
    for _ in range(args.drift_trials):
        drift = detector()
        for _ in range(100):
            assert not drift.update(held_reps[rng.choice(len(held_reps), size=args.batch, replace=False)])
        delay = None
        for b in range(1, 201):
            if drift.update(sst2_reps[rng.choice(len(sst2_reps), size=args.batch, replace=False)]):
                delay = b
                break
        delays.append(delay)
    result["drift"] = {"in_distribution_batches": 1000, "false_alarms": false_alarms, "first_false_alarm": first,
                       "switch_trials": args.drift_trials, "delays_after_switch": delays, "batch": args.batch,
                       "delta": drift.delta, "lambda": drift.threshold}
    print(f"drift: {false_alarms} flags over 1,000 in-distribution SNIPS batches of {args.batch}; SNIPS -> SST-2 "
          f"flagged after {delays} batches ({args.drift_trials} trials, 100 SNIPS batches before each switch)")

    # ---- phase 2: the adapter with replay, plain fine-tuning, and the adapter without replay
    runs = {}
    for name in args.runs.split(","):
        started = time.perf_counter()
        if name == "joint":
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                run_training(TrainJob(train_path=write_tsv(tmp / "all.tsv", list(train.texts), list(train.labels)),
                                      eval_path=data_path("snips", "valid"), out_dir=tmp / "ckpt",
                                      epochs=args.epochs, distill=False, seed=args.seed,
                                      learning_rate=args.phase1_lr,
                                      overrides={"use_continual_adapter": True}))
                joint = load_checkpoint(tmp / "ckpt")
            runs[name] = {"old_accuracy": accuracy(joint.model, joint.labels, *old_test),
                          "new_accuracy": accuracy(joint.model, joint.labels, *new_test),
                          "seconds": time.perf_counter() - started, "drift_batch": None}
            print(f"{name}: old intents {runs[name]['old_accuracy']:.2%}, new intents "
                  f"{runs[name]['new_accuracy']:.2%} ({runs[name]['seconds']:.0f} s)")
            continue
        model = copy.deepcopy(base_model)
        if name == "plain-fine-tuning":
            labels = plain_fine_tune(model, base_labels, *new_train, args.continue_epochs, args.batch,
                                     args.finetune_lr, args.seed)
            report = None
        else:
            labels, report = continue_training(model, base_labels, copy.deepcopy(buffer), *new_train,
                                               epochs=args.continue_epochs, batch_size=args.batch, seed=args.seed,
                                               replay=name == "adapter+replay")
        runs[name] = {"old_accuracy": accuracy(model, labels, *old_test),
                      "new_accuracy": accuracy(model, labels, *new_test),
                      "seconds": time.perf_counter() - started,
                      "drift_batch": None if report is None else report.drift_batch}
        print(f"{name}: old intents {runs[name]['old_accuracy']:.2%}, new intents {runs[name]['new_accuracy']:.2%} "
              f"({runs[name]['seconds']:.0f} s)")
    result["phase2"] = runs
    if "adapter+replay" in runs and "plain-fine-tuning" in runs:
        gap = runs["adapter+replay"]["old_accuracy"] - runs["plain-fine-tuning"]["old_accuracy"]
        print(f"old-intent accuracy, adapter+replay minus plain fine-tuning: {gap * 100:+.1f} points")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
