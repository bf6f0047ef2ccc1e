"""NeuroLiteModel and NeuroLiteForClassification.

The tensor forward takes what the exported graph takes, ``features: int32 [B, L, K]`` and
``mask: float32 [B, L]``, and holds no Python-side state, no string op and no data-dependent control
flow, so ``torch.export`` captures it whole. ``input_texts=[...]`` is a host-side convenience: it runs
the featurizer (the native C core when built, else numpy) and calls the same tensor forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.featurizer_native import Featurizer, create_featurizer
from neurolite_sdk.modeling.adapter import TokenAdapter
from neurolite_sdk.modeling.layers import ChannelNorm, masked_mean_max
from neurolite_sdk.modeling.memory import HierarchicalMemory
from neurolite_sdk.modeling.mixers import MixerBlock
from neurolite_sdk.modeling.multimodal import MultimodalProjection, modality_outputs, resolve_multimodal
from neurolite_sdk.modeling.projection import BloomProjection, build_positional
from neurolite_sdk.modeling.symbolic import PredicateHead, predicate_loss


class NeuroLiteModel(nn.Module):
    """Bloom projection -> positional encoding -> N mixer blocks -> final norm.

    ``forward`` returns the hidden states [B, L, D] (padding rows zeroed), as the seed API did; with
    ``return_dict=True`` it returns ``{"hidden_states", "pooled", "mask"}`` where ``pooled`` [B, 2D] is
    the masked mean and max over real tokens.
    """

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        self.config = config
        self.featurizer = create_featurizer(config.featurizer_config())  # native C core when built: same buckets
        self.projection = BloomProjection(config)
        self.positional = build_positional(config)
        self.blocks = nn.ModuleList(MixerBlock(config) for _ in range(config.num_mixer_layers))
        self.final_norm = ChannelNorm(config.hidden_size, config.layer_norm_eps)
        # Image / audio / video encoders and fusion (modeling/multimodal.py); None for text models.
        self.multimodal = MultimodalProjection(config) if config.use_multimodal_input else None

    def featurize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Host stage: texts -> (features int32 [B, L, K], mask float32 [B, L]) on the model's device."""
        batch = self.featurizer(texts)
        device = self.projection.table.device
        return torch.from_numpy(batch.features).to(device), torch.from_numpy(batch.mask).to(device)

    def encode(self, features: torch.Tensor, mask: torch.Tensor,
               modalities: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.projection(features)
        if self.multimodal is not None:  # the fused modalities replace the token sequence
            x, mask = self.multimodal.tokens(x, mask, modalities)
        x = self.positional(x)
        for block in self.blocks:
            x = block(x, mask)
        hidden = self.final_norm(x) * mask.unsqueeze(-1)
        return hidden, masked_mean_max(hidden, mask)

    def forward(self, features: torch.Tensor | None = None, mask: torch.Tensor | None = None, *,
                input_texts: Sequence[str] | None = None, return_dict: bool = False,
                modalities: dict[str, torch.Tensor] | None = None,
                multimodal_inputs: dict[str, Any] | None = None) -> Any:
        if multimodal_inputs is not None:
            features, mask, modalities = resolve_multimodal(self, multimodal_inputs)
        features, mask = _resolve_inputs(self, features, mask, input_texts)
        hidden, pooled = self.encode(features, mask, modalities)
        if return_dict:
            return {"hidden_states": hidden, "pooled": pooled, "mask": mask,
                    **modality_outputs(self, features, mask, modalities)}
        return hidden


class NeuroLiteForClassification(nn.Module):
    """NeuroLiteModel + a two-layer head on the pooled vector; returns ``{"logits"[, "loss"]}``.

    With ``config.use_external_memory`` it reads and writes a memory state (``memory``: the dict of
    ``modeling.memory.STATE`` tensors, default empty; ``update_memory``: write this call's texts, a bool or
    a float [B] of 0/1 per row) and returns ``memory`` (the next state) and ``memory_attention`` [B, S].

    With ``config.symbolic_predicates`` it also holds the predicate head (``modeling/symbolic.py``) and
    returns ``predicates`` (sigmoid scores [B, P]) and ``predicate_logits``; ``predicate_labels``
    (float [B, P] in {0, 1}) add their binary cross-entropy to ``loss``.
    """

    def __init__(self, config: NeuroLiteConfig, num_labels: int = 2) -> None:
        super().__init__()
        if not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"num_labels: must be an integer >= 2, got {num_labels!r}")
        self.config = config
        self.num_labels = num_labels
        self.neurolite = NeuroLiteModel(config)
        width = 2 * config.hidden_size
        self.head = nn.Sequential(ChannelNorm(width, config.layer_norm_eps), nn.Dropout(config.dropout),
                                  nn.Linear(width, config.hidden_size), nn.GELU(), nn.Dropout(config.dropout),
                                  nn.Linear(config.hidden_size, num_labels))
        # Continual-learning adapter on the final token states (modeling/adapter.py); None when off.
        self.adapter = (TokenAdapter(config.hidden_size, config.continual_adapter_dim, config.layer_norm_eps)
                        if config.use_continual_adapter else None)
        # Hierarchical memory read by every token (modeling/memory.py); None when off.
        self.memory = HierarchicalMemory(config) if config.use_external_memory else None
        self.symbolic = (PredicateHead(config.hidden_size, list(config.symbolic_predicates),
                                       config.layer_norm_eps, config.dropout)
                         if config.symbolic_predicates else None)

    @property
    def featurizer(self) -> Featurizer:
        return self.neurolite.featurizer

    def forward(self, features: torch.Tensor | None = None, mask: torch.Tensor | None = None, *,
                input_texts: Sequence[str] | None = None, labels: torch.Tensor | None = None,
                predicate_labels: torch.Tensor | None = None, modalities: dict[str, torch.Tensor] | None = None,
                multimodal_inputs: dict[str, Any] | None = None, memory: dict[str, torch.Tensor] | None = None,
                update_memory: bool | torch.Tensor = False) -> dict[str, Any]:
        if multimodal_inputs is not None:
            features, mask, modalities = resolve_multimodal(self.neurolite, multimodal_inputs)
        features, mask = _resolve_inputs(self.neurolite, features, mask, input_texts)
        hidden, pooled = self.neurolite.encode(features, mask, modalities)
        remembered: dict[str, Any] = {}
        if self.memory is not None:
            if memory is None:
                state = self.memory.empty_state(mask.shape[0], mask.device)
            else:
                state = self.memory.check_state(memory, mask.shape[0])
            write = (update_memory if isinstance(update_memory, torch.Tensor)
                     else torch.full((mask.shape[0],), float(bool(update_memory)), device=mask.device))
            hidden, attention, tokens = self.memory.read(hidden, mask, state)
            remembered = {"memory": self.memory.write(pooled, state, attention, tokens, write),
                          "memory_attention": attention}
            pooled = masked_mean_max(hidden, mask)
        elif memory is not None or update_memory is not False:
            raise ValueError("memory, update_memory: this model has no memory (config.use_external_memory is false)")
        if self.adapter is not None:
            hidden, pooled = self.adapter(hidden, mask)
        logits = self.head(pooled)
        output: dict[str, Any] = {"logits": logits, **remembered}
        if self.symbolic is not None:
            output["predicate_logits"] = self.symbolic(hidden, mask)
            output["predicates"] = torch.sigmoid(output["predicate_logits"])
        if labels is not None:
            output["loss"] = F.cross_entropy(logits, labels)
        if predicate_labels is not None:
            if self.symbolic is None:
                raise ValueError("predicate_labels: this model has no predicate head (config.symbolic_predicates "
                                 "is empty)")
            term = predicate_loss(output["predicate_logits"], predicate_labels)
            output["loss"] = output["loss"] + term if "loss" in output else term
        return output


def _resolve_inputs(model: NeuroLiteModel, features: torch.Tensor | None, mask: torch.Tensor | None,
                    input_texts: Sequence[str] | None) -> tuple[torch.Tensor, torch.Tensor]:
    if input_texts is not None:
        if features is not None or mask is not None:
            raise ValueError("pass either input_texts or (features, mask), not both")
        return model.featurize(input_texts)
    if features is None or mask is None:
        raise ValueError("forward needs (features, mask) tensors or input_texts=[...]")
    return features, mask


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
