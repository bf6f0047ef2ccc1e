"""NeuroLiteConfig: every hyper-parameter of a NeuroLite model, with presets and JSON round trip.

The config is the one source of truth a checkpoint carries (``config.json``): it rebuilds the model,
its featurizer and its exports. Validation runs in ``__post_init__`` and names the bad field, so a
hand-edited JSON file fails at load with a message a user can act on.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neurolite_sdk.errors import NeuroLiteError, json_loads
from neurolite_sdk.featurizer import FeaturizerConfig

BACKBONES = ("mixer", "hypermixer", "fnet")
POSITIONAL = ("none", "learned", "orbital")
PRESETS = ("tiny", "small", "base", "base_symbolic")


class ConfigError(NeuroLiteError):
    """An invalid configuration value; the message starts with the field name."""


# Bounds beyond the per-field ones: a model this SDK can train in memory and export as one file (ONNX
# keeps a model under 2 GiB), texts as long as the scaling benchmarks go and then some.
MAX_TENSOR_ELEMENTS = 2**29  # 512 Mi numbers, 2 GiB in fp32
MAX_LENGTH = 16_384
MAX_BAYESIAN_VARIABLES = 1_024
MODALITIES = ("text", "image", "audio", "video")  # multimodal input (issue 18, modeling/multimodal.py)
MULTIMODAL_FUSIONS = ("adaptive", "tokens", "sequence")
MULTIMODAL_FIELDS = ("use_multimodal_input", "multimodal_modalities", "multimodal_fusion", "multimodal_image_size",
                     "multimodal_image_channels", "multimodal_image_patch_size", "multimodal_audio_frames",
                     "multimodal_audio_mels", "multimodal_audio_sample_rate", "multimodal_video_num_sampled_frames",
                     "use_cross_modal_attention", "cross_modal_num_heads")
MEMORY_FIELDS = ("memory_dim", "memory_short_term_size", "memory_long_term_size", "memory_persistent_size",
                 "novelty_threshold_ltm", "novelty_threshold_pm", "memory_beta")
# Optional-feature fields that to_dict leaves out while they hold their default value.
OMITTED_AT_DEFAULT = frozenset({"use_dynamic_routing", "num_experts", "routing_top_k", "routing_balance_weight",
                                "use_continual_adapter", "continual_adapter_dim", "continual_adapter_buffer_size",
                                "continual_adapter_rate", "continual_adapter_drift_threshold",
                                *MULTIMODAL_FIELDS, "use_external_memory", *MEMORY_FIELDS})
# ... except while their feature is on: then all of its fields are written, so a checkpoint that uses the
# feature never depends on a default a later version might change.
FEATURE_FIELDS = {"use_dynamic_routing": ("num_experts", "routing_top_k", "routing_balance_weight"),
                  "use_continual_adapter": ("continual_adapter_dim", "continual_adapter_buffer_size",
                                            "continual_adapter_rate", "continual_adapter_drift_threshold"),
                  "use_external_memory": MEMORY_FIELDS,
                  "use_multimodal_input": MULTIMODAL_FIELDS[1:]}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# Field annotation -> (check, what the message says it must be).
_TYPE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (_is_int, "an integer"),
    "float": (_is_number, "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "str | None": (lambda v: v is None or isinstance(v, str), "a path string or null"),
    "list[str]": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "list[list[int]]": (lambda v: isinstance(v, (list, tuple)), "a list of [parent, child] pairs"),
}


@dataclass
class NeuroLiteConfig:
    # Featurizer (host side): K bucket indices per token in [0, F), at most max_length tokens.
    num_buckets: int = 4096
    num_hashes: int = 8
    word_hashes: int = 4
    ngram_min: int = 3
    ngram_max: int = 5
    max_length: int = 64
    featurizer_seed: int = 0
    # Bloom projection: an F x embedding_dim table gathered K times and summed, then a bottleneck to D.
    embedding_dim: int = 128
    hidden_size: int = 160
    # Backbone.
    backbone: str = "mixer"
    num_mixer_layers: int = 3
    token_mixing_dim: int = 64
    channel_mixing_dim: int = 320
    positional: str = "none"
    orbital_sigma: float = 0.2
    orbital_frequencies: int = 8
    dropout: float = 0.1
    layer_norm_eps: float = 1e-5
    # Host-side post-processors (rule engine, Bayesian network), as the seed README configured them.
    use_symbolic_module: bool = False
    symbolic_rules_file: str | None = None
    # The predicate head's vocabulary (rules file, model.predicates), filled in by training: the
    # config alone rebuilds the model. Empty: no head, the graph has the single ``logits`` output.
    symbolic_predicates: list[str] = field(default_factory=list)
    use_bayesian_module: bool = False
    num_bayesian_variables: int = 0
    bayesian_network_structure: list[list[int]] = field(default_factory=list)
    bayesian_network_file: str | None = None  # a network JSON; without it, the structure above with uniform CPTs
    # Mixture-of-experts channel mixing (modeling/routing.py): a learned gate sends each token to its
    # routing_top_k best of num_experts feed-forward experts; routing_balance_weight scales the
    # load-balancing loss in training. Off by default (and then absent from config.json).
    use_dynamic_routing: bool = False
    num_experts: int = 4
    routing_top_k: int = 2
    routing_balance_weight: float = 0.01
    # Continual-learning adapter (training/continual.py): a residual bottleneck of continual_adapter_dim
    # on the final token states, the one part (with the head) updated by continued training, mixing replay
    # from a reservoir of continual_adapter_buffer_size rows; drift is flagged by a Page-Hinkley test.
    use_continual_adapter: bool = False
    continual_adapter_dim: int = 128
    continual_adapter_buffer_size: int = 200
    continual_adapter_rate: float = 0.003
    continual_adapter_drift_threshold: float = 0.6
    # Hierarchical memory (modeling/memory.py, docs/memory.md): each text is written as one key/value slot of
    # memory_dim into a short-term ring, into long-term when its key's max cosine to the stored ones is below
    # novelty_threshold_ltm, and consolidated from long-term into persistent slots by use and novelty
    # (novelty_threshold_pm); every token reads all valid slots by modern-Hopfield retrieval (softmax of
    # memory_beta x cosine) behind a learned gate. The state is a graph input and output. Off by default.
    use_external_memory: bool = False
    memory_dim: int = 64
    memory_short_term_size: int = 16
    memory_long_term_size: int = 128
    memory_persistent_size: int = 32
    novelty_threshold_ltm: float = 0.9
    novelty_threshold_pm: float = 0.9
    memory_beta: float = 16.0
    # Multimodal input (modeling/multimodal.py, docs/multimodal.md): text, image [C, S, S], audio (log-mel
    # [1, frames, mels], computed on the host by multimodal_audio.log_mel_spectrogram) and video (sampled
    # frames, each an image), fused by adaptive weights over the modalities present into one token
    # ("adaptive") or kept as one token per modality ("tokens"). Off by default (and then absent from
    # config.json); cross-modal attention lets each modality's vector attend to the others'.
    use_multimodal_input: bool = False
    multimodal_modalities: list[str] = field(default_factory=lambda: list(MODALITIES))
    multimodal_fusion: str = "adaptive"
    multimodal_image_size: int = 8
    multimodal_image_channels: int = 1
    multimodal_image_patch_size: int = 4
    multimodal_audio_frames: int = 48
    multimodal_audio_mels: int = 32
    multimodal_audio_sample_rate: int = 16_000
    multimodal_video_num_sampled_frames: int = 3
    use_cross_modal_attention: bool = False
    cross_modal_num_heads: int = 2

    def __post_init__(self) -> None:
        self.validate()

    # ----------------------------------------------------------------------------------- presets
    @classmethod
    def tiny(cls, **overrides: Any) -> NeuroLiteConfig:
        """About 1.0M parameters: the on-device default."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides: Any) -> NeuroLiteConfig:
        """About 3M parameters."""
        base = dict(num_buckets=8192, embedding_dim=160, hidden_size=256, num_mixer_layers=4,
                    token_mixing_dim=96, channel_mixing_dim=512)
        return cls(**{**base, **overrides})

    @classmethod
    def base(cls, **overrides: Any) -> NeuroLiteConfig:
        """About 8M parameters."""
        base = dict(num_buckets=16384, embedding_dim=256, hidden_size=384, num_mixer_layers=6,
                    token_mixing_dim=128, channel_mixing_dim=768, max_length=128)
        return cls(**{**base, **overrides})

    @classmethod
    def base_symbolic(cls, **overrides: Any) -> NeuroLiteConfig:
        """``base`` with the neurosymbolic predicate head and the Bayesian post-processor turned on."""
        symbolic = dict(use_symbolic_module=True, symbolic_rules_file="rules.json",
                        use_bayesian_module=True, num_bayesian_variables=5,
                        bayesian_network_structure=[[0, 1], [0, 2], [1, 3], [2, 3], [3, 4]])
        return cls.base(**{**symbolic, **overrides})

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> NeuroLiteConfig:
        if name not in PRESETS:
            raise ConfigError(f"preset: unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
        return getattr(cls, name)(**overrides)

    # ----------------------------------------------------------------------------------- validation
    def validate(self) -> None:
        self._check_types()

        def positive(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {value!r}")

        for name in ("num_buckets", "num_hashes", "ngram_min", "ngram_max", "max_length", "embedding_dim",
                     "hidden_size", "num_mixer_layers", "token_mixing_dim", "channel_mixing_dim",
                     "orbital_frequencies"):
            positive(name)
        if not isinstance(self.word_hashes, int) or not 0 <= self.word_hashes <= self.num_hashes:
            raise ConfigError(f"word_hashes: must be in [0, num_hashes={self.num_hashes}], got {self.word_hashes!r}")
        if self.ngram_max < self.ngram_min:
            raise ConfigError(f"ngram_max: must be >= ngram_min={self.ngram_min}, got {self.ngram_max}")
        if self.backbone not in BACKBONES:
            raise ConfigError(f"backbone: must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        if self.positional not in POSITIONAL:
            raise ConfigError(f"positional: must be one of {', '.join(POSITIONAL)}, got {self.positional!r}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout: must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.orbital_sigma, (int, float)) or not 0.0 <= self.orbital_sigma < 1.0:
            # sigma >= 1/2 can fold the orbit back on itself (theta stops being monotonic in i);
            # below 1 keeps the encoding a smooth, bounded perturbation of the uniform circle.
            raise ConfigError(f"orbital_sigma: must be in [0, 1), got {self.orbital_sigma!r}")
        if not isinstance(self.layer_norm_eps, (int, float)) or self.layer_norm_eps <= 0:
            raise ConfigError(f"layer_norm_eps: must be > 0, got {self.layer_norm_eps!r}")
        predicates = self.symbolic_predicates
        if (not isinstance(predicates, list) or not all(isinstance(p, str) and p.isidentifier() for p in predicates)
                or len(set(predicates)) != len(predicates)):
            raise ConfigError(f"symbolic_predicates: must be a list of distinct identifiers, got {predicates!r}")
        if predicates and not self.use_symbolic_module:
            raise ConfigError("symbolic_predicates: set, but use_symbolic_module is false")
        for name in ("symbolic_rules_file", "bayesian_network_file"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name}: must be a path string or null, got {getattr(self, name)!r}")
        if self.use_bayesian_module:
            n = self.num_bayesian_variables
            if n < 1 or n > MAX_BAYESIAN_VARIABLES:
                raise ConfigError(f"num_bayesian_variables: must be in [1, {MAX_BAYESIAN_VARIABLES}] when "
                                  f"use_bayesian_module, got {n!r}")
        n = self.num_bayesian_variables if self.use_bayesian_module else None
        for i, edge in enumerate(self.bayesian_network_structure):
            if (not isinstance(edge, (list, tuple)) or len(edge) != 2
                    or not all(_is_int(v) and (n is None or 0 <= v < n) for v in edge)):
                where = f"variable indices in [0, {n})" if n is not None else "variable indices"
                raise ConfigError(f"bayesian_network_structure[{i}]: must be a [parent, child] pair of "
                                  f"{where}, got {edge!r}")
        self._validate_extensions()
        self._validate_multimodal()
        if self.max_length > MAX_LENGTH:
            raise ConfigError(f"max_length: must be <= {MAX_LENGTH:,}, got {self.max_length:,}")
        # The featurizer validates its own fields; re-raise under the config's field names.
        try:
            self.featurizer_config()
        except ValueError as exc:
            message = str(exc)
            raise ConfigError(f"featurizer_{message}" if message.startswith("seed:") else message) from exc
        elements = self.tensor_elements()
        if elements > MAX_TENSOR_ELEMENTS:
            largest = max(self._tensor_terms().items(), key=lambda kv: kv[1])
            raise ConfigError(f"config: the model would hold about {elements:,} weights and tables "
                              f"({elements * 4 / 2**30:.1f} GiB in fp32), over the {MAX_TENSOR_ELEMENTS:,} "
                              f"({MAX_TENSOR_ELEMENTS * 4 / 2**30:.0f} GiB) this SDK trains and exports; the "
                              f"largest part is {largest[0]} ({largest[1]:,})")

    def _validate_extensions(self) -> None:
        """Routing, continual-adapter and memory fields (issue 17)."""
        for name in ("num_experts", "routing_top_k", "continual_adapter_dim", "continual_adapter_buffer_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {getattr(self, name)!r}")
        if self.routing_top_k > self.num_experts:
            raise ConfigError(f"routing_top_k: must be <= num_experts={self.num_experts}, got {self.routing_top_k}")
        if self.routing_balance_weight < 0:
            raise ConfigError(f"routing_balance_weight: must be >= 0, got {self.routing_balance_weight!r}")
        for name in ("continual_adapter_rate", "continual_adapter_drift_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}: must be in [0, 1], got {getattr(self, name)!r}")
        if self.continual_adapter_rate == 0.0:
            raise ConfigError("continual_adapter_rate: must be in (0, 1], got 0.0")
        for name in ("memory_dim", "memory_short_term_size", "memory_long_term_size", "memory_persistent_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {getattr(self, name)!r}")
        for name in ("novelty_threshold_ltm", "novelty_threshold_pm"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}: must be in [0, 1], got {getattr(self, name)!r}")
        if self.memory_beta <= 0:
            raise ConfigError(f"memory_beta: must be > 0, got {self.memory_beta!r}")
        if self.use_external_memory and self.use_multimodal_input:
            raise ConfigError("use_external_memory: memory reads text tokens; not available with use_multimodal_input")

    def _validate_multimodal(self) -> None:
        """Multimodal fields (issue 18): shapes the encoders can take, heads that divide the width."""
        for name in ("multimodal_image_size", "multimodal_image_channels", "multimodal_image_patch_size",
                     "multimodal_audio_frames", "multimodal_audio_mels", "multimodal_audio_sample_rate",
                     "multimodal_video_num_sampled_frames", "cross_modal_num_heads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {getattr(self, name)!r}")
        chosen = self.multimodal_modalities
        if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= set(MODALITIES):
            raise ConfigError(f"multimodal_modalities: must be distinct names from {', '.join(MODALITIES)}, "
                              f"got {chosen!r}")
        if self.multimodal_fusion not in MULTIMODAL_FUSIONS:
            raise ConfigError(f"multimodal_fusion: must be one of {', '.join(MULTIMODAL_FUSIONS)}, "
                              f"got {self.multimodal_fusion!r}")
        if self.multimodal_image_size % self.multimodal_image_patch_size:
            raise ConfigError(f"multimodal_image_patch_size: must divide multimodal_image_size="
                              f"{self.multimodal_image_size}, got {self.multimodal_image_patch_size}")
        if self.multimodal_audio_frames < 4 or self.multimodal_audio_mels < 4:
            raise ConfigError(f"multimodal_audio_frames, multimodal_audio_mels: must be >= 4 (two stride-2 "
                              f"convolutions), got {self.multimodal_audio_frames}, {self.multimodal_audio_mels}")
        if self.use_multimodal_input and self.hidden_size % 4:
            raise ConfigError(f"hidden_size: must be a multiple of 4 with use_multimodal_input (the encoders' "
                              f"stems are hidden_size / 4 and / 2 wide), got {self.hidden_size}")
        if self.use_cross_modal_attention and self.hidden_size % self.cross_modal_num_heads:
            raise ConfigError(f"cross_modal_num_heads: must divide hidden_size={self.hidden_size}, "
                              f"got {self.cross_modal_num_heads}")
        if self.use_multimodal_input and self.symbolic_predicates:
            raise ConfigError("symbolic_predicates: the predicate head reads text tokens; a multimodal model "
                              "(use_multimodal_input) has none")
        if self.use_cross_modal_attention and not self.use_multimodal_input:
            raise ConfigError("use_cross_modal_attention: set, but use_multimodal_input is false")
        if self.use_multimodal_input and self.multimodal_fusion == "tokens" and self.max_length < len(chosen):
            raise ConfigError(f"max_length: the tokens fusion needs one position per modality ({len(chosen)}), "
                              f"got {self.max_length}")
        if self.use_multimodal_input and self.multimodal_fusion == "sequence":
            counts = self.multimodal_token_counts()
            if self.max_length < sum(counts.values()):
                raise ConfigError(f"max_length: the sequence fusion needs one position per modality token ("
                                  f"{' + '.join(f'{n} {m}' for m, n in counts.items())} = {sum(counts.values())}), "
                                  f"got {self.max_length}")

    def multimodal_token_counts(self) -> dict[str, int]:
        """Tokens each enabled modality gives the backbone under the ``sequence`` fusion: text 1 (its pooled
        vector), image one per patch, audio one per time step after the two stride-2 convolutions, video one
        per sampled frame."""
        def halved(size: int) -> int:
            return (size + 1) // 2

        per = {"text": 1, "image": (self.multimodal_image_size // self.multimodal_image_patch_size) ** 2,
               "audio": halved(halved(self.multimodal_audio_frames)), "video": self.multimodal_video_num_sampled_frames}
        return {m: per[m] for m in self.multimodal_modalities}

    def _check_types(self) -> None:
        """Every field against its annotation, first: a wrong type (a bool or a string for a number, NaN or
        Infinity for a float, a number for a list) is named here rather than failing deep inside."""
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            check, wanted = _TYPE_CHECKS[str(spec.type)]
            if not check(value):
                raise ConfigError(f"{spec.name}: must be {wanted}, got {value!r}")

    def _tensor_terms(self) -> dict[str, int]:
        """Elements of the model's largest parameters and buffers, by the config fields that size them."""
        f, e, d, length = self.num_buckets, self.embedding_dim, self.hidden_size, self.max_length
        t, c, n, m = self.token_mixing_dim, self.channel_mixing_dim, self.num_mixer_layers, self.orbital_frequencies
        mixing = {"mixer": 2 * length * t + t + length, "hypermixer": 2 * (d * t + t * t + 2 * t),
                  "fnet": 2 * length * length + 2 * d * d}.get(self.backbone, 0)
        positional = {"learned": length * d, "orbital": 2 * m * (length + d)}.get(self.positional, 0)
        return {"num_buckets x embedding_dim": f * e, "embedding_dim x hidden_size": e * d + d,
                "positional (max_length, hidden_size)": positional,
                "token mixing (num_mixer_layers, max_length, token_mixing_dim)": n * mixing,
                "channel mixing (num_mixer_layers, hidden_size, channel_mixing_dim)": n * (2 * d * c + c + 5 * d),
                "head (hidden_size)": 2 * d * d + 6 * d + len(self.symbolic_predicates) * (d + 1) + d * d,
                "experts (num_mixer_layers, num_experts, hidden_size, channel_mixing_dim)":
                    n * self.num_experts * (2 * d * c + c + 2 * d) if self.use_dynamic_routing else 0,
                "continual adapter (hidden_size, continual_adapter_dim)":
                    2 * d * self.continual_adapter_dim + 3 * d if self.use_continual_adapter else 0,
                "memory projections (hidden_size, memory_dim)":
                    6 * d * self.memory_dim + 4 * self.memory_dim + 2 * d + 1 if self.use_external_memory else 0}

    def tensor_elements(self) -> int:
        """About how many numbers the model's parameters and fixed tables hold (before any label count)."""
        return sum(self._tensor_terms().values())

    # ----------------------------------------------------------------------------------- featurizer
    def featurizer_config(self) -> FeaturizerConfig:
        return FeaturizerConfig(num_buckets=self.num_buckets, num_hashes=self.num_hashes,
                                word_hashes=self.word_hashes, ngram_min=self.ngram_min,
                                ngram_max=self.ngram_max, max_length=self.max_length,
                                seed=self.featurizer_seed)

    # ----------------------------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["bayesian_network_structure"] = [list(e) for e in self.bayesian_network_structure]
        # Fields of optional features are written only when they differ from their defaults, so a model
        # without them keeps the config.json (and bundle) bytes it had before the fields existed.
        defaults = {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
                    for f in dataclasses.fields(self)}
        written = {name for switch, names in FEATURE_FIELDS.items() if data[switch] for name in names}
        return {k: v for k, v in data.items() if k not in OMITTED_AT_DEFAULT or k in written or v != defaults[k]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeuroLiteConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"config: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown config field (known fields: {', '.join(sorted(known))})")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NeuroLiteConfig:
        return cls.from_dict(json_loads(text, ConfigError, "config"))
