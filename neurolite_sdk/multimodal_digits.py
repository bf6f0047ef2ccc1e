"""The multimodal demonstration's data and training (issue 18), with nothing downloaded.

* image: scikit-learn's bundled ``load_digits`` (1,797 handwritten digits, 8x8, values 0-16 -> [0, 1]);
* audio: the digit's English name spoken by Debian's ``espeak-ng`` on this machine (22,050 Hz), with
  random pitch and speed; the training and the held-out split use different accents (voices), and white
  noise at a random 10-30 dB SNR is added per pairing;
* text: a caption naming the digit in one of five languages, with a one-letter typo half of the time;
* video: three frames of the digit drifting by one pixel per frame (``np.roll``), so the frame encoder
  and the frame sampling run on real pixels.

Every held-out item pairs a held-out image with a held-out voice's clip. ``train_digits`` trains with
modality dropout (each modality is removed from an item with probability 0.5, at least one kept), so
the model answers from any subset; ``evaluate_subsets`` reports accuracy for every subset.
"""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurolite_sdk.multimodal_audio import fit_frames, log_mel_spectrogram

ESPEAK = "espeak-ng"
SAMPLE_RATE = 22_050  # espeak-ng's output rate
NAMES = {"en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
         "fr": ["zero", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"],
         "de": ["null", "eins", "zwei", "drei", "vier", "funf", "sechs", "sieben", "acht", "neun"],
         "es": ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"],
         "it": ["zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove"]}
TRAIN_VOICES = ("en", "en-us", "en-gb-x-rp", "en-029", "en+f2", "en-us+m3")
TEST_VOICES = ("en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd")


class SpeechUnavailableError(RuntimeError):
    """espeak-ng is not installed (``apt-get install espeak-ng``; .ci/run installs it)."""


def espeak_available() -> bool:
    return shutil.which(ESPEAK) is not None


def speak(text: str, voice: str, pitch: int, speed: int) -> np.ndarray:
    """``text`` spoken by espeak-ng: float32 samples in [-1, 1] at ``SAMPLE_RATE``."""
    if not espeak_available():
        raise SpeechUnavailableError(f"{ESPEAK}: not found on PATH; install it with apt-get install espeak-ng")
    wav = subprocess.run([ESPEAK, "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        if reader.getframerate() != SAMPLE_RATE or reader.getsampwidth() != 2:
            raise SpeechUnavailableError(f"{ESPEAK}: unexpected output ({reader.getframerate()} Hz, "
                                         f"{8 * reader.getsampwidth()}-bit)")
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return samples.astype(np.float32) / 32768.0


def spoken_digits(voices: Sequence[str], takes: int, seed: int) -> list[list[np.ndarray]]:
    """``takes`` clips per voice and digit (random pitch 25-75, speed 130-190 wpm): [digit][clip]."""
    rng = np.random.default_rng(seed)
    clips: list[list[np.ndarray]] = [[] for _ in range(10)]
    for digit, voice, _ in itertools.product(range(10), voices, range(takes)):
        clips[digit].append(speak(NAMES["en"][digit], voice, int(rng.integers(25, 76)), int(rng.integers(130, 191))))
    return clips


@dataclass
class DigitSplit:
    """One split: the inputs of every modality (graph forms, ready to batch) and the labels."""

    text: list[str]
    image: np.ndarray  # [N, 1, 8, 8]
    audio: np.ndarray  # [N, 1, frames, mels] standardised log-mel
    video: np.ndarray  # [N, frames, 1, 8, 8]
    labels: np.ndarray  # [N] int64

    def __len__(self) -> int:
        return len(self.labels)

    def inputs(self, modalities: Sequence[str], rows: slice | np.ndarray = slice(None)) -> dict[str, Any]:
        """``multimodal_inputs`` for ``rows`` with only ``modalities`` given."""
        picked = {"text": [self.text[i] for i in np.arange(len(self))[rows]], "image": self.image[rows],
                  "audio": self.audio[rows], "video": self.video[rows]}
        return {name: picked[name] for name in modalities}


def build_digits(audio_frames: int, audio_mels: int, video_frames: int, test_fraction: float = 0.25,
                 takes: int = 4, seed: int = 0) -> tuple[DigitSplit, DigitSplit]:
    """The train and held-out splits (stratified by digit); the held-out audio uses ``TEST_VOICES`` only."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    train_idx, test_idx = train_test_split(np.arange(len(images)), test_size=test_fraction,
                                           stratify=digits.target, random_state=seed)
    rng = np.random.default_rng(seed)
    splits = []
    for indices, voices in ((train_idx, TRAIN_VOICES), (test_idx, TEST_VOICES)):
        clips = spoken_digits(voices, takes, seed=int(rng.integers(1 << 31)))
        labels = digits.target[indices].astype(np.int64)
        audio = np.stack([_noisy_log_mel(clips[d][int(rng.integers(len(clips[d])))], rng, audio_frames, audio_mels)
                          for d in labels])[:, None]
        image = images[indices]
        video = np.stack([_drifting(img, video_frames, rng) for img in image])
        splits.append(DigitSplit(text=[_caption(d, rng) for d in labels], image=image, audio=audio, video=video,
                                 labels=labels))
    return splits[0], splits[1]


def _noisy_log_mel(clip: np.ndarray, rng: np.random.Generator, frames: int, mels: int) -> np.ndarray:
    snr_db = rng.uniform(10.0, 30.0)
    noise = rng.standard_normal(clip.size).astype(np.float32) * np.sqrt(np.mean(clip**2) / 10 ** (snr_db / 10))
    return fit_frames(log_mel_spectrogram(clip + noise, SAMPLE_RATE, mels), frames)


def _drifting(image: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    dy, dx = rng.choice([-1, 0, 1], size=2)
    return np.stack([np.roll(image, (t * dy, t * dx), axis=(1, 2)) for t in range(frames)])


def _caption(digit: int, rng: np.random.Generator) -> str:
    word = NAMES[str(rng.choice(list(NAMES)))][digit]
    if rng.random() < 0.5:
        i = int(rng.integers(len(word)))
        word = word[:i] + chr(int(rng.integers(97, 123))) + word[i + 1:]
    return f"a handwritten {word}"


def all_subsets(modalities: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset, smallest first."""
    return [s for n in range(1, len(modalities) + 1) for s in itertools.combinations(modalities, n)]


def train_digits(model: Any, train: DigitSplit, epochs: int = 30, batch_size: int = 64, lr: float = 3e-3,
                 drop: float = 0.5, single: float = 0.0, seed: int = 0, fresh_captions: bool = True) -> list[float]:
    """AdamW with modality dropout: each modality is removed from an item with probability ``drop``, and a
    ``single`` fraction of the items keeps one random modality only (each encoder then has to classify on
    its own); at least one modality is always kept. Returns the mean loss of each epoch.

    ``fresh_captions``: every epoch draws a new caption for each item (language and typo as
    ``_caption``), so the model cannot memorise the 1,347 training captions. With the captions fixed, text
    is ~100% right on the training split after a few epochs (it is 67% on unseen captions) and the fusion
    learns to trust it; drawn afresh, the text is as unreliable in training as it is on new items."""
    import torch

    from neurolite_sdk.multimodal_inputs import graph_inputs

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    spec = model.neurolite.multimodal.spec
    full, _ = graph_inputs(spec, model.featurizer, train.inputs(spec.modalities))
    tensors = {name: torch.from_numpy(value) for name, value in full.items()}
    labels = torch.from_numpy(train.labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * -(-len(train) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    losses = []
    model.train()
    caption_rng = np.random.default_rng([seed, 1])
    for epoch in range(epochs):
        if fresh_captions and epoch:  # epoch 0 uses the split's own captions
            text, _ = graph_inputs(spec, model.featurizer, {"text": [_caption(int(d), caption_rng)
                                                                     for d in train.labels]})
            tensors["features"], tensors["mask"] = torch.from_numpy(text["features"]), torch.from_numpy(text["mask"])
        order, total = torch.from_numpy(rng.permutation(len(train))), 0.0
        for start in range(0, len(train), batch_size):
            rows = order[start:start + batch_size]
            batch = {name: value[rows] for name, value in tensors.items()}
            keep = torch.from_numpy((rng.random(batch["presence"].shape) >= drop).astype(np.float32))
            alone = torch.from_numpy(rng.random(len(rows)) < single)  # these items keep one modality only
            keep[alone] = 0.0
            keep[torch.arange(len(rows)), torch.from_numpy(rng.integers(keep.shape[1], size=len(rows)))] = 1.0
            presence = batch["presence"] * keep  # a dropped modality is zeroed by the model (presence 0)
            features, mask = batch.pop("features"), batch.pop("mask")
            output = model(features, mask, modalities={**batch, "presence": presence}, labels=labels[rows])
            optimizer.zero_grad()
            output["loss"].backward()
            optimizer.step()
            schedule.step()
            total += float(output["loss"].detach()) * len(rows)
        losses.append(total / len(train))
    model.eval()
    return losses


def evaluate_subsets(model: Any, split: DigitSplit) -> dict[str, float]:
    """Held-out accuracy for every subset of the model's modalities, keyed "image+audio"."""
    import torch

    results = {}
    with torch.no_grad():
        for subset in all_subsets(model.neurolite.multimodal.spec.modalities):
            logits = model(multimodal_inputs=split.inputs(subset))["logits"].numpy()
            results["+".join(subset)] = float((logits.argmax(axis=1) == split.labels).mean())
    return results
