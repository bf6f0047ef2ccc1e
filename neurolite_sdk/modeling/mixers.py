"""The three all-MLP backbones: MLP-Mixer, HyperMixer and FNet, linear in sequence length.

Every token-mixing variant follows one contract: ``forward(x [B, l, D], mask [B, l]) -> [B, l, D]``
for any l <= max_length, and outputs at real positions never depend on padding. Each variant gets
that the same way: padded positions are zeroed before mixing, and the position-indexed weights are
sliced to the batch's length, which is exactly the same computation as padding to max_length with
zeros and dropping the padded outputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.modeling.layers import ChannelNorm, FeedForward
from neurolite_sdk.modeling.routing import MoEFeedForward


class MixerTokenMixing(nn.Module):
    """MLP-Mixer token mixing: an MLP across positions, weights indexed by position (max_length rows).

    Both weights are stored position-major ([max_length, H]) and sliced by rows: a row slice of a
    contiguous tensor stays contiguous, which keeps ``torch.export`` free of a guard that a column
    slice adds at length == max_length.
    """

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        length, hidden = config.max_length, config.token_mixing_dim
        self.w1 = nn.Parameter(torch.randn(length, hidden) / math.sqrt(length))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = nn.Parameter(torch.randn(length, hidden) / math.sqrt(hidden))
        self.b2 = nn.Parameter(torch.zeros(length, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        x = x * mask.unsqueeze(-1)
        hidden = F.gelu(torch.matmul(x.transpose(1, 2), self.w1[:length]) + self.b1)  # [B, D, H]
        return torch.matmul(self.w2[:length], hidden.transpose(1, 2)) + self.b2[:length]


class HyperTokenMixing(nn.Module):
    """HyperMixer token mixing: the position-mixing weights are generated from the tokens themselves.

    Two small hypernetworks map each token to a row of W1 and W2 ([l, H] each), so the layer works for
    any length and costs O(l * H * D): out = W2 @ gelu(W1^T @ x).
    """

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        dim, hidden = config.hidden_size, config.token_mixing_dim
        self.hyper1 = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.hyper2 = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.scale = 1.0 / math.sqrt(config.max_length)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.unsqueeze(-1)
        w1 = self.hyper1(x) * keep  # [B, l, H]; padded tokens contribute nothing
        w2 = self.hyper2(x)
        hidden = F.gelu(torch.matmul(w1.transpose(1, 2), x * keep) * self.scale)  # [B, H, D]
        return torch.matmul(w2, hidden)


class FourierTokenMixing(nn.Module):
    """FNet mixing: Re(DFT_seq · X · DFT_hidden), as real matrix products (no FFT op in any format).

    With DFT = C - iS, the real part is C_seq X C_hid - S_seq X S_hid. The sequence transform has the
    fixed size max_length (a zero-padded DFT), so the result never depends on the batch's padding.
    The input is padded to max_length and the DFT rows sliced (a row slice exports without guards).
    """

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        seq_cos, seq_sin = _dft(config.max_length)
        hid_cos, hid_sin = _dft(config.hidden_size)
        scale = 1.0 / math.sqrt(config.max_length)
        self.register_buffer("seq_cos", seq_cos * scale, persistent=False)
        self.register_buffer("seq_sin", seq_sin * scale, persistent=False)
        self.register_buffer("hid_cos", hid_cos / math.sqrt(config.hidden_size), persistent=False)
        self.register_buffer("hid_sin", hid_sin / math.sqrt(config.hidden_size), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        x = F.pad(x * mask.unsqueeze(-1), (0, 0, 0, self.seq_cos.shape[1] - length))
        real = torch.matmul(torch.matmul(self.seq_cos[:length], x), self.hid_cos)
        imag = torch.matmul(torch.matmul(self.seq_sin[:length], x), self.hid_sin)
        return real - imag


def _dft(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.arange(n, dtype=torch.float64)
    angle = 2 * math.pi * torch.outer(index, index) / n
    return torch.cos(angle).float(), torch.sin(angle).float()


_TOKEN_MIXERS = {"mixer": MixerTokenMixing, "hypermixer": HyperTokenMixing, "fnet": FourierTokenMixing}


class MixerBlock(nn.Module):
    """Pre-norm residual block: token mixing, then channel mixing."""

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        self.token_norm = ChannelNorm(config.hidden_size, config.layer_norm_eps)
        self.token_mixing = _TOKEN_MIXERS[config.backbone](config)
        self.channel_norm = ChannelNorm(config.hidden_size, config.layer_norm_eps)
        self.routed = config.use_dynamic_routing
        self.channel_mixing = (MoEFeedForward(config.hidden_size, config.channel_mixing_dim, config.num_experts,
                                              config.routing_top_k) if self.routed
                               else FeedForward(config.hidden_size, config.channel_mixing_dim))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.token_mixing(self.token_norm(x), mask))
        if self.routed:  # the mask lets the load-balancing loss count real tokens only
            return x + self.dropout(self.channel_mixing(self.channel_norm(x), mask))
        return x + self.dropout(self.channel_mixing(self.channel_norm(x)))
