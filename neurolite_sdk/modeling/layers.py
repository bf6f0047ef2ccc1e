"""Building blocks written so that every op exports to ONNX, ExecuTorch/XNNPACK, Core ML and LiteRT.

Why not ``nn.LayerNorm``: ExecuTorch 1.5.1's XNNPACK partitioner leaves ``native_layer_norm`` (and
``mean``/``sum`` over one dim) undelegated, cutting the graph into pieces. Means written as a
``linear`` against a constant (1, D) row of 1/D lower into the delegate and match ``F.layer_norm``
to ~1e-7 (docs/design.md, measured choices).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


class ChannelNorm(nn.Module):
    """LayerNorm over the last dimension, with mean and variance computed as ``linear`` products (XNNPACK
    delegates those, and not a ``mean`` over one dim: the ExecuTorch graph stays in one delegate).

    ``by_mean`` (set for an export by ``norms_by_mean``) computes them with ``mean`` instead: the same values to
    float rounding, and 0.911x the time of the whole ``tiny`` graph at 256 tokens on LiteRT, whose converter
    turns each ``linear`` by the averaging row into a FULLY_CONNECTED op.
    """

    by_mean = False

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.register_buffer("average", torch.full((1, dim), 1.0 / dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.by_mean:
            centered = x - x.mean(dim=-1, keepdim=True)
            variance = (centered * centered).mean(dim=-1, keepdim=True)
        else:
            centered = x - F.linear(x, self.average)
            variance = F.linear(centered * centered, self.average)
        return centered * torch.rsqrt(variance + self.eps) * self.weight + self.bias


@contextlib.contextmanager
def norms_by_mean(model: nn.Module) -> Iterator[None]:
    """Within the block, every ``ChannelNorm`` of ``model`` computes its statistics with ``mean``."""
    norms = [module for module in model.modules() if isinstance(module, ChannelNorm)]
    for norm in norms:
        norm.by_mean = True
    try:
        yield
    finally:
        for norm in norms:
            del norm.by_mean  # back to the class's default


class FeedForward(nn.Module):
    """Linear -> GELU -> Linear, the channel-mixing MLP of every backbone.

    Dropout is applied by the caller on the (narrower) residual branch only: CPU ``bernoulli`` was
    the single most expensive op of a training step when it also ran on the 2x wider hidden layer.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def masked_mean_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pool [B, L, D] over real tokens into [B, 2D] (mean then max); an all-padding row pools to zeros.

    Written for XNNPACK: the mean is a ``bmm`` with the mask (``sum``/``mean`` over one dim are not
    delegated), the max reduces a 4-D tensor with ``keepdim`` and every squeeze is a ``reshape``, which
    keeps the whole pooling inside the delegate.
    """
    batch, length, dim = x.shape
    weights = mask.reshape(batch, 1, length)
    total = torch.bmm(weights, x).reshape(batch, dim)
    count = torch.bmm(weights, mask.reshape(batch, length, 1)).reshape(batch, 1)
    mean = total / torch.clamp(count, min=1.0)
    # Padding gets a large negative offset so it never wins the max; rows with no token are zeroed.
    offset = (mask.reshape(batch, length, 1) - 1.0) * 1e4
    maximum = torch.max((x + offset).reshape(batch, 1, length, dim), dim=2, keepdim=True).values.reshape(batch, dim)
    return torch.cat([mean, maximum * torch.clamp(count, max=1.0)], dim=-1)
