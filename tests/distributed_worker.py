"""Run under torchrun by tests/test_distributed.py (not a test module itself).

    python -m torch.distributed.run --standalone --nproc-per-node N tests/distributed_worker.py curve OUT.json
    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/distributed_worker.py disagree DIR

``curve``: trains a small model on a fixed set with token dropout, EMA, distillation and unlabelled rows,
one global batch of 16 (81 rows: the last batch has a single row), and rank 0 writes the per-step loss
of the global batch, the epoch records and the final weights' values to OUT.json.
``disagree``: every rank trains through ``run_training`` on its own copy of the data, rank 1's differing
in one row; the run must refuse to start.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.training.distributed import World
from neurolite_sdk.training.trainer import TrainSettings, encode_texts, train

WORDS = ("good great fine superb bad awful dull poor film plot cast story acting music very not quite a the "
         "and but").split()
TINY = dict(num_buckets=256, embedding_dim=16, hidden_size=16, num_mixer_layers=1, max_length=16,
            token_mixing_dim=8, channel_mixing_dim=32)


def dataset(rows: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 14)))) for _ in range(rows)]
    labels = np.array([int(sum(w in ("good", "great", "fine", "superb") for w in t.split()) >
                           sum(w in ("bad", "awful", "dull", "poor") for w in t.split())) for t in texts])
    return texts, labels


def curve(out: Path) -> None:
    torch.set_num_threads(1)
    world = World.from_env()
    texts, labels = dataset(81, 0)
    labels[::7] = -1  # rows with the teacher's soft labels only
    soft = np.random.default_rng(1).dirichlet([1.0, 1.0], size=len(texts)).astype(np.float32)
    eval_texts, eval_labels = dataset(40, 2)
    torch.manual_seed(0)
    # no dropout inside the model: each rank would draw its own masks for its rows (token dropout, drawn
    # for the whole global batch, stays on)
    model = NeuroLiteForClassification(NeuroLiteConfig.from_preset("tiny", **TINY, dropout=0.0), num_labels=2)
    settings = TrainSettings(epochs=3, batch_size=16, learning_rate=3e-3, token_dropout=0.2, distill_weight=0.5,
                             seed=0)
    result = train(model, encode_texts(model.featurizer, texts), labels, encode_texts(model.featurizer, eval_texts),
                   eval_labels, settings, soft, world=world)
    if world.is_main:
        weights = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
        out.write_text(json.dumps({"world": world.size, "step_losses": result.step_losses,
                                   "history": [vars(h) for h in result.history], "weights": weights}))


def disagree(folder: Path) -> None:
    from neurolite_sdk.training.pipeline import TrainJob, run_training

    rank = int(os.environ["RANK"])
    texts, labels = dataset(40, 0)
    if rank == 1:
        texts[5] = "a different row"
    train_path = folder / f"train{rank}.tsv"
    train_path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels, strict=True)))
    run_training(TrainJob(train_path=train_path, eval_path=train_path, out_dir=folder / "ckpt", epochs=1,
                          overrides=TINY, distill=False))


if __name__ == "__main__":
    {"curve": curve, "disagree": disagree}[sys.argv[1]](Path(sys.argv[2]))
