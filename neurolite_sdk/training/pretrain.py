"""A pretrained NeuroLite encoder: the featurizer table, projection and backbone taught, on unlabelled
text, to place words and sentences where a pretrained sentence model places them.

The hashed model only learns the words its labelled data holds; this stage gives it the pretrained
model's sense of which words mean alike ("superb" near "excellent") before it sees a label. The
pretrained sentence model (all-MiniLM-L6-v2, offline) encodes each *word* of the corpus vocabulary
once, alone, and (``targets="sentence"``, the default) each *text* of the corpus whole: ~3 minutes
for the 111,602 default texts on 2 cores in bf16. The encoder's pooled output, through a linear probe
that is thrown away afterwards, learns both by cosine distance: single words (the table and
projection) and whole sentences (the mixing blocks too, with token dropout). ``targets="word-mean"``
(the first recipe) uses the normalised mean of a text's word vectors instead; against the sentence
model's own embeddings it fine-tunes 1.6-2.2 points worse on 2,000 SST-2 rows (benchmarks/RESULTS.md).

    neurolite pretrain --preset tiny --out runs/encoder-tiny

writes ``encoder.safetensors`` (the ``neurolite.*`` weights), ``config.json`` and ``pretrain.json``;
``neurolite train --init runs/encoder-tiny`` (or ``--init pretrained`` for the default location)
starts from it. The default corpus is the unlabelled text of the public data sets: SST-2 and SNIPS
training texts (never their dev/valid/test), WikiText-2 valid + test, Tiny Shakespeare.
"""

from __future__ import annotations

import collections
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.modeling.routing import upcycle_experts
from neurolite_sdk.training.trainer import collate, drop_tokens, encode_texts, length_grouped_batches, warmup_cosine

ENCODER_FILE = "encoder.safetensors"
WORD = re.compile(r"[a-z][a-z'\-]*")
# config fields that change the encoder's weights or what they mean; the rest (dropout, reasoning
# modules) may differ between pre-training and fine-tuning
ENCODER_FIELDS = ("num_buckets", "num_hashes", "word_hashes", "ngram_min", "ngram_max", "max_length",
                  "featurizer_seed", "embedding_dim", "hidden_size", "backbone", "num_mixer_layers",
                  "token_mixing_dim", "channel_mixing_dim", "positional", "orbital_sigma", "orbital_frequencies",
                  "layer_norm_eps")


class PretrainError(NeuroLiteError):
    """A pretrained encoder that cannot be built or used; the message names the file or field."""


@dataclass(frozen=True)
class PretrainSettings:
    words: int = 30_000  # vocabulary: the most frequent words seen at least twice
    epochs: int = 2
    batch_size: int = 128
    learning_rate: float = 2e-3
    token_dropout: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def default_corpus() -> list[tuple[str, Path]]:
    """(name, path) of the public unlabelled text: training splits only, never an evaluation split."""
    from neurolite_sdk.public_data import data_path

    return [("sst2-train", data_path("sst2", "train.tsv")), ("snips-train", data_path("snips", "train", "seq.in")),
            ("wikitext-2-valid", data_path("wikitext-2", "valid.txt")),
            ("wikitext-2-test", data_path("wikitext-2", "test.txt")),
            ("tinyshakespeare", data_path("tinyshakespeare", "input.txt"))]


def read_corpus(paths: Sequence[Path]) -> list[str]:
    """Sentences of each file: a TSV's first column after its header; WikiText paragraphs cut at " . "
    (headings dropped); other files one text per line. Texts of fewer than 3 words are left out."""
    texts: list[str] = []
    for path in paths:
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PretrainError(f"{path}: cannot be read as UTF-8 text ({exc})") from exc
        lines = raw.splitlines()
        if path.suffix == ".tsv":
            lines = [line.split("\t")[0] for line in lines[1:]]
        for line in lines:
            line = line.strip()
            if not line or (line.startswith("=") and line.endswith("=")):
                continue
            pieces = [p.strip().removesuffix(" .") + " ." for p in line.split(" . ")] if " . " in line else [line]
            texts.extend(p for p in pieces if len(p.split()) >= 3)
    return texts


def vocabulary(texts: Iterable[str], size: int) -> list[str]:
    counts = collections.Counter(w for text in texts for w in text.lower().split() if WORD.fullmatch(w))
    return [w for w, n in counts.most_common() if n >= 2][:size]


def word_vectors(words: Sequence[str], on_batch: Callable[[int], None] | None = None,
                 batch_size: int = 512) -> np.ndarray:
    """The pretrained sentence model's normalised embedding of each word on its own, float32 [N, 384]."""
    return _minilm_embeddings(words, batch_size, on_batch, by_length=False)


def sentence_vectors(texts: Sequence[str], on_batch: Callable[[int], None] | None = None,
                     batch_size: int = 256) -> np.ndarray:
    """The pretrained sentence model's own normalised embedding of each whole text (mean-pooled, as it was
    trained), float32 [N, 384], in the order of ``texts``; rows of like length batched together."""
    return _minilm_embeddings(texts, batch_size, on_batch, by_length=True)


def _minilm_embeddings(texts: Sequence[str], batch_size: int, on_batch: Callable[[int], None] | None,
                       by_length: bool) -> np.ndarray:
    """MiniLM's normalised mean-pooled embedding of each text (bf16 autocast where ``label_precision``
    allows), float32 [N, hidden] in the order of ``texts``; batched in input order or, ``by_length``, in
    order of token count (less padding)."""
    from neurolite_sdk.training.transformer_teacher import PRETRAINED, FineTuneSettings, TransformerTeacher

    teacher = TransformerTeacher(PRETRAINED["minilm"], 2, FineTuneSettings())
    tokens = teacher.tokenize(texts)
    order = np.argsort([len(t) for t in tokens], kind="stable") if by_length else np.arange(len(texts))
    out = np.zeros((len(texts), teacher.model.encoder.config.hidden_size), dtype=np.float32)
    bf16 = teacher.label_precision() == "bf16"
    teacher.model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            ids, mask = teacher._batch([tokens[i] for i in indices])
            out[indices] = F.normalize(teacher.model.embed(ids, mask).float(), dim=-1).numpy()
            if on_batch is not None:
                on_batch(len(indices))
    return out


def targets_for(texts: Sequence[str], words: Sequence[str], vectors: np.ndarray,
                sentences: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
    """Every word alone with its vector, then the texts: with ``sentences`` (``sentence_vectors(texts)``)
    every text with its own embedding; without, every text with >= 2 known words with its words' mean."""
    rows, targets = list(words), [vectors]
    if sentences is not None:
        if len(sentences) != len(texts):
            raise ValueError(f"sentences: {len(sentences)} vectors for {len(texts)} texts")
        return rows + list(texts), np.concatenate([vectors, sentences]).astype(np.float32)
    index = {w: i for i, w in enumerate(words)}
    sentence_targets = []
    for text in texts:
        ids = [index[w] for w in text.lower().split() if w in index]
        if len(ids) >= 2:
            mean = vectors[ids].mean(0)
            rows.append(text)
            sentence_targets.append(mean / max(float(np.linalg.norm(mean)), 1e-8))
    if sentence_targets:
        targets.append(np.asarray(sentence_targets, dtype=np.float32))
    return rows, np.concatenate(targets).astype(np.float32)


def pretrain_encoder(config: NeuroLiteConfig, texts: Sequence[str], targets: np.ndarray, settings: PretrainSettings,
                     on_step: Callable[[int, int, float], None] | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Train the encoder (+ a linear probe to the target width) by cosine distance; its weights and a report."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = NeuroLiteForClassification(config, num_labels=2)
    encoder = model.neurolite
    probe = torch.nn.Linear(2 * config.hidden_size, targets.shape[1])
    data = encode_texts(model.featurizer, texts)
    params = list(encoder.parameters()) + list(probe.parameters())
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.01)
    total = settings.epochs * math.ceil(len(texts) / settings.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, 0.05))
    target_t = torch.from_numpy(targets)
    started, step, running, history = time.perf_counter(), 0, None, []
    for _ in range(settings.epochs):
        encoder.train()
        total_loss, seen = 0.0, 0
        for indices in length_grouped_batches(data.lengths, settings.batch_size, rng):
            features, mask = collate(data, indices)
            if settings.token_dropout > 0:
                mask = drop_tokens(mask, settings.token_dropout)
            _, pooled = encoder.encode(features, mask)
            loss = (1 - F.cosine_similarity(probe(pooled), target_t[indices], dim=-1)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            total_loss, seen = total_loss + loss.item() * len(indices), seen + len(indices)
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            if on_step is not None:
                on_step(step, total, running)
        history.append(total_loss / seen)
    encoder.eval()
    state = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    return state, {"epoch_cosine_loss": history, "seconds": time.perf_counter() - started, "rows": len(texts)}


def save_encoder(out_dir: Path, config: NeuroLiteConfig, state: dict[str, torch.Tensor], report: dict) -> None:
    from safetensors.torch import save_file

    from neurolite_sdk.atomic import OutputKind, atomic_directory

    kind = OutputKind("pretrained encoder", lambda p: (p / ENCODER_FILE).is_file())
    with atomic_directory(out_dir, kind, overwrite=True) as staging:
        save_file(state, str(staging / ENCODER_FILE), metadata={"format": "pt"})
        (staging / "config.json").write_text(config.to_json() + "\n", encoding="utf-8")
        (staging / "pretrain.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")


SHIPPED = Path(__file__).resolve().parents[1] / "pretrained"  # encoders this project trained and ships


def user_encoder_dir(preset: str) -> Path:
    """Where ``neurolite pretrain --preset PRESET`` writes by default: ``$NEUROLITE_CACHE/encoders/PRESET``."""
    from neurolite_sdk.training.teacher_cache import default_cache_root

    return default_cache_root().parent / "encoders" / preset


def encoder_candidates(preset: str) -> list[Path]:
    """The preset's pretrained encoders, first choice first: the user's (``neurolite pretrain``), then the
    one shipped with the package (``neurolite_sdk/pretrained/PRESET``)."""
    return [folder for folder in (user_encoder_dir(preset), SHIPPED / preset) if (folder / ENCODER_FILE).is_file()]


def encoder_mismatch(path: Path, config: NeuroLiteConfig) -> list[str]:
    """The encoder-shaping config fields in which ``path``'s encoder differs from ``config`` (empty: it fits)."""
    try:
        saved = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PretrainError(f"{path / 'config.json'}: cannot be read ({exc})") from exc
    current = config.to_dict()
    return [f"{k} ({saved.get(k)!r} there, {current.get(k)!r} here)" for k in ENCODER_FIELDS
            if saved.get(k) != current.get(k)]


def load_encoder(model: NeuroLiteForClassification, path: Path) -> dict[str, Any]:
    """Copy a pretrained encoder's weights into ``model.neurolite``; its config must match where it matters."""
    from safetensors.torch import load_file

    if not (path / ENCODER_FILE).is_file():
        raise PretrainError(f"{path / ENCODER_FILE}: no pretrained encoder there; build one with "
                            f"`neurolite pretrain --preset PRESET --out {path}`")
    differ = encoder_mismatch(path, model.config)
    if differ:
        raise PretrainError(f"{path / 'config.json'}: the encoder was pretrained with another shape: "
                            f"{', '.join(differ)}")
    try:
        state = load_file(str(path / ENCODER_FILE))
    except Exception as exc:  # safetensors raises its own error types for truncated/corrupt files
        raise PretrainError(f"{path / ENCODER_FILE}: cannot be read ({exc})") from exc
    try:  # a routed model's experts start as the dense channel MLPs (sparse upcycling)
        model.neurolite.load_state_dict(upcycle_experts(state, model.neurolite), strict=True)
    except RuntimeError as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise PretrainError(f"{path / ENCODER_FILE}: does not fit this model ({detail[:400]})") from exc
    report_path = path / "pretrain.json"
    return json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
