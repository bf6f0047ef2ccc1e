"""The causal NeuroLite language model: Bloom projection -> causal blocks -> a 256-way byte head.

Input: ``features int32 [B, L, K]`` from the byte n-gram featurizer (``neurolite_sdk.generation.featurizer``);
output: logits over the next byte. No embedding table and no vocabulary: the input is the shared
``BloomProjection`` (K gathered rows of an F x E table, summed) and the output is one ``Linear(D, 256)``.

Each block mixes tokens causally in a form that has a constant-size state (docs/generation.md):

* a causal depthwise convolution of width W over a gated projection (state: the last W - 1 inputs), then
* (``mixer="recurrent"``) a per-channel linear recurrence ``s_t = a * s_{t-1} + (1 - a) * c_t`` with a
  learned decay ``a`` in (0, 1) per channel (state: ``s``, one vector). Training computes it for the whole
  sequence at once by a log2(L)-pass parallel scan; ``step`` runs the recurrence.

So generating a token costs the same at position 10 as at position 10,000, and the exported step graph
is ``features [1, K], conv_state, rec_state -> logits [1, 256], conv_state', rec_state'``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from neurolite_sdk.generation.config import GenerationConfig
from neurolite_sdk.generation.featurizer import VOCAB_SIZE
from neurolite_sdk.modeling.layers import ChannelNorm, FeedForward
from neurolite_sdk.modeling.projection import BloomProjection


class CausalBlock(nn.Module):
    def __init__(self, config: GenerationConfig, index: int) -> None:
        super().__init__()
        dim, width = config.hidden_size, config.conv_width
        self.width = width
        self.recurrent = config.mixer == "recurrent"
        self.norm1 = ChannelNorm(dim, config.layer_norm_eps)
        self.in_proj = nn.Linear(dim, 2 * dim)
        conv = torch.randn(width, dim) * (0.5 / math.sqrt(width))
        conv[-1] += 1.0  # start close to the identity on the current position
        self.conv_weight = nn.Parameter(conv)
        # Time constants 1 / (1 - a) spread log-uniformly over 2..256 positions across the channels.
        tau = torch.exp(torch.linspace(math.log(2.0), math.log(256.0), dim))
        self.decay_logit = nn.Parameter(torch.log(tau - 1.0))
        self.out_proj = nn.Linear(dim, dim)
        self.norm2 = ChannelNorm(dim, config.layer_norm_eps)
        self.ffn = FeedForward(dim, config.channel_mixing_dim)
        self.dropout = nn.Dropout(config.dropout)

    def _mix_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v, g = self.in_proj(self.norm1(x)).chunk(2, dim=-1)
        return v, torch.sigmoid(g)

    def forward(self, x: torch.Tensor, conv_state: torch.Tensor,
                rec_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, L, D], conv_state [B, W-1, D], rec_state [B, D] -> (x', conv_state', rec_state')."""
        length = x.shape[1]
        v, gate = self._mix_inputs(x)
        window = torch.cat([conv_state, v], dim=1)  # [B, W-1+L, D]
        c = sum(window[:, j:j + length] * self.conv_weight[j] for j in range(self.width))
        new_conv = window[:, length:]
        if self.recurrent:
            a = torch.sigmoid(self.decay_logit)  # [D]
            # Inclusive scan of s_t = a * s_{t-1} + (1 - a) * c_t in log2(L) shifted multiply-adds
            # (Hillis-Steele): after the pass with shift k, s_t sums a^j (1 - a) c_{t-j} for j < 2k.
            s = (1.0 - a) * c
            shift = 1
            while shift < length:
                s = s + F.pad(s[:, :-shift] * a ** shift, (0, 0, shift, 0))
                shift *= 2
            positions = torch.arange(1, length + 1, device=x.device, dtype=x.dtype)
            carry = torch.exp(torch.log(a)[None, :] * positions[:, None])  # a^(t+1): [L, D]
            s = s + carry[None] * rec_state[:, None, :]
            new_rec = s[:, -1]
            mixed = s + c
        else:
            mixed, new_rec = c, rec_state
        x = x + self.dropout(self.out_proj(gate * mixed))
        x = x + self.dropout(self.ffn(self.norm2(x)))
        return x, new_conv, new_rec

    def step(self, x: torch.Tensor, conv_state: torch.Tensor,
             rec_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One position: x [B, D] -> the same as ``forward`` on a length-1 sequence, by the recurrence."""
        v, gate = self._mix_inputs(x)
        window = torch.cat([conv_state, v.unsqueeze(1)], dim=1)  # [B, W, D]
        c = (window * self.conv_weight).sum(dim=1)
        new_conv = window[:, 1:]
        if self.recurrent:
            a = torch.sigmoid(self.decay_logit)
            s = a * rec_state + (1.0 - a) * c
            new_rec, mixed = s, s + c
        else:
            mixed, new_rec = c, rec_state
        x = x + self.out_proj(gate * mixed)
        x = x + self.ffn(self.norm2(x))
        return x, new_conv, new_rec


class CausalNeuroLiteLM(nn.Module):
    """features [B, L, K] (+ states) -> next-byte logits [B, L, 256] (+ states after the last position).

    States: ``conv_state`` float32 [B, N, W-1, D] and ``rec_state`` float32 [B, N, D] for N blocks;
    zeros (``initial_state``) before the first byte.
    """

    def __init__(self, config: GenerationConfig) -> None:
        super().__init__()
        self.config = config
        self.projection = BloomProjection(config)  # duck-typed: num_buckets, embedding_dim, hidden_size, ...
        self.blocks = nn.ModuleList(CausalBlock(config, i) for i in range(config.num_layers))
        self.final_norm = ChannelNorm(config.hidden_size, config.layer_norm_eps)
        self.head = nn.Linear(config.hidden_size, VOCAB_SIZE)

    def state_shapes(self, batch: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
        c = self.config
        return (batch, c.num_layers, c.conv_width - 1, c.hidden_size), (batch, c.num_layers, c.hidden_size)

    def initial_state(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        conv, rec = self.state_shapes(batch)
        device = self.head.weight.device
        return torch.zeros(conv, device=device), torch.zeros(rec, device=device)

    def forward(self, features: torch.Tensor, conv_state: torch.Tensor | None = None,
                rec_state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if conv_state is None or rec_state is None:
            conv_state, rec_state = self.initial_state(features.shape[0])
        x = self.projection(features)
        convs, recs = [], []
        for i, block in enumerate(self.blocks):
            x, conv, rec = block(x, conv_state[:, i], rec_state[:, i])
            convs.append(conv)
            recs.append(rec)
        logits = self.head(self.final_norm(x))
        return logits, torch.stack(convs, dim=1), torch.stack(recs, dim=1)

    def step(self, features: torch.Tensor, conv_state: torch.Tensor,
             rec_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """features int32 [B, K] of one position -> logits [B, 256] and the states after it."""
        x = self.projection(features.unsqueeze(1)).squeeze(1)
        convs, recs = [], []
        for i, block in enumerate(self.blocks):
            x, conv, rec = block.step(x, conv_state[:, i], rec_state[:, i])
            convs.append(conv)
            recs.append(rec)
        return self.head(self.final_norm(x)), torch.stack(convs, dim=1), torch.stack(recs, dim=1)


class StepGraph(nn.Module):
    """What the step exports ship: ``features int32 [1, K], conv_state, rec_state -> logits [1, 256],
    conv_state', rec_state'`` (batch 1, every shape static)."""

    def __init__(self, model: CausalNeuroLiteLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, conv_state: torch.Tensor,
                rec_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model.step(features, conv_state, rec_state)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
