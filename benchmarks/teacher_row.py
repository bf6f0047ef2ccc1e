"""The fine-tuned transformer teacher beside the student it taught, in ``neurolite bench``.

A checkpoint distilled with ``--teacher minilm`` (or ``tfidf+minilm``) records its teacher in
``training.json``: the cache folder that holds the fine-tuned weights and the key they were written
under. The bench loads those weights (refusing a file whose key is not the one recorded), exports the
classifier to ONNX through the same toolchain call as the transformer baselines (``torch.onnx.export``,
dynamo, dynamic batch and length), measures it as it measures them (graph-only latency on token ids of
the checkpoint's length, cold load, peak memory, size), and scores the exported graph on the same eval
rows as the student, tokenized by the teacher's own WordPiece tokenizer. The report then shows what the
NeuroLite model's speed and size cost in accuracy, measured, not quoted.

A ``tfidf`` teacher has nothing worth a latency row (it is a sparse linear model the student already
beats or matches); a checkpoint without a transformer teacher gets no teacher row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk.errors import NeuroLiteError

EVAL_BATCH = 64


class TeacherRowError(NeuroLiteError):
    """The recorded teacher cannot be measured (weights gone or foreign); the message names the file."""


@dataclass(frozen=True)
class RecordedTeacher:
    """What training.json says about a transformer teacher."""

    name: str  # a key of transformer_teacher.PRETRAINED
    cache: Path
    cache_key: str
    max_length: int
    description: str


def recorded_teacher(training: dict[str, Any]) -> RecordedTeacher | None:
    """The transformer teacher a checkpoint was distilled from, or None (no teacher, or tfidf only)."""
    from neurolite_sdk.training.transformer_teacher import PRETRAINED

    report = training.get("teacher")
    if not isinstance(report, dict):
        return None
    parts = report.get("parts") if isinstance(report.get("parts"), list) else [report]
    for part in parts:
        if isinstance(part, dict) and part.get("name") in PRETRAINED and part.get("cache") and part.get("cache_key"):
            fine_tune = part.get("fine_tune") if isinstance(part.get("fine_tune"), dict) else {}
            return RecordedTeacher(part["name"], Path(part["cache"]), str(part["cache_key"]),
                                   int(fine_tune.get("max_length", 64)), str(part.get("kind", part["name"])))
    return None


def load_teacher(recorded: RecordedTeacher, num_labels: int) -> Any:
    """The fine-tuned ``TransformerTeacher`` from its cache entry (key-checked), in eval mode."""
    from safetensors import safe_open

    from neurolite_sdk.training.transformer_teacher import PRETRAINED, FineTuneSettings, TransformerTeacher

    weights = recorded.cache / "teacher.safetensors"
    if not weights.is_file():
        raise TeacherRowError(f"{weights}: the teacher's fine-tuned weights are not in its cache any more "
                              "(train again with the same --teacher to rebuild them)")
    with safe_open(str(weights), framework="pt") as handle:
        if (handle.metadata() or {}).get("key") != recorded.cache_key:
            raise TeacherRowError(f"{weights}: written under another key than the one training.json records "
                                  f"({recorded.cache_key[:12]}...); not the teacher of this checkpoint")
        state = {name: handle.get_tensor(name) for name in handle.keys()}
    teacher = TransformerTeacher(PRETRAINED[recorded.name], num_labels,
                                 FineTuneSettings(max_length=recorded.max_length))
    teacher.load_state_dict(state)
    teacher.model.eval()
    return teacher


def export_teacher_onnx(teacher: Any, out_dir: Path, key: str) -> Path:
    """``out_dir/model.onnx``, reused when ``key.json`` beside it says it was exported for ``key``."""
    from neurolite_sdk.atomic import atomic_write_text
    from neurolite_sdk.benchmarks.baselines import export_baseline_onnx

    entry, key_file = out_dir / "model.onnx", out_dir.with_name(out_dir.name + ".key.json")
    if entry.is_file() and key_file.is_file() and key_file.read_text(encoding="utf-8") == key:
        return entry
    export_baseline_onnx(teacher.model, out_dir, max_length=teacher.settings.max_length)
    atomic_write_text(key_file, key)
    return entry


def onnx_accuracy(entry: Path, teacher: Any, texts: list[str], truth: list[int], threads: int) -> dict[str, Any]:
    """Accuracy of the exported graph on ``texts`` (the teacher's tokenizer, its max_length)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(entry), options, providers=["CPUExecutionProvider"])
    tokens = teacher.tokenize(texts)
    predictions = []
    for start in range(0, len(tokens), EVAL_BATCH):
        ids, mask = teacher._batch(tokens[start:start + EVAL_BATCH])
        logits = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        predictions.append(np.asarray(logits).argmax(1))
    predicted = np.concatenate(predictions) if predictions else np.zeros(0, np.int64)
    hits = int((predicted == np.asarray(truth)).sum())
    return {"rows": len(texts), "accuracy": hits / len(texts) if texts else 0.0}


def teacher_key(recorded: RecordedTeacher, versions: dict[str, Any]) -> str:
    return json.dumps({"teacher": recorded.name, "cache_key": recorded.cache_key, "versions": versions},
                      sort_keys=True)
