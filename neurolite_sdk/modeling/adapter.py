"""The continual-learning adapter's parameters (``config.use_continual_adapter``).

A residual bottleneck on every token's final hidden state, ``h + up(gelu(down(norm(h))))``, then the
same masked mean + max pooling, with ``up`` initialised to zero so a new adapter leaves the model's
function unchanged. Per token rather than on the pooled vector: pooling the adapted tokens gives the
head features the frozen encoder's pooled vector does not hold (measured on SNIPS: a pooled-vector
adapter reached 75.9% on three new intents, benchmarks/RESULTS.md). Continued training
(``training/continual.py``) updates only this module and the head, so the encoder that the old classes
rely on stays as it was. Plain ``linear`` ops: it exports with the rest of the graph in every format.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurolite_sdk.modeling.layers import ChannelNorm, masked_mean_max


class TokenAdapter(nn.Module):
    def __init__(self, width: int, bottleneck: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = ChannelNorm(width, eps)
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden [B, L, D], mask [B, L]) -> (adapted hidden, padding rows zeroed; pooled [B, 2D])."""
        hidden = (hidden + self.up(F.gelu(self.down(self.norm(hidden))))) * mask.unsqueeze(-1)
        return hidden, masked_mean_max(hidden, mask)
