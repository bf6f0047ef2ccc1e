"""The continual-learning adapter (``config.use_continual_adapter``): replay, drift detection, adaptation.

* ``ReservoirBuffer``: a uniform sample of every row seen so far, of fixed size (Vitter's Algorithm R):
  after n rows each one is in the buffer with probability capacity / n. Training with the adapter on
  fills it from the training rows and the checkpoint keeps it (``replay.json``: texts and labels).
* ``PageHinkley``: the Page-Hinkley test (Page 1954; Hinkley 1971) for an increase of a stream's mean.
  ``RepresentationDrift`` feeds it one value per batch: the batch's mean cosine distance from each
  pooled representation to its nearest class centroid of the replay buffer's representations (the
  encoder, frozen while adapting, makes the statistic stable). Its allowance δ and alarm level λ are
  set from the spread of that statistic over in-distribution batches (see ``calibrate``).
* ``continue_training``: a checkpoint + new labelled rows -> the labels' union, the head grown for new
  labels (old rows kept), and updates of the adapter, the head and the encoder's normalisation
  parameters only (every other encoder weight frozen), each step
  mixing a batch of new rows with an equal batch drawn from the replay buffer. The new rows then enter
  the buffer, so the next continuation replays them too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neurolite_sdk.errors import NeuroLiteError, json_loads
from neurolite_sdk.modeling.layers import ChannelNorm
from neurolite_sdk.modeling.model import NeuroLiteForClassification

REPLAY_FILE = "replay.json"


class ContinualError(NeuroLiteError):
    """Continued training that cannot run; the message names the file or field."""


# ------------------------------------------------------------------------------------------ replay
class ReservoirBuffer:
    """A uniform random sample of at most ``capacity`` items from a stream (Algorithm R)."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"continual_adapter_buffer_size: must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self.items: list[Any] = []
        self.seen = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: Any) -> None:
        self.seen += 1
        if len(self.items) < self.capacity:
            self.items.append(item)
            return
        slot = int(self.rng.integers(0, self.seen))
        if slot < self.capacity:
            self.items[slot] = item

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.add(item)

    def sample(self, n: int) -> list[Any]:
        """``n`` items drawn without replacement (all of them, shuffled, when the buffer holds fewer)."""
        picks = self.rng.choice(len(self.items), size=min(n, len(self.items)), replace=False)
        return [self.items[i] for i in picks]

    def to_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "seen": self.seen,
                "items": [{"text": t, "label": lab} for t, lab in self.items]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, source: str, seed: int = 0) -> ReservoirBuffer:
        data = json_loads(text, ContinualError, source)
        try:
            buffer = cls(int(data["capacity"]), seed)
            buffer.seen = int(data["seen"])
            buffer.items = [(str(item["text"]), str(item["label"])) for item in data["items"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ContinualError(f"{source}: not a replay buffer ({exc.__class__.__name__}: {exc})") from exc
        if len(buffer.items) > buffer.capacity or buffer.seen < len(buffer.items):
            raise ContinualError(f"{source}: holds {len(buffer.items)} items for capacity {buffer.capacity} "
                                 f"and {buffer.seen} seen")
        return buffer


def training_replay(capacity: int, texts: Sequence[str], labels: Sequence[str], seed: int = 0) -> ReservoirBuffer:
    """The reservoir over a training set's rows, in their order (what ``neurolite train`` keeps)."""
    buffer = ReservoirBuffer(capacity, seed)
    buffer.extend(zip(texts, labels, strict=True))
    return buffer


def save_replay(checkpoint_dir: str | Path, buffer: ReservoirBuffer) -> None:
    path = Path(checkpoint_dir) / REPLAY_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(buffer.to_json(), encoding="utf-8")
    tmp.replace(path)


def load_replay(checkpoint_dir: str | Path, seed: int = 0) -> ReservoirBuffer:
    path = Path(checkpoint_dir) / REPLAY_FILE
    if not path.is_file():
        raise ContinualError(f"{path}: no replay buffer; continue from a checkpoint trained with "
                             f"--set use_continual_adapter=true")
    return ReservoirBuffer.from_json(path.read_text(encoding="utf-8"), str(path), seed)


# ------------------------------------------------------------------------------------------ drift
class PageHinkley:
    """Page-Hinkley test for an increase of the mean: with x̄_t the running mean,
    m_t = Σ (x_i - x̄_i - δ), M_t = min m; alarm when m_t - M_t > λ (after ``min_samples`` values)."""

    def __init__(self, delta: float, threshold: float, min_samples: int = 5) -> None:
        self.delta, self.threshold, self.min_samples = delta, threshold, min_samples
        self.reset()

    def reset(self) -> None:
        self.count, self.mean, self.cumulative, self.minimum = 0, 0.0, 0.0, 0.0

    def update(self, value: float) -> bool:
        self.count += 1
        self.mean += (value - self.mean) / self.count
        self.cumulative += value - self.mean - self.delta
        self.minimum = min(self.minimum, self.cumulative)
        return self.count >= self.min_samples and self.cumulative - self.minimum > self.threshold


@torch.no_grad()
def pooled_representations(model: NeuroLiteForClassification, texts: Sequence[str],
                           batch_size: int = 256) -> torch.Tensor:
    """The encoder's pooled vectors [N, 2D] (before the adapter), in eval mode; every module is left in
    the mode it was in (``continue_training`` keeps the frozen encoder in eval mode while the adapter
    trains: restoring with ``model.train()`` switched the encoder's dropout back on at the first
    drift check)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        features, mask = model.neurolite.featurize(list(texts[start:start + batch_size]))
        out.append(model.neurolite.encode(features, mask)[1])
    for module, mode in modes:
        module.training = mode
    return torch.cat(out)


@dataclass
class RepresentationDrift:
    """Page-Hinkley on each batch's mean distance to the nearest class centroid of a reference set.

    ``calibrate`` sets δ = σ and λ = threshold_sigmas · σ from the per-batch statistic's standard
    deviation σ over in-distribution batches; ``continual_adapter_drift_threshold`` t in [0, 1] maps to
    threshold_sigmas = 10 + 40 t (default 0.6: λ = 34 σ), so a higher setting flags later and less often.
    """

    centroids: torch.Tensor  # [C, 2D], unit rows
    delta: float = 0.0
    threshold: float = 0.0
    detector: PageHinkley = field(init=False)

    def __post_init__(self) -> None:
        self.detector = PageHinkley(self.delta, self.threshold)

    @classmethod
    def from_reference(cls, representations: torch.Tensor, labels: Sequence[int]) -> RepresentationDrift:
        labels_t = torch.as_tensor(list(labels))
        centroids = torch.stack([representations[labels_t == c].mean(0) for c in sorted(set(labels_t.tolist()))])
        return cls(F.normalize(centroids, dim=-1))

    def statistic(self, representations: torch.Tensor) -> float:
        similarity = F.normalize(representations, dim=-1) @ self.centroids.T
        return float((1.0 - similarity.max(-1).values).mean())

    def calibrate(self, batch_statistics: Sequence[float], drift_threshold: float) -> None:
        sigma = max(float(np.std(batch_statistics)), 1e-6)
        self.delta, self.threshold = sigma, (10.0 + 40.0 * drift_threshold) * sigma
        self.detector = PageHinkley(self.delta, self.threshold)

    def update(self, representations: torch.Tensor) -> bool:
        return self.detector.update(self.statistic(representations))


# ------------------------------------------------------------------------------------------ adaptation
def grow_head(model: NeuroLiteForClassification, num_labels: int) -> None:
    """Give the head ``num_labels`` outputs, keeping the existing rows (new rows start small)."""
    old = model.head[-1]
    if num_labels == old.out_features:
        return
    new = torch.nn.Linear(old.in_features, num_labels)
    with torch.no_grad():
        new.weight.normal_(0.0, 0.02)
        new.bias.zero_()
        new.weight[: old.out_features] = old.weight
        new.bias[: old.out_features] = old.bias
    model.head[-1] = new
    model.num_labels = num_labels


def adapter_parameters(model: NeuroLiteForClassification) -> list[torch.nn.Parameter]:
    """What continued training updates: the adapter, the head, and the encoder's normalisation scales
    and shifts (2,560 numbers in ``tiny``; on SNIPS they lift the new intents from 92.86% to 94.56% and
    the old from 94.83% to 95.81%, benchmarks/RESULTS.md). Every other encoder weight stays frozen."""
    if model.adapter is None:
        raise ContinualError("config.use_continual_adapter: false; this model has no adapter")
    norms = [p for module in model.neurolite.modules() if isinstance(module, ChannelNorm) for p in module.parameters()]
    return [*model.adapter.parameters(), *model.head.parameters(), *norms]


@dataclass
class ContinualReport:
    steps: int
    new_rows: int
    replay_rows: int
    labels: list[str]
    drift_batch: int | None  # the first batch of the new data at which drift was flagged (1-based), if any
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def continue_training(model: NeuroLiteForClassification, labels: list[str], buffer: ReservoirBuffer,
                      texts: Sequence[str], new_labels: Sequence[str], *, epochs: int = 3, batch_size: int = 32,
                      seed: int = 0, replay: bool = True) -> tuple[list[str], ContinualReport]:
    """Adapt ``model`` in place to (texts, new_labels); returns the new label list and a report.

    Only ``adapter_parameters`` change; each step's batch is ``batch_size`` new rows plus
    ``batch_size`` replayed rows (``replay=False``: new rows only, the ablation). The learning rate is
    ``config.continual_adapter_rate``.
    """
    started = time.perf_counter()
    config = model.config
    all_labels = list(labels) + sorted(set(new_labels) - set(labels))
    grow_head(model, len(all_labels))
    index = {name: i for i, name in enumerate(all_labels)}
    replay_items = list(buffer.items)
    drift = None
    if replay_items:
        reference = pooled_representations(model, [t for t, _ in replay_items])
        drift = RepresentationDrift.from_reference(reference, [index[lab] for _, lab in replay_items])
        rng = np.random.default_rng(seed)
        picks = [rng.choice(len(replay_items), size=min(batch_size, len(replay_items)), replace=False)
                 for _ in range(20)]
        drift.calibrate([drift.statistic(reference[p]) for p in picks], config.continual_adapter_drift_threshold)
    params = adapter_parameters(model)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=config.continual_adapter_rate, weight_decay=0.0)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    new_targets = np.array([index[lab] for lab in new_labels])
    drift_batch, steps = None, 0
    model.train()
    model.neurolite.eval()  # the frozen encoder without dropout: its representations stay what drift saw
    for epoch in range(epochs):
        order = rng.permutation(len(texts))
        for number, start in enumerate(range(0, len(texts), batch_size), start=1):
            rows = order[start:start + batch_size]
            batch_texts = [texts[i] for i in rows]
            targets = list(new_targets[rows])
            if epoch == 0 and drift is not None and drift_batch is None:
                if drift.update(pooled_representations(model, batch_texts)):
                    drift_batch = number
            if replay and replay_items:
                for text, label in buffer.sample(batch_size):
                    batch_texts.append(text)
                    targets.append(index[label])
            features, mask = model.neurolite.featurize(batch_texts)
            loss = F.cross_entropy(model(features, mask)["logits"], torch.tensor(targets))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    buffer.extend(zip(texts, new_labels, strict=True))
    report = ContinualReport(steps=steps, new_rows=len(texts), replay_rows=len(replay_items), labels=all_labels,
                             drift_batch=drift_batch, seconds=time.perf_counter() - started)
    return all_labels, report



def run_continue(checkpoint_dir: str | Path, train_path: str | Path, eval_path: str | Path, out_dir: str | Path, *,
                 epochs: int = 3, batch_size: int = 32, seed: int = 0, overwrite: bool = False,
                 text_col: str | None = None, label_col: str | None = None, fmt: str | None = None) -> dict[str, Any]:
    """``neurolite train --continue CKPT --train NEW``: adapt the checkpoint to NEW and write a checkpoint
    (labels: the union; ``replay.json``: the buffer after NEW's rows entered it). Returns the report."""
    from neurolite_sdk.atomic import CHECKPOINT, check_output_dir
    from neurolite_sdk.training.checkpoint import load_checkpoint, save_checkpoint
    from neurolite_sdk.training.data import load_dataset

    check_output_dir(Path(out_dir), CHECKPOINT, overwrite=overwrite)
    checkpoint = load_checkpoint(checkpoint_dir)
    if checkpoint.model.adapter is None:
        raise ContinualError(f"{Path(checkpoint_dir) / 'config.json'}: use_continual_adapter is false; --continue "
                             f"needs a checkpoint trained with --set use_continual_adapter=true")
    buffer = load_replay(checkpoint_dir, seed)
    new = load_dataset(train_path, text_col, label_col, fmt)
    evaluation = load_dataset(eval_path, text_col, label_col, fmt)
    torch.manual_seed(seed)
    labels, report = continue_training(checkpoint.model, checkpoint.labels, buffer, new.texts, new.labels,
                                       epochs=epochs, batch_size=batch_size, seed=seed)
    model = checkpoint.model.eval()
    with torch.no_grad():
        predicted = []
        for start in range(0, len(evaluation), 256):
            predicted += model(input_texts=evaluation.texts[start:start + 256])["logits"].argmax(-1).tolist()
    correct = [labels[p] == gold for p, gold in zip(predicted, evaluation.labels, strict=True)]
    by_label = {name: float(np.mean([c for c, g in zip(correct, evaluation.labels, strict=True) if g == name]))
                for name in sorted(set(evaluation.labels))}
    training = {**checkpoint.training, "continued_from": str(checkpoint_dir), "continual": report.to_dict(),
                "continual_eval_path": str(eval_path), "continual_eval_accuracy": float(np.mean(correct)),
                "continual_eval_accuracy_by_label": by_label}
    reasoning = {**checkpoint.reasoning, REPLAY_FILE: buffer.to_dict()}
    save_checkpoint(out_dir, model, labels, training, reasoning, overwrite=overwrite)
    return training
