"""The host's audio front end: a waveform -> the log-mel spectrogram the multimodal graph takes. numpy only.

The graph never sees raw audio (an STFT does not lower to every format, and its cost is the host's to
pay once per clip), so this function is the contract between an app and a multimodal bundle:

1. frames of ``n_fft`` samples every ``hop_length`` samples, the signal zero-padded by ``n_fft // 2`` on
   both sides (centred frames), each multiplied by a periodic Hann window;
2. the power spectrum ``|rfft|^2`` of every frame;
3. ``n_mels`` triangular filters on the Slaney mel scale (linear below 1 kHz, logarithmic above), each
   normalised to unit area (Slaney norm), from 0 Hz to ``sample_rate / 2``;
4. ``log(mel_power + 1e-6)``, then standardised per clip (zero mean, unit variance over the whole
   spectrogram) so loudness and the microphone's gain do not move the input.

Steps 1-3 are librosa's ``feature.melspectrogram`` defaults (``center=True, pad_mode="constant",
htk=False, norm="slaney", power=2``); tests/test_multimodal.py checks this function against librosa.
``fit_frames`` then crops or pads (with the clip's quietest value) to the graph's fixed frame count.
Defaults: 25 ms windows (``n_fft = sample_rate // 40``) every 10 ms (``hop_length = sample_rate // 100``).
"""

from __future__ import annotations

import numpy as np

LOG_FLOOR = 1e-6


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: 3 mels per 200 Hz up to 1 kHz (mel 15), then 27 mels per factor of 6.4."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3.0)
    log_step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3.0))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters, Slaney-normalised (each filter's area is 1 in Hz units)."""
    bins = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)  # the rfft's bin frequencies (odd n_fft too)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2))
    widths = np.diff(edges)
    slopes = edges[:, None] - bins[None, :]
    rising = -slopes[:-2] / widths[:-1, None]
    falling = slopes[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def mel_power(waveform: np.ndarray, sample_rate: int, n_mels: int, n_fft: int | None = None,
              hop_length: int | None = None) -> np.ndarray:
    """Mel power spectrogram [n_mels, frames] (steps 1-3 of the module docstring), float64."""
    n_fft = n_fft or sample_rate // 40
    hop_length = hop_length or sample_rate // 100
    signal = np.asarray(waveform, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"waveform: expected a 1-D array of samples, got shape {signal.shape}")
    if signal.size < n_fft:
        raise ValueError(f"waveform: {signal.size} samples, expected at least {n_fft} "
                         f"({1000 * n_fft / sample_rate:.0f} ms at {sample_rate} Hz)")
    padded = np.pad(signal, n_fft // 2)
    count = 1 + (padded.size - n_fft) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:count]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return mel_filterbank(sample_rate, n_fft, n_mels) @ power.T


def log_mel_spectrogram(waveform: np.ndarray, sample_rate: int, n_mels: int, n_fft: int | None = None,
                        hop_length: int | None = None) -> np.ndarray:
    """The graph's audio input before ``fit_frames``: standardised log-mel, float32 [frames, n_mels]."""
    logs = np.log(mel_power(waveform, sample_rate, n_mels, n_fft, hop_length) + LOG_FLOOR).T
    spread = logs.std()
    return ((logs - logs.mean()) / (spread if spread > 0 else 1.0)).astype(np.float32)


def fit_frames(spectrogram: np.ndarray, frames: int) -> np.ndarray:
    """Crop (keep the first ``frames``) or pad with the clip's minimum (silence) to exactly ``frames`` rows."""
    if spectrogram.shape[0] >= frames:
        return spectrogram[:frames]
    fill = np.full((frames - spectrogram.shape[0], spectrogram.shape[1]), spectrogram.min(), dtype=spectrogram.dtype)
    return np.concatenate([spectrogram, fill])
