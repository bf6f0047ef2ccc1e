"""GenerationConfig: the causal byte-level model's hyper-parameters (``config.json`` of its checkpoint).

Kept apart from ``NeuroLiteConfig`` (the classifier's): the fields differ, and ``task: "generation"``
in the JSON is what tells the two kinds of checkpoint apart.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from neurolite_sdk.generation.featurizer import ByteFeaturizerConfig, GenerationInputError

TASK = "generation"
MIXERS = ("recurrent", "conv")


class GenerationConfigError(GenerationInputError):
    """An invalid generation config value; the message starts with the field name."""


@dataclass
class GenerationConfig:
    # Host featurizer: one bucket index per n-gram order of the bytes ending at each position.
    num_buckets: int = 8192
    ngram_orders: list[int] = dataclasses.field(default_factory=lambda: [1, 2, 3, 4, 6])
    featurizer_seed: int = 0
    # Bloom projection F x E -> D, then causal blocks.
    embedding_dim: int = 96
    hidden_size: int = 160
    num_layers: int = 3
    mixer: str = "recurrent"  # "recurrent": causal conv + per-channel linear recurrence; "conv": the conv only
    conv_width: int = 4
    channel_mixing_dim: int = 320
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    # Longest prompt accepted (bytes); generation itself runs in constant memory past it.
    context_length: int = 1024
    task: str = TASK

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        ints = {"num_buckets": (1, 2**24), "featurizer_seed": (0, 2**32 - 1), "embedding_dim": (1, 4096),
                "hidden_size": (1, 4096), "num_layers": (1, 64), "conv_width": (1, 64),
                "channel_mixing_dim": (1, 16384), "context_length": (1, 1 << 20)}
        for name, (low, high) in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise GenerationConfigError(f"{name}: must be an integer in [{low}, {high}], got {value!r}")
        for name, (low, high) in {"dropout": (0.0, 0.9), "layer_norm_eps": (1e-12, 1.0)}.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not low <= value <= high:
                raise GenerationConfigError(f"{name}: must be a finite number in [{low}, {high}], got {value!r}")
        if self.mixer not in MIXERS:
            raise GenerationConfigError(f"mixer: must be one of {', '.join(MIXERS)}, got {self.mixer!r}")
        if self.task != TASK:
            raise GenerationConfigError(f"task: must be {TASK!r} for a generation config, got {self.task!r}")
        if not isinstance(self.ngram_orders, (list, tuple)):
            raise GenerationConfigError(f"ngram_orders: must be a list of integers, got {self.ngram_orders!r}")
        self.ngram_orders = list(self.ngram_orders)
        try:
            self.featurizer_config()
        except GenerationInputError as exc:
            raise GenerationConfigError(str(exc)) from exc

    def featurizer_config(self) -> ByteFeaturizerConfig:
        return ByteFeaturizerConfig(num_buckets=self.num_buckets, orders=tuple(self.ngram_orders),
                                    seed=self.featurizer_seed)

    @property
    def num_hashes(self) -> int:
        return len(self.ngram_orders)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> GenerationConfig:
        if not isinstance(data, dict):
            raise GenerationConfigError(f"config: expected a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise GenerationConfigError(f"{unknown[0]}: not a generation config field "
                                        f"(known: {', '.join(sorted(names))})")
        return cls(**data)

    def with_overrides(self, overrides: dict[str, Any]) -> GenerationConfig:
        return GenerationConfig.from_dict({**self.to_dict(), **overrides})
