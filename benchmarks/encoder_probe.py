"""Linear probe of a frozen encoder on SST-2 (issue 13): how well its pooled vectors separate sentiment.

Logistic regression on the frozen vectors of the first N SST-2 training rows, scored on SST-2 dev; the
best of C in {0.1, 1, 10} on dev is reported (optimistic for every encoder alike). ``--encoder DIR`` is a
``neurolite pretrain`` folder (default: the shipped ``tiny`` one); ``--minilm`` probes all-MiniLM-L6-v2's
own sentence embeddings instead, the ceiling that pre-training against them can approach.

    .venv/bin/python -m benchmarks.encoder_probe [--encoder DIR | --minilm] [--rows 500,2000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def neurolite_vectors(encoder: Path, texts: list[str]) -> np.ndarray:
    from neurolite_sdk.config import NeuroLiteConfig
    from neurolite_sdk.modeling.model import NeuroLiteForClassification
    from neurolite_sdk.training.pretrain import load_encoder

    config = NeuroLiteConfig.from_dict(json.loads((encoder / "config.json").read_text(encoding="utf-8")))
    model = NeuroLiteForClassification(config, num_labels=2).eval()
    load_encoder(model, encoder)
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), 256):
            features, mask = model.neurolite.featurize(texts[start:start + 256])
            out.append(model.neurolite.encode(features, mask)[1].numpy())
    return np.concatenate(out)


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    from neurolite_sdk.public_data import data_path
    from neurolite_sdk.training.data import load_dataset
    from neurolite_sdk.training.pretrain import SHIPPED, sentence_vectors

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", type=Path, default=SHIPPED / "tiny")
    parser.add_argument("--minilm", action="store_true", help="probe MiniLM's sentence embeddings instead")
    parser.add_argument("--rows", default="500,2000", help="training rows, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [int(n) for n in args.rows.split(",")]
    train = load_dataset(data_path("sst2", "train.tsv"))
    dev = load_dataset(data_path("sst2", "dev.tsv"))
    texts = list(train.texts[:max(rows)]) + list(dev.texts)
    vectors = sentence_vectors(texts) if args.minilm else neurolite_vectors(args.encoder, texts)
    train_x, dev_x = vectors[:max(rows)], vectors[max(rows):]
    train_y, dev_y = np.asarray(train.labels[:max(rows)]), np.asarray(dev.labels)
    name = "all-MiniLM-L6-v2 sentence embeddings" if args.minilm else str(args.encoder)
    for n in rows:
        scores = {c: float((LogisticRegression(C=c, max_iter=3000).fit(train_x[:n], train_y[:n]).predict(dev_x)
                            == dev_y).mean()) for c in (0.1, 1.0, 10.0)}
        best = max(scores, key=scores.get)
        print(f"{name}: {n} rows, SST-2 dev {scores[best]:.2%} (C={best:g}; "
              f"{', '.join(f'C={c:g} {v:.2%}' for c, v in scores.items())})")


if __name__ == "__main__":
    main()
