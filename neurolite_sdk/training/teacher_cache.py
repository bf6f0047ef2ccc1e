"""A cache for a fine-tuned teacher and the outputs it computed, keyed by what produced them.

A cache entry is a directory ``<root>/<key[:24]>/`` where ``key`` is the SHA-256 of a JSON document
(the *key document*: teacher name, digest of its pretrained weights, digest of the training texts and
labels, label names, fine-tuning settings, library versions)::

    key.json                 the key document and its full digest
    teacher.safetensors      the fine-tuned weights (encoder + classification head)
    logits-<digest>.safetensors   the teacher's logits for one list of texts at one precision
                             (fp32, bf16); metadata names the texts' digest and row count

Nothing is reused on trust: an entry whose ``key.json`` is missing, unreadable or differs from the
current key document (another data set, other settings, a truncated copy) is reported with the
fields that differ, deleted and rebuilt; a logits file whose metadata does not match its texts is
recomputed. Files appear atomically (written beside, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV = "NEUROLITE_CACHE"
FORMAT = "neurolite-teacher-cache/1"


def default_cache_root() -> Path:
    """``$NEUROLITE_CACHE/teachers``, else ``~/.cache/neurolite/teachers``."""
    base = os.environ.get(CACHE_ENV)
    return (Path(base) if base else Path.home() / ".cache" / "neurolite") / "teachers"


def texts_digest(texts: Sequence[str], labels: Sequence[Any] | None = None) -> str:
    """SHA-256 over the texts (and labels), each length-prefixed so that no two lists collide by joining."""
    digest = hashlib.sha256()
    digest.update(f"{len(texts)}\n".encode())
    for i, text in enumerate(texts):
        raw = text.encode("utf-8", "surrogatepass")
        digest.update(f"{len(raw)}:".encode())
        digest.update(raw)
        if labels is not None:
            digest.update(f"|{labels[i]}\n".encode())
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def key_of(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


class TeacherCache:
    """One cache entry, opened for a key document; ``notes`` says what was found stale and rebuilt."""

    def __init__(self, root: str | Path, document: dict[str, Any]) -> None:
        self.document = {"format": FORMAT, **document}
        self.key = key_of(self.document)
        self.path = Path(root) / self.key[:24]
        self.notes: list[str] = []
        self._check()

    @property
    def weights_path(self) -> Path:
        return self.path / "teacher.safetensors"

    def has_weights(self) -> bool:
        return self.weights_path.is_file()

    def _check(self) -> None:
        """Keep the entry if its key document is this one; otherwise say why and start it afresh."""
        key_file = self.path / "key.json"
        if not self.path.exists():
            return
        try:
            stored = json.loads(key_file.read_text(encoding="utf-8"))
            problem = None if stored.get("key") == self.key and stored.get("document") == self.document else \
                f"was written for other data or settings (differs in: {', '.join(_differences(stored, self.document))})"
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            problem = "has no readable key.json"
        if problem is not None:
            self.notes.append(f"teacher cache {self.path} {problem}; rebuilding it")
            shutil.rmtree(self.path)

    def _ensure(self) -> None:
        if (self.path / "key.json").is_file():
            return
        self.path.mkdir(parents=True, exist_ok=True)
        doc = json.dumps({"key": self.key, "document": self.document}, indent=2, sort_keys=True) + "\n"
        _atomic_write(self.path / "key.json", doc.encode())

    def save_weights(self, state: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        self._ensure()
        tmp = self.weights_path.with_name(f".{self.weights_path.name}.{os.getpid()}.tmp")
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp),
                  metadata={"key": self.key})
        os.replace(tmp, self.weights_path)

    def load_weights(self) -> dict[str, Any] | None:
        """The cached fine-tuned weights, or None (noted) when the file is not this entry's."""
        from safetensors import safe_open

        try:
            with safe_open(str(self.weights_path), framework="pt") as handle:
                if (handle.metadata() or {}).get("key") != self.key:
                    raise ValueError("its key differs")
                return {name: handle.get_tensor(name) for name in handle.keys()}
        except Exception as exc:  # a truncated or foreign file: recompute rather than fail
            self.notes.append(f"teacher cache {self.weights_path} cannot be used ({exc}); fine-tuning again")
            return None

    def _logits_path(self, digest: str) -> Path:
        return self.path / f"logits-{digest[:24]}.safetensors"

    def load_logits(self, texts: Sequence[str], precision: str = "fp32") -> np.ndarray | None:
        """The logits stored for exactly these texts, computed at this precision; None if there are none."""
        from safetensors import safe_open
        from safetensors.numpy import load_file

        digest = _logits_digest(texts, precision)
        path = self._logits_path(digest)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="numpy") as handle:
                meta = handle.metadata() or {}
            logits = load_file(str(path))["logits"]
            if meta.get("texts") != digest or meta.get("key") != self.key or logits.shape[0] != len(texts):
                raise ValueError("it was computed for other texts")
            return logits
        except Exception as exc:
            self.notes.append(f"teacher cache {path} cannot be used ({exc}); labelling again")
            return None

    def save_logits(self, texts: Sequence[str], logits: np.ndarray, precision: str = "fp32") -> None:
        from safetensors.numpy import save_file

        self._ensure()
        digest = _logits_digest(texts, precision)
        path = self._logits_path(digest)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({"logits": np.ascontiguousarray(logits, dtype=np.float32)}, str(tmp),
                  metadata={"texts": digest, "rows": str(len(texts)), "key": self.key})
        os.replace(tmp, path)


def _logits_digest(texts: Sequence[str], precision: str) -> str:
    digest = texts_digest(texts)
    return digest if precision == "fp32" else hashlib.sha256(f"{digest}:{precision}".encode()).hexdigest()


def _differences(stored: Any, current: dict[str, Any]) -> list[str]:
    old = stored.get("document") if isinstance(stored, dict) else None
    if not isinstance(old, dict):
        return ["the whole key document"]
    fields = sorted(k for k in set(old) | set(current) if old.get(k) != current.get(k))
    return fields or ["key digest"]


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
