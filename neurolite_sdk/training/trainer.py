"""Supervised training of NeuroLiteForClassification on CPU, in minutes.

Texts are featurized once (the featurizer's token cache makes repeated words free) and kept ragged;
batches are padded to their own longest text, and texts of similar length are grouped, since every
backbone accepts any length up to max_length and padding is pure wasted work. AdamW with linear
warmup and cosine decay; evaluation each epoch; the best epoch's weights are kept.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from neurolite_sdk.featurizer import BloomFeaturizer
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.modeling.routing import routing_loss
from neurolite_sdk.modeling.symbolic import predicate_loss
from neurolite_sdk.training.distributed import World


@dataclass
class TrainSettings:
    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 0.05
    warmup_ratio: float = 0.05
    label_smoothing: float = 0.0
    distill_weight: float = 0.0  # weight of the KL term towards soft targets, when given
    distill_temperature: float = 1.0
    token_dropout: float = 0.0  # drop this fraction of real tokens from each training text (a regulariser)
    ema_decay: float = 0.999  # evaluate and keep an exponential moving average of the weights; 0 disables
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0, "weight_decay": self.weight_decay >= 0,
            "warmup_ratio": 0 <= self.warmup_ratio < 1, "label_smoothing": 0 <= self.label_smoothing < 1,
            "distill_weight": 0 <= self.distill_weight <= 1, "distill_temperature": self.distill_temperature > 0,
            "ema_decay": 0 <= self.ema_decay < 1, "token_dropout": 0 <= self.token_dropout < 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: invalid value {getattr(self, name)!r}")


@dataclass
class EncodedTexts:
    """Ragged featurized texts: ``features[i]`` is int32 [n_i, K] with n_i >= 1 kept tokens."""

    features: list[np.ndarray]
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.features)


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_accuracy: float
    eval_loss: float
    eval_accuracy: float
    seconds: float


@dataclass
class TrainResult:
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_eval_accuracy: float = 0.0
    seconds: float = 0.0
    step_losses: list[float] = field(default_factory=list)  # the global batch's loss at each step

    def to_dict(self) -> dict:
        return {"history": [asdict(h) for h in self.history], "best_epoch": self.best_epoch,
                "best_eval_accuracy": self.best_eval_accuracy, "seconds": self.seconds}


def encode_texts(featurizer: BloomFeaturizer, texts: Sequence[str], chunk: int = 2048) -> EncodedTexts:
    """Featurize once, dropping each row's padding. A text with no token keeps one all-padding row."""
    features, lengths = [], []
    for start in range(0, len(texts), chunk):
        batch = featurizer(texts[start:start + chunk])
        for row, length in zip(batch.features, batch.lengths, strict=False):
            n = max(int(length), 1)
            features.append(np.ascontiguousarray(row[:n]))
            lengths.append(int(length))
    return EncodedTexts(features, np.asarray(lengths, dtype=np.int32))


def collate(encoded: EncodedTexts, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [encoded.features[i] for i in indices]
    width = max(r.shape[0] for r in rows)
    features = np.zeros((len(rows), width, rows[0].shape[1]), dtype=np.int32)
    mask = np.zeros((len(rows), width), dtype=np.float32)
    for j, (row, i) in enumerate(zip(rows, indices, strict=False)):
        features[j, : row.shape[0]] = row
        mask[j, : encoded.lengths[i]] = 1.0
    return torch.from_numpy(features), torch.from_numpy(mask)


def length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Batches of similar-length rows; shuffled (rows within pools of 50 batches, then batch order)."""
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    if rng is not None:
        rng.shuffle(batches)
    return batches


class WeightAverage:
    """Exponential moving average of the parameters, with the usual warm-up of the decay.

    The decay ramps as min(decay, (1 + n) / (10 + n)) over updates n, so short runs (a few dozen
    steps) average over what they trained rather than staying at the initial weights.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay, self.updates = decay, 0
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, param in model.named_parameters():
            self.shadow[name].lerp_(param.detach(), 1.0 - decay)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        for name, param in model.named_parameters():
            param.copy_(self.shadow[name])


def drop_tokens(mask: torch.Tensor, rate: float, draw: torch.Tensor | None = None) -> torch.Tensor:
    """Zero a random ``rate`` of each row's real tokens, always keeping at least one.

    ``draw``: the uniform numbers to use (shape of ``mask``); a rank of a multi-process run takes its
    rows of the draw made for the whole global batch, so that N processes drop what one would.
    """
    keep = ((torch.rand(mask.shape) if draw is None else draw) >= rate).float() * mask
    first = torch.argmax(mask, dim=1)
    keep[torch.arange(mask.shape[0]), first] = mask[torch.arange(mask.shape[0]), first]
    return keep


def warmup_cosine(total_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    warmup = max(1, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


@torch.no_grad()
def predict_proba(model: NeuroLiteForClassification, encoded: EncodedTexts, batch_size: int = 256) -> np.ndarray:
    model.eval()
    out = np.zeros((len(encoded), model.num_labels), dtype=np.float32)
    for indices in length_grouped_batches(encoded.lengths, batch_size, rng=None):
        features, mask = collate(encoded, indices)
        out[indices] = torch.softmax(model(features, mask)["logits"], dim=-1).numpy()
    return out


@torch.no_grad()
def predict_predicates(model: NeuroLiteForClassification, encoded: EncodedTexts, batch_size: int = 256) -> np.ndarray:
    """The predicate head's scores, float32 [N, P], for a model that has one."""
    model.eval()
    out = np.zeros((len(encoded), len(model.config.symbolic_predicates)), dtype=np.float32)
    for indices in length_grouped_batches(encoded.lengths, batch_size, rng=None):
        features, mask = collate(encoded, indices)
        out[indices] = model(features, mask)["predicates"].numpy()
    return out


def evaluate(model: NeuroLiteForClassification, encoded: EncodedTexts, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) on a featurized set.

    A negative label (a class never seen in training, ``data.UNSEEN_LABEL``) counts as an error in
    accuracy and is left out of the loss, which has no probability for it (nan if every row is such).
    """
    probs = predict_proba(model, encoded)
    accuracy = float((probs.argmax(1) == labels).mean())
    known = labels >= 0
    picked = probs[np.flatnonzero(known), labels[known]]
    loss = float(-np.log(np.clip(picked, 1e-12, None)).mean()) if known.any() else float("nan")
    return accuracy, loss


def train(model: NeuroLiteForClassification, train_set: EncodedTexts, train_labels: np.ndarray,
          eval_set: EncodedTexts, eval_labels: np.ndarray, settings: TrainSettings,
          soft_targets: np.ndarray | None = None,
          on_step: Callable[[int, int, float, float], None] | None = None,
          on_epoch: Callable[[EpochRecord], None] | None = None,
          predicate_targets: np.ndarray | None = None, world: World | None = None) -> TrainResult:
    """Train in place; on return ``model`` holds the weights of the best epoch on ``eval_set``.

    ``predicate_targets`` (float [N, P] in {0, 1}, the rules file's cue labels) train the predicate
    head of a model that has one: their binary cross-entropy is added to the loss. A training label of
    -1 marks a row with no label of its own (an augmented sample): it learns from ``soft_targets`` only.

    ``world`` (``distributed.World``, from ``torchrun``): every rank draws the same global batches and
    trains on its share of each with DistributedDataParallel; statistics are summed over ranks.
    """
    if (predicate_targets is None) != (model.symbolic is None):
        raise ValueError("predicate_targets: give them exactly when the model has a predicate head")
    if (train_labels < 0).any() and (soft_targets is None or settings.distill_weight == 0):
        raise ValueError("train_labels: rows without a label (-1) need soft_targets and distill_weight > 0")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    steps_per_epoch = math.ceil(len(train_set) / settings.batch_size)
    total = steps_per_epoch * settings.epochs
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or name.endswith("table") else decay).append(param)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=settings.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, settings.warmup_ratio))
    labels_t = torch.from_numpy(train_labels.astype(np.int64))
    soft_t = None if soft_targets is None else torch.from_numpy(soft_targets.astype(np.float32))
    predicate_t = None if predicate_targets is None else torch.from_numpy(predicate_targets.astype(np.float32))
    ema = WeightAverage(model, settings.ema_decay) if settings.ema_decay else None
    world = world or World()
    step_model = world.wrap(model)  # DistributedDataParallel under torchrun; the model itself otherwise
    result, best_state, step, started = TrainResult(), None, 0, time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        model.train()
        epoch_start, loss_sum, correct, seen, seen_labelled = time.perf_counter(), 0.0, 0, 0, 0
        for global_indices in length_grouped_batches(train_set.lengths, settings.batch_size, rng):
            indices, scale = world.shard(global_indices)
            features, mask = collate(train_set, indices)
            if settings.token_dropout > 0:
                draw = None
                if world.distributed:  # this rank's rows of one draw over the global batch
                    width = max(train_set.features[i].shape[0] for i in global_indices)
                    start = int(np.flatnonzero(global_indices == indices[0])[0])
                    draw = torch.rand((len(global_indices), width))[start:start + len(indices), : mask.shape[1]]
                mask = drop_tokens(mask, settings.token_dropout, draw)
            target = labels_t[indices]
            output = step_model(features, mask)
            logits = output["logits"]
            labelled = target >= 0
            rows = F.cross_entropy(logits, target.clamp(min=0), label_smoothing=settings.label_smoothing,
                                   reduction="none")
            if soft_t is not None and settings.distill_weight > 0:
                temperature = settings.distill_temperature
                student = F.log_softmax(logits / temperature, dim=-1)
                kl = F.kl_div(student, soft_t[indices], reduction="none").sum(-1) * temperature**2
                weight = settings.distill_weight
                rows = torch.where(labelled, (1 - weight) * rows + weight * kl, kl)  # unlabelled: teacher only
            loss = rows.mean()
            balance = routing_loss(model)  # mixture-of-experts load balancing, when the model routes
            if balance is not None:
                loss = loss + model.config.routing_balance_weight * balance
            if predicate_t is not None:
                loss = loss + predicate_loss(output["predicate_logits"], predicate_t[indices])
            if world.distributed:  # DDP averages over ranks: scaled so the result is the global batch's mean
                loss = loss * scale
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update(model)
            step += 1
            rows_here = len(indices) if scale else 0  # 0: this rank's share of the batch was empty
            local_loss = loss.item() / scale * rows_here if world.distributed and scale else loss.item() * rows_here
            loss_sum += local_loss
            correct += int((logits.argmax(-1) == target).sum()) if rows_here else 0  # over rows with a label
            seen += rows_here
            seen_labelled += int(labelled.sum()) if rows_here else 0
            if world.distributed:
                result.step_losses.append(world.sum([local_loss])[0] / len(global_indices))
            else:
                result.step_losses.append(loss.item())
            if on_step is not None:
                on_step(step, total, loss_sum / seen, correct / max(1, seen_labelled))
        if ema is not None:  # the averaged weights are the ones evaluated and kept
            live_state = copy.deepcopy(model.state_dict())
            ema.copy_to(model)
        eval_accuracy, eval_loss = evaluate(model, eval_set, eval_labels)  # every rank: the same weights
        loss_sum, correct, seen, seen_labelled = world.sum([loss_sum, correct, seen, seen_labelled])
        record = EpochRecord(epoch, loss_sum / seen, correct / max(1, seen_labelled), eval_loss, eval_accuracy,
                             time.perf_counter() - epoch_start)
        result.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if best_state is None or eval_accuracy > result.best_eval_accuracy:
            result.best_epoch, result.best_eval_accuracy = epoch, eval_accuracy
            best_state = copy.deepcopy(model.state_dict())
        if ema is not None:
            model.load_state_dict(live_state)
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result
