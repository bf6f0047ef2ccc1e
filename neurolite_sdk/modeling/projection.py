"""Bloom projection and positional encodings: from int32 bucket indices to token vectors.

There is no embedding table over a vocabulary. Each token arrives as K bucket indices in [0, F) (the
featurizer's MinHash + counting-Bloom-filter fingerprint); the projection gathers K rows of a small
F x E table and sums them, which equals (counting Bloom vector) @ table without materialising the
B x L x F bit tensor, then a bottleneck maps E -> D.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.modeling.layers import ChannelNorm


class BloomProjection(nn.Module):
    """features int32 [B, L, K] -> token vectors [B, L, D]."""

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(config.num_buckets, config.embedding_dim) * 0.02)
        self.bottleneck = nn.Linear(config.embedding_dim, config.hidden_size)
        self.norm = ChannelNorm(config.hidden_size, config.layer_norm_eps)
        # 1/sqrt(K) keeps the summed vector's scale independent of the number of hashes.
        self.scale = 1.0 / math.sqrt(config.num_hashes)

    def rows(self, features: torch.Tensor) -> torch.Tensor:
        """The table rows of every bucket id: [B, L, K] -> [B, L, K, E]. A quantized export replaces this
        with a gather of the rows' codes followed by their decode, so the float table never exists."""
        return F.embedding(features, self.table)

    def summed(self, features: torch.Tensor) -> torch.Tensor:
        """Each token's scaled sum of its K rows: [B, L, K] -> [B, L, E]. ExecuTorch's int8 export replaces it
        with the same sum over an int8 table (exporters/executorch.py)."""
        return self.rows(features).sum(dim=2) * self.scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # embedding + sum over K stay on portable kernels in ExecuTorch; everything after is delegated.
        return self.norm(F.gelu(self.bottleneck(self.summed(features))))


def orbital_angles(positions: torch.Tensor, periods: torch.Tensor, sigma: float) -> torch.Tensor:
    """OrbitCompressor's angle for index i on an orbit of Z points: 2*pi*i/Z + sigma*sin(4*pi*i/Z).

    ``positions`` [L] and ``periods`` [M] broadcast to angles [L, M].
    """
    ratio = positions[:, None] / periods[None, :]
    return 2 * math.pi * ratio + sigma * torch.sin(4 * math.pi * ratio)


class OrbitalPositionalEncoding(nn.Module):
    """Positions as points on several orbits (cos and sin of the orbital angle), projected to D.

    The orbits have periods Z_m = 2 * max_length / 2^m (m = 0..M-1, floored at 2): the longest orbit
    never wraps within max_length, so every position maps to a distinct point; the shorter ones give
    the fine resolution between neighbours. cos and sin are bounded in [-1, 1].
    """

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        periods = torch.tensor([max(2.0, 2.0 * config.max_length / 2**m) for m in range(config.orbital_frequencies)])
        angles = orbital_angles(torch.arange(config.max_length, dtype=torch.float32), periods, config.orbital_sigma)
        self.register_buffer("codes", torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1), persistent=False)
        self.proj = nn.Linear(2 * config.orbital_frequencies, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj(self.codes[: x.shape[1]])


class LearnedPositionalEncoding(nn.Module):
    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(config.max_length, config.hidden_size))
        nn.init.normal_(self.table, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.shape[1]]


def build_positional(config: NeuroLiteConfig) -> nn.Module:
    if config.positional == "orbital":
        return OrbitalPositionalEncoding(config)
    if config.positional == "learned":
        return LearnedPositionalEncoding(config)
    return nn.Identity()
