"""Memory sessions in the runtime (``config.use_external_memory``, modeling/memory.py). Torch-free.

A memory bundle's graph takes the memory state and a write flag and returns the next state
(exporters/graph.py); it keeps nothing itself. ``Predictor.session()`` opens a ``Session``, which holds
one conversation's state: each text goes through the graph at batch 1, in order, with the state the
previous text left, so a question sees every fact said before it; the next state is taken back after
every call. ``Predictor.predict`` on such a bundle stays stateless (an empty memory, nothing written).

``Session.save`` writes the state as safetensors (the ``safetensors.numpy`` API), with the model it
belongs to in the header; ``Session.load`` checks every tensor's shape and dtype and that model, and
refuses a state of another shape (naming both shapes), of another model, or a damaged file (naming it),
before anything is replaced. Saving goes through a temporary file and a rename: never half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.runtime.bundle import BATCH, Bundle
from neurolite_sdk.runtime.errors import BundleError, PredictionInputError

if TYPE_CHECKING:
    from neurolite_sdk.runtime.predictor import Prediction, Predictor

STATE = ("keys", "values", "valid", "usage", "cursor")  # as modeling/memory.py (this module imports no torch)
INPUTS = tuple(f"memory_{name}" for name in STATE)
WRITE = "memory_write"
ATTENTION = "memory_attention"
FILE_FORMAT = "neurolite-memory-state"
FILE_VERSION = "1"


class MemoryStateError(NeuroLiteError):
    """A memory state that does not fit this model: another shape, another model, or a damaged file."""


@dataclass(frozen=True)
class MemorySpec:
    """The state a bundle's graph takes: per-row shapes by name (batch axis left out), where each level's
    slots start (short-term, long-term, persistent: its cursor starts there) and the model's id."""

    shapes: dict[str, tuple[int, ...]]
    starts: tuple[int, int, int]
    model_id: str

    @property
    def slots(self) -> int:
        return self.shapes["valid"][0]

    def empty(self, batch: int = 1) -> dict[str, np.ndarray]:
        state = {name: np.zeros((batch, *shape), dtype=np.float32) for name, shape in self.shapes.items()}
        state["cursor"][:, list(self.starts)] = 1.0
        return state

    def inputs(self, state: Mapping[str, np.ndarray], write: np.ndarray) -> dict[str, np.ndarray]:
        return {**{f"memory_{name}": state[name] for name in STATE}, WRITE: write.astype(np.float32)}


def memory_spec(bundle: Bundle) -> MemorySpec | None:
    """What a memory bundle's graph takes; None for a bundle without memory. The signatures must agree."""
    config = bundle.manifest.get("config", {})
    if not isinstance(config, Mapping) or not config.get("use_external_memory"):
        return None
    shapes: dict[str, tuple[int, ...]] | None = None
    for signature in bundle.signatures:
        found = {t.name: t for t in signature.inputs}
        outputs = {t.name for t in signature.outputs}
        missing = [n for n in (*INPUTS, WRITE) if n not in found]
        missing += [n for n in (ATTENTION, *(f"next_{n}" for n in INPUTS)) if n not in outputs]
        if missing:
            raise BundleError(f"{bundle.path}: config.use_external_memory is on, but signature {signature.name!r} "
                              f"lacks {', '.join(missing)}")
        these = {name: tuple(int(d) for d in found[f"memory_{name}"].shape if d != BATCH) for name in STATE}
        if shapes is not None and these != shapes:
            raise BundleError(f"{bundle.path}: signature {signature.name!r} takes memory of shapes {these}, "
                              f"another signature {shapes}")
        shapes = these
    try:
        short, long_, persistent = (int(config[f"memory_{level}_size"]) for level in ("short_term", "long_term",
                                                                                       "persistent"))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{bundle.path}: manifest config lacks the memory sizes ({exc})") from exc
    if shapes is None or shapes["valid"] != (short + long_ + persistent,):
        raise BundleError(f"{bundle.path}: the graph's memory has {shapes and shapes['valid']} slots, the config "
                          f"{short} + {long_} + {persistent}")
    identity = json.dumps({"config": config, "labels": list(bundle.labels)}, sort_keys=True)
    return MemorySpec(shapes, (0, short, short + long_), hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16])


class Session:
    """One conversation's memory on a memory bundle: ``predict`` reads (and by default writes) it."""

    def __init__(self, predictor: Predictor, state: Mapping[str, np.ndarray] | None = None) -> None:
        if predictor.memory is None:
            raise PredictionInputError(f"session: {predictor.bundle.path} has no memory "
                                       f"(config.use_external_memory is off)")
        self.predictor = predictor
        self.spec: MemorySpec = predictor.memory
        self.state = dict(state) if state is not None else self.spec.empty()
        self.attention: np.ndarray | None = None  # the last text's read distribution over slots [S]

    def predict(self, texts: Sequence[str], update_memory: bool = True,
                threshold: float | None = None) -> list[Prediction]:
        """Each text in order, at batch 1, reading the memory the texts before it left (and writing itself
        into it when ``update_memory``)."""
        if isinstance(texts, (str, bytes)):
            raise PredictionInputError(f"texts: expected a list of texts, got a single {type(texts).__name__}; "
                                       f"wrap it in a list")
        if len(texts) == 0:
            raise PredictionInputError("texts: empty list; give at least one text")
        write = np.array([1.0 if update_memory else 0.0], dtype=np.float32)
        predictions = []
        for text in texts:
            batch = self.predictor.featurize([text])
            outputs = self.predictor.run({"features": batch.features, "mask": batch.mask,
                                          **self.spec.inputs(self.state, write)})
            self.state = {name: outputs[f"next_memory_{name}"] for name in STATE}
            self.attention = outputs[ATTENTION][0]
            predictions.extend(self.predictor.predictions(batch, outputs, threshold))
        return predictions

    def reset(self) -> None:
        self.state, self.attention = self.spec.empty(), None

    def save(self, path: str | Path) -> Path:
        """Write the state to ``path`` (safetensors), atomically."""
        from safetensors.numpy import save

        path = Path(path)
        data = save({name: np.ascontiguousarray(self.state[name][0]) for name in STATE},
                    metadata={"format": FILE_FORMAT, "version": FILE_VERSION, "model": self.spec.model_id})
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        except OSError as exc:
            raise MemoryStateError(f"{path}: cannot write the memory state ({exc.strerror or exc})") from exc
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise MemoryStateError(f"{path}: cannot write the memory state ({exc.strerror or exc})") from exc
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path, predictor: Predictor) -> Session:
        """A session on ``predictor`` holding the state saved at ``path``; ``MemoryStateError`` when it does
        not fit (another shape or model) or the file is not a memory state."""
        if predictor.memory is None:
            raise PredictionInputError(f"session: {predictor.bundle.path} has no memory "
                                       f"(config.use_external_memory is off)")
        return cls(predictor, read_state(path, predictor.memory))


def read_state(path: str | Path, spec: MemorySpec) -> dict[str, np.ndarray]:
    """The state saved at ``path``, checked against ``spec``, with a batch axis of 1."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise MemoryStateError(f"{path}: no such memory state file")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            arrays = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MemoryStateError(f"{path}: not a readable memory state file ({reason})") from exc
    if metadata.get("format") != FILE_FORMAT:
        raise MemoryStateError(f"{path}: not a NeuroLite memory state (header format {metadata.get('format')!r})")
    if metadata.get("version") != FILE_VERSION:
        raise MemoryStateError(f"{path}: memory state version {metadata.get('version')!r}; this SDK reads "
                               f"{FILE_VERSION!r}")
    missing = [name for name in STATE if name not in arrays]
    if missing:
        raise MemoryStateError(f"{path}: the memory state lacks {', '.join(missing)}")
    state = {}
    for name in STATE:
        array = arrays[name]
        if array.shape != spec.shapes[name] or array.dtype != np.float32:
            raise MemoryStateError(f"{path}: memory {name} has shape {array.shape} ({array.dtype}), this model's "
                                   f"memory needs {spec.shapes[name]} (float32): a state from another model")
        if not np.isfinite(array).all():
            raise MemoryStateError(f"{path}: memory {name} holds NaN or infinite values")
        state[name] = array.reshape(1, *array.shape).copy()
    if metadata.get("model") != spec.model_id:
        raise MemoryStateError(f"{path}: a memory state of model {metadata.get('model')!r}, this bundle is model "
                               f"{spec.model_id!r} (same shapes, another config or labels)")
    return state
