"""Lifelong learning on real data: learn four SNIPS intents, then three more without forgetting the first.

1. Train ``tiny`` with the continual adapter on four intents (the checkpoint keeps a replay buffer).
2. Watch a stream of batches with the drift detector (Page-Hinkley on the encoder's representations):
   SNIPS text of the four intents first, then SST-2 movie reviews; it says at which batch the stream stopped looking like
   what the model was trained on.
3. Continue the checkpoint on the three new intents (the same as ``neurolite train --continue CKPT
   --train NEW``): only the adapter, the head and the encoder's norms learn, every step replays old rows.
4. Score old and new intents on SNIPS test, before and after.

    .venv/bin/python examples/lifelong_learning_demo.py [--out runs/lifelong] [--epochs 2]

About 5 minutes on two cores. Data: SNIPS and SST-2 from ``neurolite_sdk.public_data``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from neurolite_sdk.public_data import data_path
from neurolite_sdk.training.checkpoint import load_checkpoint
from neurolite_sdk.training.continual import RepresentationDrift, load_replay, pooled_representations, run_continue
from neurolite_sdk.training.data import load_dataset
from neurolite_sdk.training.pipeline import TrainJob, run_training

OLD = ("AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic")
NEW = ("RateBook", "SearchCreativeWork", "SearchScreeningEvent")


def write_split(folder: Path, split: str, keep: tuple[str, ...]) -> Path:
    data = load_dataset(data_path("snips", split))
    path = folder / f"{split}-{len(keep)}.tsv"
    rows = "".join(f"{t.strip()}\t{lab}\n" for t, lab in zip(data.texts, data.labels, strict=True) if lab in keep)
    path.write_text("sentence\tlabel\n" + rows, encoding="utf-8")
    return path


@torch.no_grad()
def accuracy_by_group(checkpoint_dir: Path) -> dict[str, float]:
    checkpoint = load_checkpoint(checkpoint_dir)
    model = checkpoint.model.eval()
    test = load_dataset(data_path("snips", "test"))
    predicted = []
    for start in range(0, len(test), 256):
        predicted += model(input_texts=test.texts[start:start + 256])["logits"].argmax(-1).tolist()
    right = np.array([checkpoint.labels[p] == gold for p, gold in zip(predicted, test.labels, strict=True)])
    groups = np.array(["old" if lab in OLD else "new" for lab in test.labels])
    return {group: float(right[groups == group].mean()) for group in ("old", "new")}


def main() -> None:
    parser = argparse.ArgumentParser(description="Learn SNIPS intents in two phases with the continual adapter.")
    parser.add_argument("--out", type=Path, default=Path("runs/lifelong"))
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    first, second = args.out / "phase1", args.out / "phase2"

    print(f"phase 1: {', '.join(OLD)}")
    run_training(TrainJob(train_path=write_split(args.out, "train", OLD), eval_path=write_split(args.out, "valid", OLD),
                          out_dir=first, epochs=args.epochs, distill=False, overwrite=True,
                          overrides={"use_continual_adapter": True}))
    print(f"  SNIPS test accuracy: {accuracy_by_group(first)}  (new intents cannot be right yet)")

    checkpoint = load_checkpoint(first)
    buffer = load_replay(first)
    index = {name: i for i, name in enumerate(checkpoint.labels)}
    reference = pooled_representations(checkpoint.model, [t for t, _ in buffer.items])
    drift = RepresentationDrift.from_reference(reference, [index[lab] for _, lab in buffer.items])
    rng = np.random.default_rng(0)
    drift.calibrate([drift.statistic(reference[rng.choice(len(reference), 32, replace=False)]) for _ in range(20)],
                    checkpoint.model.config.continual_adapter_drift_threshold)
    valid = load_dataset(data_path("snips", "valid"))
    snips = [t for t, lab in zip(valid.texts, valid.labels, strict=True) if lab in OLD]  # what phase 1 learnt
    sst2 = [line.split("\t")[0] for line in data_path("sst2", "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    stream = [("SNIPS", snips)] * 30 + [("SST-2", sst2)] * 30
    for number, (name, pool) in enumerate(stream, start=1):
        batch = [pool[i] for i in rng.choice(len(pool), 32, replace=False)]
        if drift.update(pooled_representations(checkpoint.model, batch)):
            print(f"drift: flagged at batch {number} ({name} text; the stream switched to SST-2 at batch 31)")
            break
    else:
        print("drift: no flag over the stream")

    print(f"phase 2: continue on {', '.join(NEW)} (adapter, head and norms only, replaying {len(buffer)} old rows)")
    report = run_continue(first, write_split(args.out, "train", NEW), write_split(args.out, "valid", OLD + NEW),
                          second, epochs=3, overwrite=True)
    print(f"  {report['continual']['steps']} steps in {report['continual']['seconds']:.0f} s; validation "
          f"accuracy {report['continual_eval_accuracy']:.2%}")
    print(f"  SNIPS test accuracy: {accuracy_by_group(second)}")


if __name__ == "__main__":
    main()
