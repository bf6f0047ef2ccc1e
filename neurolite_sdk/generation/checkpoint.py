"""Generation checkpoints: ``config.json`` (task "generation"), ``model.safetensors``, ``featurizer.json``
(the byte n-gram spec and its digest) and ``training.json``; safetensors + JSON, never pickles.

A classifier checkpoint given here, or a generation checkpoint given to the classifier's loader
(``refuse_generation_checkpoint``), is refused with one line naming the command to use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurolite_sdk.atomic import OutputKind, atomic_directory
from neurolite_sdk.errors import NeuroLiteError, json_loads
from neurolite_sdk.generation.config import TASK, GenerationConfig, GenerationConfigError

FILES = ("config.json", "model.safetensors", "featurizer.json")
GENERATION_CHECKPOINT = OutputKind("generation checkpoint",
                                   lambda p: all((p / n).is_file() for n in FILES) and is_generation_checkpoint(p))


class GenerationCheckpointError(NeuroLiteError):
    """A generation checkpoint that cannot be loaded; the message names the file and what is wrong."""


def is_generation_checkpoint(path: str | Path) -> bool:
    """True when ``path/config.json`` declares ``"task": "generation"``."""
    try:
        doc = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and doc.get("task") == TASK


def refuse_generation_checkpoint(path: str | Path) -> None:
    """For the classifier's commands: a generation checkpoint gets one clear line, not a missing-file error."""
    if is_generation_checkpoint(path):
        raise GenerationCheckpointError(f"{Path(path)}: a text-generation checkpoint (config.json task: "
                                        f"\"generation\"); use `neurolite generate`, not a classifier command")


@dataclass
class GenerationCheckpoint:
    model: Any  # CausalNeuroLiteLM
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def config(self) -> GenerationConfig:
        return self.model.config


def save_generator(out_dir: str | Path, model: Any, training: dict[str, Any] | None = None, *,
                   overwrite: bool = False) -> Path:
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            raise GenerationCheckpointError(f"{out_dir}: not written: weight {name!r} holds NaN or Infinity "
                                            f"(training diverged; try a lower --lr)")
    featurizer = model.config.featurizer_config()
    with atomic_directory(out_dir, GENERATION_CHECKPOINT, overwrite=overwrite) as staging:
        (staging / "config.json").write_text(model.config.to_json() + "\n", encoding="utf-8")
        save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
        _write_json(staging / "featurizer.json", {**featurizer.to_dict(), "digest": featurizer.digest()})
        _write_json(staging / "training.json", training or {})
    return out_dir


def load_generator(path: str | Path) -> GenerationCheckpoint:
    from safetensors.torch import load_file

    from neurolite_sdk.modeling.causal import CausalNeuroLiteLM

    path = Path(path)
    if not path.is_dir():
        raise GenerationCheckpointError(f"{path}: not a generation checkpoint directory (expected {', '.join(FILES)})")
    if (path / "manifest.json").is_file():
        raise GenerationCheckpointError(f"{path}: a classifier bundle (manifest.json); use `neurolite run`, or give "
                                        f"`neurolite generate` a generation checkpoint or a step bundle")
    if (path / "labels.json").is_file() and not is_generation_checkpoint(path):
        raise GenerationCheckpointError(f"{path}: a classification checkpoint (it has labels.json); use "
                                        f"`neurolite predict`, or train one with `neurolite train --task generation`")
    for name in FILES:
        if not (path / name).is_file():
            raise GenerationCheckpointError(f"{path / name}: missing from the generation checkpoint")
    doc = _read_json(path / "config.json")
    if not isinstance(doc, dict) or doc.get("task") != TASK:
        raise GenerationCheckpointError(f"{path / 'config.json'}: task: not \"generation\"; this is not a "
                                        f"generation checkpoint")
    try:
        config = GenerationConfig.from_dict(doc)
    except (GenerationConfigError, TypeError) as exc:
        raise GenerationCheckpointError(f"{path / 'config.json'}: {exc}") from exc
    spec = _read_json(path / "featurizer.json")
    expected = config.featurizer_config()
    if not isinstance(spec, dict) or spec.get("digest") != expected.digest():
        raise GenerationCheckpointError(f"{path / 'featurizer.json'}: featurizer spec or digest does not match "
                                        f"config.json (expected digest {expected.digest()[:12]}...)")
    model = CausalNeuroLiteLM(config)
    try:
        state = load_file(str(path / "model.safetensors"))
    except Exception as exc:  # safetensors raises its own error types for truncated/corrupt files
        raise GenerationCheckpointError(f"{path / 'model.safetensors'}: cannot be read ({exc})") from exc
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            raise GenerationCheckpointError(f"{path / 'model.safetensors'}: weight {name!r} holds NaN or Infinity")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise GenerationCheckpointError(f"{path / 'model.safetensors'}: does not match config.json ({exc})") from exc
    model.eval()
    training = _read_json(path / "training.json") if (path / "training.json").is_file() else {}
    return GenerationCheckpoint(model=model, training=training, path=path)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GenerationCheckpointError(f"{path}: not valid UTF-8") from exc
    return json_loads(text, GenerationCheckpointError, str(path))
