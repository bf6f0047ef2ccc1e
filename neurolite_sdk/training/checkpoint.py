"""Checkpoints: safetensors + JSON, never pickles (docs/design.md, decision 7).

A checkpoint is a directory::

    config.json         NeuroLiteConfig
    model.safetensors   weights
    labels.json         {"labels": [...], "num_labels": N}
    featurizer.json     featurizer spec version, parameters and digest
    training.json       how it was trained and what it scored (history per epoch)
    rules.json          the rule file, when the config uses the symbolic module (its model section
                        names the predicate head's vocabulary)
    network.json        the Bayesian network, when the config uses the Bayesian module

It is written atomically; loading checks that the featurizer it was trained with is the one this
SDK implements, since a different featurizer silently feeds the model different buckets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from neurolite_sdk.atomic import CHECKPOINT, CHECKPOINT_FILES, atomic_directory
from neurolite_sdk.config import ConfigError, NeuroLiteConfig
from neurolite_sdk.errors import NeuroLiteError, json_loads
from neurolite_sdk.featurizer import FEATURIZER_VERSION, FeaturizerConfig, FeaturizerError
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.reasoning import BayesError, BayesianBeliefNetwork, RuleError, SymbolicRuleEngine
from neurolite_sdk.reasoning.model_facts import NETWORK_FILE, RULES_FILE


class CheckpointError(NeuroLiteError):
    """A checkpoint that cannot be loaded; the message names the file and what is wrong."""


@dataclass
class Checkpoint:
    model: NeuroLiteForClassification
    labels: list[str]
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    reasoning: dict[str, Any] = field(default_factory=dict)  # file name (rules.json, network.json) -> JSON doc


def save_checkpoint(out_dir: str | Path, model: NeuroLiteForClassification, labels: list[str],
                    training: dict[str, Any] | None = None, reasoning: dict[str, Any] | None = None, *,
                    overwrite: bool = False) -> Path:
    """Write the checkpoint; ``reasoning`` maps ``rules.json`` / ``network.json`` to their JSON documents.

    An existing checkpoint at ``out_dir`` is replaced only with ``overwrite``; a non-empty directory
    that is not a checkpoint never is (``atomic.OutputError``).
    """
    out_dir = Path(out_dir)
    featurizer = model.config.featurizer_config()
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    bad = _non_finite(state)
    if bad is not None:
        raise CheckpointError(f"{out_dir}: not written: {bad} holds NaN or Infinity (training diverged; try a "
                              f"lower --lr or check the --set values)")
    with atomic_directory(out_dir, CHECKPOINT, overwrite=overwrite) as staging:
        (staging / "config.json").write_text(model.config.to_json() + "\n", encoding="utf-8")
        save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
        _write_json(staging / "labels.json", {"labels": labels, "num_labels": len(labels)})
        _write_json(staging / "featurizer.json", {**featurizer.to_dict(), "digest": featurizer.digest()})
        _write_json(staging / "training.json", training or {})
        for name, doc in (reasoning or {}).items():
            _write_json(staging / name, doc)
    return out_dir


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    from neurolite_sdk.generation.checkpoint import refuse_generation_checkpoint

    refuse_generation_checkpoint(path)  # a language model given to a classifier command: one clear line
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a checkpoint directory (expected {', '.join(CHECKPOINT_FILES)})")
    for name in CHECKPOINT_FILES:
        if not (path / name).is_file():
            raise CheckpointError(f"{path / name}: missing from the checkpoint")
    try:
        config = NeuroLiteConfig.from_dict(_read_json(path / "config.json"))
    except ConfigError as exc:
        raise CheckpointError(f"{path / 'config.json'}: {exc}") from exc
    _check_featurizer(path / "featurizer.json", config)
    labels_doc = _read_json(path / "labels.json")
    labels = labels_doc.get("labels") if isinstance(labels_doc, dict) else None
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise CheckpointError(f"{path / 'labels.json'}: 'labels' must be a list of at least two strings")
    model = NeuroLiteForClassification(config, num_labels=len(labels))
    try:
        state = load_file(str(path / "model.safetensors"))
    except Exception as exc:  # safetensors raises its own error types for truncated/corrupt files
        raise CheckpointError(f"{path / 'model.safetensors'}: cannot be read ({exc})") from exc
    bad = _non_finite(state)
    if bad is not None:
        raise CheckpointError(f"{path / 'model.safetensors'}: {bad} holds NaN or Infinity; the model cannot give "
                              f"meaningful scores (retrain it)")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path / 'model.safetensors'}: does not match config.json ({exc})") from exc
    model.eval()
    training = _read_json(path / "training.json") if (path / "training.json").is_file() else {}
    return Checkpoint(model=model, labels=labels, training=training, path=path,
                      reasoning=_read_reasoning(path, config))


def _read_reasoning(path: Path, config: NeuroLiteConfig) -> dict[str, Any]:
    """The checkpoint's rules and network files, checked; required when the config uses them."""
    docs: dict[str, Any] = {}
    needed = {RULES_FILE: config.use_symbolic_module, NETWORK_FILE: config.use_bayesian_module}
    for name, used in needed.items():
        if not (path / name).is_file():
            if used:
                raise CheckpointError(f"{path / name}: missing; config.json turns the "
                                      f"{'symbolic' if name == RULES_FILE else 'Bayesian'} module on")
            continue
        try:
            if name == RULES_FILE:
                engine = SymbolicRuleEngine.from_json(path / name)
                names = engine.model_facts.predicate_names if engine.model_facts is not None else ()
                if tuple(config.symbolic_predicates) != names:
                    raise RuleError(f"declares the predicates {list(names)}, but config.json's "
                                    f"symbolic_predicates (the trained head) are {config.symbolic_predicates}")
            else:
                BayesianBeliefNetwork.from_json(path / name)
        except (RuleError, BayesError) as exc:
            message = str(exc)
            raise CheckpointError(message if message.startswith(str(path)) else f"{path / name}: {message}") from exc
        docs[name] = _read_json(path / name)
    return docs


def _check_featurizer(path: Path, config: NeuroLiteConfig) -> None:
    doc = _read_json(path)
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    version = doc.get("version")
    if version != FEATURIZER_VERSION:
        raise CheckpointError(f"{path}: trained with featurizer version {version!r}, this SDK implements "
                              f"{FEATURIZER_VERSION!r}; retrain the model or use a matching SDK release")
    try:
        saved = FeaturizerConfig.from_dict({k: v for k, v in doc.items() if k != "digest"})
    except FeaturizerError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    expected = config.featurizer_config()
    if saved.digest() != expected.digest() or doc.get("digest") != expected.digest():
        raise CheckpointError(f"{path}: featurizer parameters or digest do not match config.json")


def _non_finite(state: dict[str, Any]) -> str | None:
    """The first tensor holding NaN or Infinity, named (``weight 'head.3.bias'``), or None."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            return f"weight {name!r}"
    return None


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{path}: not valid UTF-8") from exc
    return json_loads(text, CheckpointError, str(path))
