"""Where a trained checkpoint stands against the TF-IDF + logistic-regression floor, and why.

    python benchmarks/compare_linear.py runs/sst2-tiny \
        --train ../shared/data/sst2/train.tsv --eval ../shared/data/sst2/dev.tsv

Prints both accuracies on the same eval rows, how often each is right where the other is wrong,
accuracy by text length, and examples the linear model gets right and the checkpoint gets wrong.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurolite_sdk.training.checkpoint import load_checkpoint
from neurolite_sdk.training.data import encode_labels, load_dataset
from neurolite_sdk.training.teacher import fit_linear_model
from neurolite_sdk.training.trainer import encode_texts, predict_proba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--examples", type=int, default=12)
    args = parser.parse_args()

    ckpt = load_checkpoint(args.checkpoint)
    train, held = load_dataset(args.train), load_dataset(args.eval)
    y_train = np.asarray(encode_labels(train, ckpt.labels))
    truth = np.asarray(encode_labels(held, ckpt.labels))
    encoded = encode_texts(ckpt.model.featurizer, held.texts)
    model_pred = predict_proba(ckpt.model, encoded).argmax(1)
    linear_pred = fit_linear_model(train.texts, y_train, seed=0, c=4.0).predict(held.texts)

    model_ok, linear_ok = model_pred == truth, linear_pred == truth
    print(f"{args.checkpoint}: {model_ok.mean() * 100:.2f}%   linear floor: {linear_ok.mean() * 100:.2f}%   "
          f"({len(truth)} rows of {args.eval})")
    print(f"both right {np.sum(model_ok & linear_ok)}, only model {np.sum(model_ok & ~linear_ok)}, "
          f"only linear {np.sum(~model_ok & linear_ok)}, both wrong {np.sum(~model_ok & ~linear_ok)}")
    print(f"oracle of the two: {(model_ok | linear_ok).mean() * 100:.2f}%")
    lengths = encoded.lengths
    for low, high in ((0, 10), (10, 20), (20, 30), (30, 1000)):
        rows = (lengths >= low) & (lengths < high)
        if rows.any():
            print(f"tokens {low:>2}-{high - 1:<3} rows {rows.sum():>4}: model {model_ok[rows].mean() * 100:6.2f}%  "
                  f"linear {linear_ok[rows].mean() * 100:6.2f}%")
    negation = np.array([any(w in t.split() for w in ("not", "n't", "no", "never", "nothing", "but"))
                         for t in held.texts])
    print(f"with negation/contrast words ({negation.sum()} rows): model {model_ok[negation].mean() * 100:.2f}%  "
          f"linear {linear_ok[negation].mean() * 100:.2f}%")
    print("\nlinear right, model wrong:")
    for i in np.flatnonzero(~model_ok & linear_ok)[: args.examples]:
        print(f"  [{ckpt.labels[truth[i]]}] {held.texts[i]}")


if __name__ == "__main__":
    main()
