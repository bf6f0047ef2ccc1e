"""Training and evaluation of the causal byte-level model (next-byte cross-entropy, AdamW, cosine).

Training reads random windows of ``seq_len`` bytes; the features of a window's first bytes still see
the bytes before it (they are computed over the whole text once), the recurrent state starts at zero.
Evaluation runs the held-out text as a few contiguous streams with the state carried from chunk to
chunk, exactly as generation does, and reports nats per byte, bits per byte, per-byte perplexity and,
for whitespace-tokenized text, per-word perplexity (``exp(total nats / words)``, words counted as
whitespace-separated tokens plus one end-of-line per line, the WikiText/pytorch-examples convention).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neurolite_sdk.generation.config import GenerationConfig
from neurolite_sdk.generation.featurizer import GenerationInputError, featurize_bytes
from neurolite_sdk.modeling.causal import CausalNeuroLiteLM, count_parameters

HOLDOUT_FRACTION = 0.1


@dataclass
class GenerationTrainJob:
    train_path: Path
    eval_path: Path
    out_dir: Path
    config: GenerationConfig
    epochs: int = 1
    batch_size: int = 32
    seq_len: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    seed: int = 0
    max_rows: int | None = None
    max_steps: int | None = None
    eval_bytes: int | None = 100_000  # the held-out text's first N bytes are scored (None: all of it)
    overwrite: bool = False


def read_texts(train_path: Path, eval_path: Path, max_rows: int | None = None) -> tuple[bytes, bytes, str]:
    """Training and held-out bytes. The same file for both: its first 90% trains, the last 10% is held
    out (the usual Tiny Shakespeare split). ``max_rows`` keeps the first N lines of the training text."""
    for name, path in (("--train", train_path), ("--eval", eval_path)):
        if not Path(path).is_file():
            raise GenerationInputError(f"{name}: {path}: no such text file")
    train = Path(train_path).read_bytes()
    if Path(train_path).resolve() == Path(eval_path).resolve():
        cut = int(len(train) * (1 - HOLDOUT_FRACTION))
        how = f"first {1 - HOLDOUT_FRACTION:.0%} / last {HOLDOUT_FRACTION:.0%}"
        train, held = train[:cut], train[cut:]
    else:
        held, how = Path(eval_path).read_bytes(), "separate files"
    if max_rows is not None:
        train = b"".join(train.splitlines(keepends=True)[:max_rows])
    return train, held, how


def word_count(data: bytes) -> int:
    """Whitespace-separated tokens plus one end-of-line per line (the WikiText convention)."""
    return sum(len(line.split()) + 1 for line in data.split(b"\n") if line.strip()) if data else 0


@torch.no_grad()
def evaluate(model: CausalNeuroLiteLM, data: bytes, *, streams: int = 8, chunk: int = 256) -> dict[str, float]:
    """Per-byte NLL of ``data`` (the first byte of each stream is conditioned on nothing but PAD)."""
    model.eval()
    features = torch.from_numpy(featurize_bytes(data, model.config.featurizer_config()))
    targets = torch.from_numpy(np.frombuffer(data, dtype=np.uint8).astype(np.int64))
    count = len(data) - 1
    per = count // streams
    if per < 1:
        raise GenerationInputError(f"--eval: {len(data)} bytes is too short to evaluate on")
    total, scored = 0.0, 0
    conv, rec = model.initial_state(streams)
    for start in range(0, per, chunk):
        stop = min(per, start + chunk)
        idx = torch.arange(streams)[:, None] * per + torch.arange(start, stop)[None, :]
        logits, conv, rec = model(features[idx], conv, rec)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[idx + 1].reshape(-1),
                                       reduction="sum"))
        scored += idx.numel()
    nats = total / scored
    words = word_count(data)
    result = {"bytes_scored": scored, "nats_per_byte": nats, "bits_per_byte": nats / math.log(2),
              "perplexity_per_byte": math.exp(nats)}
    if words:
        # The same total scaled to the whole text: nats per byte x bytes / words.
        result["perplexity_per_word"] = math.exp(nats * len(data) / words)
        result["words"] = words
    return result


def train_generator(job: GenerationTrainJob, log: Callable[[str], None] = print) -> dict[str, Any]:
    from neurolite_sdk.generation.checkpoint import save_generator

    train, held, split = read_texts(job.train_path, job.eval_path, job.max_rows)
    if len(train) < job.seq_len + 2:
        raise GenerationInputError(f"--train: {len(train)} bytes of training text; need more than seq_len + 1 "
                                   f"({job.seq_len + 1})")
    torch.manual_seed(job.seed)
    rng = np.random.default_rng(job.seed)
    config = job.config
    model = CausalNeuroLiteLM(config)
    started = time.perf_counter()
    features = torch.from_numpy(featurize_bytes(train, config.featurizer_config()))
    data = torch.from_numpy(np.frombuffer(train, dtype=np.uint8).astype(np.int64))
    steps_per_epoch = max(1, len(train) // (job.batch_size * job.seq_len))
    steps = steps_per_epoch * job.epochs if job.max_steps is None else job.max_steps
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    rest = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": job.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=job.learning_rate, betas=(0.9, 0.98))
    warmup = min(100, max(1, steps // 10))

    def lr_at(step: int) -> float:
        if step < warmup:
            return job.learning_rate * (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return job.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    history = []
    model.train()
    window = torch.arange(job.seq_len)
    running = None
    for step in range(steps):
        starts = torch.from_numpy(rng.integers(0, len(train) - job.seq_len - 1, size=job.batch_size))
        idx = starts[:, None] + window[None, :]
        logits, _, _ = model(features[idx])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), data[idx + 1].reshape(-1))
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running = float(loss) if running is None else 0.95 * running + 0.05 * float(loss)
        if step % 50 == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps} loss {running:.3f} nats/byte ({time.perf_counter() - started:.0f} s)")
            history.append({"step": step + 1, "train_loss": running})
    train_seconds = time.perf_counter() - started
    scored = held if job.eval_bytes is None else held[: job.eval_bytes]
    metrics = evaluate(model, scored)
    report = {"train_path": str(job.train_path), "eval_path": str(job.eval_path), "split": split,
              "train_bytes": len(train), "eval_bytes": len(scored), "held_out_bytes": len(held),
              "steps": steps, "batch_size": job.batch_size,
              "seq_len": job.seq_len, "learning_rate": job.learning_rate, "weight_decay": job.weight_decay,
              "seed": job.seed, "parameters": count_parameters(model), "train_seconds": train_seconds,
              "threads": torch.get_num_threads(), "eval": metrics, "history": history}
    save_generator(job.out_dir, model, report, overwrite=job.overwrite)
    return report
