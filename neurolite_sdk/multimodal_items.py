"""Multimodal items on the command line (issue 18): a JSON Lines file -> ``multimodal_inputs``. numpy only.

``neurolite run BUNDLE --items FILE`` and ``neurolite export CHECKPOINT --items FILE`` read one item per
line, a JSON object whose keys are modalities; a modality left out of a line is absent for that item
(the presence mask). Values:

* ``text``: a string;
* ``image`` [C, S, S], ``video`` [frames, C, S, S], ``audio`` (a waveform, 1-D, or a log-mel [frames, mels]):
  nested lists of numbers, or a path (relative to the file's folder) to a ``.npy`` array;
* ``audio`` may also be a path to a ``.wav`` file: 16-bit PCM, mono, at the model's
  ``multimodal_audio_sample_rate``.

Shapes, NaN and frame counts are then checked by ``multimodal_inputs.graph_inputs`` like any dict; errors
here name the file, the line and the modality. ``generated_items`` makes the parity items ``neurolite
export`` uses when no file is given: every non-empty subset of the modalities in turn, deterministic
pseudo-random pixels, log-mels, frames and captions (parity compares two implementations of one graph, so
any finite inputs of the right shapes test it).
"""

from __future__ import annotations

import itertools
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk.multimodal_inputs import MODALITIES, MultimodalSpec
from neurolite_sdk.runtime.errors import PredictionInputError


def read_items(path: str | Path, spec: MultimodalSpec) -> dict[str, list[Any]]:
    """The file's items as ``multimodal_inputs`` (one list per modality any line gives, None where absent)."""
    path = Path(path)
    rows: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PredictionInputError(f"{path}: cannot be read ({exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PredictionInputError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not row:
            raise PredictionInputError(f"{where}: expected an object with some of {', '.join(spec.modalities)}")
        for name in row:
            if name not in spec.modalities:
                raise PredictionInputError(f"{where}: {name}: not a modality this model takes (it takes "
                                           f"{', '.join(spec.modalities)})")
        rows.append({name: _value(path.parent, where, name, value, spec) for name, value in row.items()})
    if not rows:
        raise PredictionInputError(f"{path}: no items (one JSON object per line)")
    given = [m for m in spec.modalities if any(m in row for row in rows)]
    return {m: [row.get(m) for row in rows] for m in given}


def _value(folder: Path, where: str, modality: str, value: Any, spec: MultimodalSpec) -> Any:
    if modality == "text":
        if not isinstance(value, str):
            raise PredictionInputError(f"{where}: text: expected a string, got {type(value).__name__}")
        return value
    if isinstance(value, str):
        file = folder / value
        if not file.is_file():
            raise PredictionInputError(f"{where}: {modality}: {file} is not a file")
        if file.suffix.lower() == ".wav":
            if modality != "audio":
                raise PredictionInputError(f"{where}: {modality}: a .wav file, expected a .npy array")
            return read_wav(file, spec.sample_rate, f"{where}: audio")
        if file.suffix.lower() != ".npy":
            raise PredictionInputError(f"{where}: {modality}: {file.name}: expected a .npy array"
                                       + (" or a .wav file" if modality == "audio" else ""))
        try:
            return np.load(file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise PredictionInputError(f"{where}: {modality}: {file} cannot be read ({exc})") from None
    if not isinstance(value, list):
        raise PredictionInputError(f"{where}: {modality}: expected nested lists of numbers or a file path, got "
                                   f"{type(value).__name__}")
    try:
        return np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        raise PredictionInputError(f"{where}: {modality}: expected nested lists of numbers of one shape "
                                   f"(expected {_shape_words(modality, spec)})") from None


def _shape_words(modality: str, spec: MultimodalSpec) -> str:
    shape = spec.item_shape(modality)
    if modality == "audio":
        return f"a waveform or a log-mel [{spec.audio_frames}, {spec.audio_mels}]"
    if modality == "video":
        return f"[frames >= {spec.video_frames}, {', '.join(map(str, shape[1:]))}]"
    return str(list(shape))


def read_wav(path: Path, sample_rate: int, where: str) -> np.ndarray:
    """A 16-bit PCM mono WAV file at ``sample_rate`` -> float32 samples in [-1, 1]."""
    try:
        with wave.open(str(path)) as reader:
            rate, width, channels = reader.getframerate(), reader.getsampwidth(), reader.getnchannels()
            frames = reader.readframes(reader.getnframes())
    except (OSError, wave.Error, EOFError) as exc:
        raise PredictionInputError(f"{where}: {path} is not a readable WAV file ({exc})") from None
    if width != 2 or channels != 1:
        raise PredictionInputError(f"{where}: {path}: {8 * width}-bit, {channels} channels; expected 16-bit PCM mono")
    if rate != sample_rate:
        raise PredictionInputError(f"{where}: {path}: {rate} Hz, the model takes {sample_rate} Hz "
                                   f"(multimodal_audio_sample_rate); resample it first")
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def generated_items(spec: MultimodalSpec, count: int = 128, seed: int = 0) -> dict[str, list[Any]]:
    """``count`` deterministic items cycling through every non-empty subset of the modalities."""
    rng = np.random.default_rng(seed)
    subsets = [s for n in range(1, len(spec.modalities) + 1) for s in itertools.combinations(spec.modalities, n)]
    words = ["a", "photo", "of", "digit", "spoken", "seven", "three", "handwritten", "zero", "nine", "cat", "sound"]
    items: dict[str, list[Any]] = {m: [] for m in spec.modalities}
    for index in range(count):
        subset = subsets[index % len(subsets)]
        for modality in spec.modalities:
            value: Any = None
            if modality in subset:
                if modality == "text":
                    value = " ".join(rng.choice(words, size=int(rng.integers(2, 8))))
                elif modality == "audio":  # a standardised log-mel, as multimodal_audio gives
                    value = rng.standard_normal((spec.audio_frames, spec.audio_mels)).astype(np.float32)
                else:
                    value = rng.random(spec.item_shape(modality), dtype=np.float32)
            items[modality].append(value)
    assert set(items) <= set(MODALITIES)
    return items
