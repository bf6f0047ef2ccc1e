"""Host side of multimodal input: a dict of modalities -> the graph's named arrays. numpy only.

Shared by the PyTorch model (``model(multimodal_inputs=...)``) and the torch-free runtime
(``Predictor.predict({...})``), so both check and convert the same way. The graph takes, for a batch
of B items:

    features int32 [B, L, K], mask float32 [B, L]       the texts, featurized (all-padding when absent)
    presence float32 [B, M]                              1 where item b has modality m (enabled order)
    image    float32 [B, C, S, S]                        pixel values in [0, 1]
    audio    float32 [B, 1, T, N]                        standardised log-mel (multimodal_audio.py)
    video    float32 [B, F, C, S, S]                     F = multimodal_video_num_sampled_frames

Each modality is given as one array with a leading batch axis, or as a list with one entry per item in
which ``None`` marks an item without that modality (the presence mask, per item). Audio may be given as
waveforms (1-D arrays at the configured sample rate, turned into log-mel here) or as spectrograms
[T, N]; video as any number of frames >= the sampled count, of which evenly spaced ones are kept.
Every bad input raises ``PredictionInputError`` naming the modality, the item and the expected shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurolite_sdk.multimodal_audio import fit_frames, log_mel_spectrogram
from neurolite_sdk.runtime.errors import PredictionInputError

MODALITIES = ("text", "image", "audio", "video")
PRESENCE = "presence"


@dataclass(frozen=True)
class MultimodalSpec:
    """What the graph expects, read from a config (``NeuroLiteConfig`` or a manifest's ``config`` dict)."""

    modalities: tuple[str, ...]
    image_channels: int
    image_size: int
    audio_frames: int
    audio_mels: int
    sample_rate: int
    video_frames: int

    @classmethod
    def from_config(cls, config: Any) -> MultimodalSpec:
        get = config.get if isinstance(config, Mapping) else lambda name, default: getattr(config, name, default)
        return cls(modalities=tuple(get("multimodal_modalities", list(MODALITIES))),
                   image_channels=get("multimodal_image_channels", 1), image_size=get("multimodal_image_size", 8),
                   audio_frames=get("multimodal_audio_frames", 48), audio_mels=get("multimodal_audio_mels", 32),
                   sample_rate=get("multimodal_audio_sample_rate", 16_000),
                   video_frames=get("multimodal_video_num_sampled_frames", 3))

    def item_shape(self, modality: str) -> tuple[int, ...]:
        """One item's shape in the graph (without the batch axis); text has none."""
        c, s = self.image_channels, self.image_size
        return {"image": (c, s, s), "audio": (1, self.audio_frames, self.audio_mels),
                "video": (self.video_frames, c, s, s)}[modality]

    def graph_names(self) -> tuple[str, ...]:
        """The non-text graph inputs, in graph order: presence, then each enabled modality's tensor."""
        return (PRESENCE, *(m for m in self.modalities if m != "text"))


def batch_size(spec: MultimodalSpec, inputs: Mapping[str, Any]) -> int:
    """The number of items, the same for every modality given; errors name the first that differs."""
    if not isinstance(inputs, Mapping) or not inputs:
        raise PredictionInputError(f"inputs: expected a dict with some of {', '.join(spec.modalities)}, got "
                                   f"{type(inputs).__name__ if not isinstance(inputs, Mapping) else 'an empty dict'}")
    for name in inputs:
        if name not in spec.modalities:
            raise PredictionInputError(f"{name}: not a modality this model takes (it takes "
                                       f"{', '.join(spec.modalities)})")
    sizes = {}
    for name, value in inputs.items():
        if isinstance(value, (str, bytes)):
            raise PredictionInputError(f"{name}: expected one entry per item (a list or an array), got a single "
                                       f"{type(value).__name__}")
        sizes[name] = len(value)
    first = next(iter(sizes))
    for name, size in sizes.items():
        if size != sizes[first]:
            raise PredictionInputError(f"{name}: {size} items, but {first} has {sizes[first]}")
    if sizes[first] == 0:
        raise PredictionInputError(f"{first}: no items")
    return sizes[first]


def graph_inputs(spec: MultimodalSpec, featurize: Callable[[Sequence[str]], Any],
                 inputs: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], Any]:
    """The graph's named arrays for ``inputs``, and the text FeatureBatch (for truncation and emptiness).

    ``featurize(texts)`` is the model's featurizer; absent texts become empty strings with mask zero.
    """
    count = batch_size(spec, inputs)
    present = np.zeros((count, len(spec.modalities)), dtype=np.float32)
    arrays: dict[str, np.ndarray] = {}
    batch = None
    for column, modality in enumerate(spec.modalities):
        value = inputs.get(modality)
        if modality == "text":
            texts = [None] * count if value is None else list(value)
            for i, text in enumerate(texts):
                if text is not None and not isinstance(text, str):
                    raise PredictionInputError(f"text[{i}]: expected a string or None, got {type(text).__name__}")
            batch = featurize(["" if t is None else t for t in texts])
            present[:, column] = [t is not None for t in texts]
            batch.mask[present[:, column] == 0] = 0.0
            arrays["features"], arrays["mask"] = batch.features, batch.mask
            continue
        shape = spec.item_shape(modality)
        stacked = np.zeros((count, *shape), dtype=np.float32)
        if value is not None:
            items = list(value) if not isinstance(value, np.ndarray) else [value[i] for i in range(count)]
            for i, item in enumerate(items):
                if item is None:
                    continue
                stacked[i] = _item(spec, modality, i, item)
                present[i, column] = 1.0
        arrays[modality] = stacked
    if batch is None:  # no text modality: the graph still takes (all-padding) features and mask
        batch = featurize([""] * count)
        arrays["features"], arrays["mask"] = batch.features, batch.mask
    empty = np.flatnonzero(present.sum(axis=1) == 0)
    if empty.size:
        raise PredictionInputError(f"item {int(empty[0])}: no modality given (give at least one of "
                                   f"{', '.join(spec.modalities)})")
    arrays[PRESENCE] = present
    return arrays, batch


def _item(spec: MultimodalSpec, modality: str, index: int, item: Any) -> np.ndarray:
    where = f"{modality}[{index}]"
    array = np.asarray(item)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise PredictionInputError(f"{where}: expected real numbers, got dtype {array.dtype}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise PredictionInputError(f"{where}: contains NaN or infinity")
    expected = spec.item_shape(modality)
    if modality == "audio":
        if array.ndim == 1:  # a waveform at the configured rate
            try:
                array = log_mel_spectrogram(array, spec.sample_rate, spec.audio_mels)
            except ValueError as exc:
                raise PredictionInputError(f"{where}: audio too short: {exc}") from None
            return fit_frames(array, spec.audio_frames)[None]
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 2 or array.shape != expected[1:]:
            raise PredictionInputError(f"{where}: shape {tuple(np.shape(item))}, expected a waveform (1-D, "
                                       f"{spec.sample_rate} Hz) or a log-mel spectrogram {list(expected[1:])} "
                                       f"(frames, mels)")
        return array[None]
    if modality == "video":
        frames = spec.video_frames
        if array.ndim != 4 or array.shape[1:] != expected[1:]:
            raise PredictionInputError(f"{where}: shape {array.shape}, expected [frames >= {frames}, "
                                       f"{', '.join(map(str, expected[1:]))}] (frames, channels, height, width)")
        if array.shape[0] < frames:
            raise PredictionInputError(f"{where}: {array.shape[0]} frames, expected at least {frames} "
                                       f"(multimodal_video_num_sampled_frames)")
        return array[sample_frame_indices(array.shape[0], frames)]
    if array.shape != expected:
        raise PredictionInputError(f"{where}: shape {array.shape}, expected {list(expected)} "
                                   f"(channels, height, width)")
    return array


def sample_frame_indices(available: int, wanted: int) -> np.ndarray:
    """``wanted`` evenly spaced frame indices over ``available`` frames, first and last included."""
    return np.round(np.linspace(0, available - 1, wanted)).astype(np.int64)
