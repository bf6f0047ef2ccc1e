"""Multimodal input (issue 18): text, image, audio and video encoders, cross-modal attention and fusion.

``MultimodalProjection`` replaces the text-only token sequence at the backbone's input. Each enabled
modality is encoded to one vector [B, D]:

* text: the Bloom projection's token vectors (the model's own), averaged over real tokens;
* image [B, C, S, S]: a 3x3 convolutional stem, then ViT-style non-overlapping patches
  (``multimodal_image_patch_size``) as tokens with a learned position each, a residual MLP, averaged;
* audio [B, 1, T, N] (log-mel from ``multimodal_audio.py``, computed on the host): two stride-2 3x3
  convolutions, averaged over time and frequency;
* video [B, F, C, S, S]: every sampled frame through the image encoder (shared weights), a learned
  frame position added, averaged over frames.

``presence`` [B, M] says which modalities each item has. An absent modality's vector is multiplied by
zero before anything reads it, and it gets no weight in the attention or the fusion, so its contents
(whatever the host put there) cannot change the output. Optional ``CrossModalAttention`` lets every
modality's vector attend to the other present ones (after the encoders, the model's first layers).
Fusion ``adaptive``: a learned score per vector, softmax over the present modalities, the weighted sum
as a sequence of length 1 (the seed's design). ``tokens``: one token per modality (plus a learned
modality embedding), with ``presence`` as the token mask, so the backbone mixes across modalities.
``sequence`` (the richer path): each modality contributes its own tokens (text its pooled vector, image
its patches, audio its time steps, video its frames), each plus its modality's embedding, the presence
mask spread over them as the token mask; cross-modal attention then runs over all of those tokens.

Every op is one that ONNX, XNNPACK, LiteRT and Core ML take: means are ``linear`` products against a
constant row (as ``ChannelNorm`` does), masks are multiplications.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.modeling.layers import ChannelNorm, FeedForward
from neurolite_sdk.multimodal_inputs import PRESENCE, MultimodalSpec, graph_inputs

MASKED = -1e9  # added to the attention and fusion scores of absent modalities: exp() gives exactly 0


def _mean_over(x: torch.Tensor, average: torch.Tensor) -> torch.Tensor:
    """Mean of [B, P, D] over P as a ``linear`` with a constant [1, P] row of 1/P -> [B, D]."""
    batch, _, dim = x.shape
    return F.linear(x.transpose(1, 2), average).reshape(batch, dim)


class ImageEncoder(nn.Module):
    """[B, C, S, S] -> [B, D]: conv stem, patch tokens with positions, a residual MLP, mean over patches."""

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        d, patch = config.hidden_size, config.multimodal_image_patch_size
        patches = (config.multimodal_image_size // patch) ** 2
        self.stem = nn.Conv2d(config.multimodal_image_channels, d // 2, kernel_size=3, padding=1)
        self.patchify = nn.Conv2d(d // 2, d, kernel_size=patch, stride=patch)
        self.position = nn.Parameter(torch.randn(patches, d) * 0.02)
        self.norm = ChannelNorm(d, config.layer_norm_eps)
        self.mlp = FeedForward(d, 2 * d)
        self.out_norm = ChannelNorm(d, config.layer_norm_eps)
        self.register_buffer("average", torch.full((1, patches), 1.0 / patches), persistent=False)

    def patches(self, image: torch.Tensor) -> torch.Tensor:
        """[B, C, S, S] -> the patch tokens [B, P, D] (before the mean)."""
        x = self.patchify(F.gelu(self.stem(image)))  # [B, D, S/p, S/p]
        batch, dim = x.shape[0], x.shape[1]
        tokens = x.reshape(batch, dim, -1).transpose(1, 2) + self.position  # [B, P, D]
        return tokens + self.mlp(self.norm(tokens))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.out_norm(_mean_over(self.patches(image), self.average))


class AudioEncoder(nn.Module):
    """[B, 1, T, N] log-mel -> [B, D]: two stride-2 3x3 convolutions, mean over time and frequency."""

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        d = config.hidden_size
        self.conv1 = nn.Conv2d(1, d // 4, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(d // 4, d // 2, kernel_size=3, stride=2, padding=1)
        steps, bands = _halved(config.multimodal_audio_frames), _halved(config.multimodal_audio_mels)
        self.register_buffer("average", torch.full((1, steps * bands), 1.0 / (steps * bands)), persistent=False)
        self.proj = nn.Linear(d // 2, d)
        self.norm = ChannelNorm(d, config.layer_norm_eps)
        if config.multimodal_fusion == "sequence":  # one token per time step: frequency averaged, a time position
            self.register_buffer("band_average", torch.full((1, bands), 1.0 / bands), persistent=False)
            self.position = nn.Parameter(torch.randn(steps, d) * 0.02)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv2(F.gelu(self.conv1(audio))))  # [B, D/2, T/4, N/4]
        batch, channels = x.shape[0], x.shape[1]
        pooled = F.linear(x.reshape(batch, channels, -1), self.average).reshape(batch, channels)
        return self.norm(F.gelu(self.proj(pooled)))

    def frames(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, 1, T, N] -> one token per time step after the convolutions [B, T/4, D] (``sequence`` fusion)."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(audio))))  # [B, D/2, T/4, N/4]
        batch, channels, steps = x.shape[0], x.shape[1], x.shape[2]
        per_step = F.linear(x, self.band_average).reshape(batch, channels, steps).transpose(1, 2)  # [B, T/4, D/2]
        return self.norm(F.gelu(self.proj(per_step)) + self.position)


def _halved(size: int) -> int:
    """Output size of two stride-2, padding-1, 3x3 convolutions."""
    for _ in range(2):
        size = (size + 1) // 2
    return size


class VideoEncoder(nn.Module):
    """[B, F, C, S, S] -> [B, D]: each frame through the image encoder, a frame position, mean over frames."""

    def __init__(self, config: NeuroLiteConfig, image: ImageEncoder) -> None:
        super().__init__()
        frames, d = config.multimodal_video_num_sampled_frames, config.hidden_size
        self.image = [image]  # shared, not a second submodule: its weights belong to the image encoder
        self.position = nn.Parameter(torch.randn(frames, d) * 0.02)
        self.proj = nn.Linear(d, d)
        self.norm = ChannelNorm(d, config.layer_norm_eps)
        self.register_buffer("average", torch.full((1, frames), 1.0 / frames), persistent=False)

    def per_frame(self, video: torch.Tensor) -> torch.Tensor:
        """[B, F, C, S, S] -> each frame's vector with its frame position [B, F, D]."""
        batch, frames = video.shape[0], video.shape[1]
        encoded = self.image[0](video.reshape(batch * frames, *video.shape[2:]))
        return encoded.reshape(batch, frames, -1) + self.position

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(_mean_over(self.per_frame(video), self.average)))

    def frames(self, video: torch.Tensor) -> torch.Tensor:
        """One token per sampled frame [B, F, D] (``sequence`` fusion)."""
        return self.norm(self.proj(self.per_frame(video)))


class CrossModalAttention(nn.Module):
    """Multi-head attention across the modality vectors [B, M, D]; absent modalities are never attended to."""

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        d, self.heads = config.hidden_size, config.cross_modal_num_heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.norm = ChannelNorm(d, config.layer_norm_eps)

    def forward(self, x: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        # 3-D bmm over (batch x heads): a 4-D matmul would broadcast through expand, which XNNPACK leaves out
        batch, count, dim = x.shape
        heads, head_dim = self.heads, dim // self.heads
        normed = self.norm(x)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, count, heads, head_dim).transpose(1, 2).reshape(batch * heads, count, head_dim)

        q, k, v = split(self.query(normed)), split(self.key(normed)), split(self.value(normed))
        scores = torch.bmm(q, k.transpose(1, 2)).reshape(batch, heads, count, count) / math.sqrt(head_dim)
        scores = scores + ((1.0 - presence) * MASKED).reshape(batch, 1, 1, count)
        weights = torch.softmax(scores, dim=-1).reshape(batch * heads, count, count)
        attended = torch.bmm(weights, v).reshape(batch, heads, count, head_dim).transpose(1, 2)
        return x + self.out(attended.reshape(batch, count, dim))


class MultimodalProjection(nn.Module):
    """Modality encoders -> (optional cross-modal attention) -> fusion; see the module docstring."""

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        self.spec = MultimodalSpec.from_config(config)
        self.modalities = self.spec.modalities
        self.fusion = config.multimodal_fusion
        d = config.hidden_size
        self.text_norm = ChannelNorm(d, config.layer_norm_eps)
        needs_image = "image" in self.modalities or "video" in self.modalities
        self.image = ImageEncoder(config) if needs_image else None
        self.audio = AudioEncoder(config) if "audio" in self.modalities else None
        self.video = VideoEncoder(config, self.image) if "video" in self.modalities else None
        self.cross_attention = CrossModalAttention(config) if config.use_cross_modal_attention else None
        if self.fusion == "adaptive":
            self.score = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 1))
        else:
            self.modality_embedding = nn.Parameter(torch.randn(len(self.modalities), d) * 0.02)
        if self.fusion == "sequence":
            # spread [N, M]: token n belongs to modality m (presence [B, M] -> token mask [B, N] as a linear);
            # pool [M, N]: the mean over each modality's tokens (its vector for return_dict)
            counts = config.multimodal_token_counts()
            owner = torch.cat([torch.full((counts[m],), i) for i, m in enumerate(self.modalities)])
            spread = F.one_hot(owner, len(self.modalities)).float()
            self.register_buffer("spread", spread, persistent=False)
            self.register_buffer("pool", (spread / spread.sum(dim=0)).t().contiguous(), persistent=False)

    def _text_vector(self, text_tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length = mask.shape
        weights = mask.reshape(batch, 1, length)
        count = torch.clamp(torch.bmm(weights, mask.reshape(batch, length, 1)), min=1.0)
        return self.text_norm((torch.bmm(weights, text_tokens) / count).reshape(batch, -1))

    def sequence(self, text_tokens: torch.Tensor, mask: torch.Tensor, presence: torch.Tensor,
                 inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``sequence`` fusion: every modality's own tokens (text 1 pooled, image its patches, audio its time
        steps, video its frames), each plus its modality's embedding, absent ones zeroed, cross-modal attention
        over all tokens under the token mask -> (tokens [B, N, D], token mask [B, N], vectors [B, M, D])."""
        parts = []
        for modality in self.modalities:
            if modality == "text":
                vector = self._text_vector(text_tokens, mask)
                parts.append(vector.reshape(vector.shape[0], 1, vector.shape[1]))
            elif modality == "image":
                parts.append(self.image.out_norm(self.image.patches(inputs["image"])))
            elif modality == "audio":
                parts.append(self.audio.frames(inputs["audio"]))
            else:
                parts.append(self.video.frames(inputs["video"]))
        token_mask = F.linear(presence, self.spread)  # [B, N]: 1 where the token's modality is present
        keep = token_mask.reshape(token_mask.shape[0], token_mask.shape[1], 1)  # (unsqueeze is left out of XNNPACK)
        tokens = (torch.cat(parts, dim=1) + F.linear(self.spread, self.modality_embedding.t())) * keep
        if self.cross_attention is not None:
            tokens = self.cross_attention(tokens, token_mask) * keep
        batch, count = presence.shape
        vectors = F.linear(tokens.transpose(1, 2), self.pool).transpose(1, 2) * presence.reshape(batch, count, 1)
        return tokens, token_mask, vectors

    def representations(self, text_tokens: torch.Tensor, mask: torch.Tensor, presence: torch.Tensor,
                        inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each modality's vector, absent ones zeroed: [B, M, D] in ``self.modalities`` order (for the
        ``sequence`` fusion, the mean of its tokens after cross-modal attention)."""
        if self.fusion == "sequence":
            return self.sequence(text_tokens, mask, presence, inputs)[2]
        vectors = []
        for modality in self.modalities:
            if modality == "text":
                vectors.append(self._text_vector(text_tokens, mask))
            elif modality == "image":
                vectors.append(self.image(inputs["image"]))
            elif modality == "audio":
                vectors.append(self.audio(inputs["audio"]))
            else:
                vectors.append(self.video(inputs["video"]))
        batch, count = presence.shape
        present = presence.reshape(batch, count, 1)
        stacked = torch.cat([v.reshape(batch, 1, -1) for v in vectors], dim=1) * present
        if self.cross_attention is not None:
            stacked = self.cross_attention(stacked, presence) * present
        return stacked

    def forward(self, text_tokens: torch.Tensor, mask: torch.Tensor, presence: torch.Tensor,
                inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (tokens [B, 1, M or N, D], their mask, the per-modality vectors [B, M, D])."""
        if self.fusion == "sequence":
            return self.sequence(text_tokens, mask, presence, inputs)
        stacked = self.representations(text_tokens, mask, presence, inputs)
        batch, count = presence.shape
        if self.fusion == "tokens":
            return stacked + self.modality_embedding * presence.reshape(batch, count, 1), presence, stacked
        scores = self.score(stacked).reshape(batch, count) + (1.0 - presence) * MASKED
        weights = torch.softmax(scores, dim=-1).reshape(batch, 1, count)
        fused = torch.bmm(weights, stacked)  # [B, 1, D]
        return fused, presence[:, :1] * 0.0 + 1.0, stacked  # one real token per item (ones, as arithmetic)

    def tokens(self, text_tokens: torch.Tensor, mask: torch.Tensor,
               modalities: dict[str, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone's input sequence and its mask, for ``NeuroLiteModel.encode``."""
        if modalities is None or PRESENCE not in modalities:
            raise ValueError(f"modalities: this model is multimodal; pass modalities={{'presence': [B, "
                             f"{len(self.modalities)}], ...}} or multimodal_inputs={{...}}")
        fused, fused_mask, _ = self(text_tokens, mask, modalities[PRESENCE], modalities)
        return fused, fused_mask


def resolve_multimodal(model: nn.Module, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor,
                                                                          dict[str, torch.Tensor]]:
    """``multimodal_inputs={...}`` (multimodal_inputs.py's forms) -> (features, mask, modality tensors)."""
    if model.multimodal is None:
        raise ValueError("multimodal_inputs: this model takes text only (config.use_multimodal_input is false)")
    arrays, _ = graph_inputs(model.multimodal.spec, model.featurizer, inputs)
    device = model.projection.table.device
    tensors = {name: torch.from_numpy(value).to(device) for name, value in arrays.items()}
    return tensors.pop("features"), tensors.pop("mask"), tensors


def modality_outputs(model: nn.Module, features: torch.Tensor, mask: torch.Tensor,
                     modalities: dict[str, torch.Tensor] | None) -> dict[str, Any]:
    """``return_dict`` extras: each modality's vector [B, D] (after cross-modal attention; zero where
    absent) under ``individual_modality_representations``, ``presence``, and ``mask`` replaced by the mask of
    the backbone's tokens (ones [B, 1] for adaptive fusion, ``presence`` for tokens). Empty for text models."""
    if model.multimodal is None or modalities is None:
        return {}
    projection = model.multimodal
    presence = modalities[PRESENCE]
    stacked = projection.representations(model.projection(features), mask, presence, modalities)
    if projection.fusion == "sequence":
        token_mask = F.linear(presence, projection.spread)
    else:
        token_mask = presence if projection.fusion == "tokens" else torch.ones_like(presence[:, :1])
    return {"individual_modality_representations": {name: stacked[:, i] for i, name in
                                                     enumerate(projection.modalities)},
            "presence": presence, "mask": token_mask}
