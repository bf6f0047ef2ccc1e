"""Orbital 8-bit against per-channel int8: SQNR per distribution and per layer, and encode time.

    python benchmarks/orbital_sqnr.py [--weights model.safetensors] [--shape 256x256] [--repeats 3]

Prints, as Markdown tables: the SQNR (dB) of every scheme on synthetic weights (Gaussian, Student-t
with 4 degrees of freedom, Laplace, uniform), then on every tensor of ``--weights`` that the default
``QuantPolicy`` codes; the mean gain of orbital8 over symmetric int8; the median time to encode a
10.5M-weight set (40 Student-t tensors of 512 x 512); and the versions. Schemes:

* ``orbital8``: the codec's default, orbit period Z, σ and the row framing (symmetric or midrange, i.e.
  with a per-channel offset) fitted per tensor; ``orbital8 no offset``: symmetric framing only;
* ``arc Z=512 σ fit`` and ``arc Z=512 σ=0``: symmetric, with the orbit fixed to a half turn;
* ``circle cos``: the DESIGN probe's ``s·cos(2πi/256)``, whose 256 codes hold only 129 distinct values;
* ``int8``: the reference, symmetric (max/127) per output channel.

(The pair coding ``orbital8-polar`` and ``int8-affine`` were measured here too and removed from the codec,
which nothing exported them through; their figures in docs/orbital8.md name the commit that measured them.)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neurolite_sdk.quantization import Int8Codec, OrbitalCodec, QuantPolicy, sqnr_db
from neurolite_sdk.quantization.orbit import TABLE_SIZE, nearest_index, orbit_angles

Quantizer = Callable[[np.ndarray], np.ndarray]


def round_trip(codec: OrbitalCodec | Int8Codec) -> Quantizer:
    return lambda w: codec.decode(codec.encode(w))


def circle_cos(w: np.ndarray) -> np.ndarray:
    """The full-circle scalar codebook: cos(θ_i) = cos(θ_{256-i}), so codes 129..255 repeat codes 127..1."""
    table = np.sort(np.cos(orbit_angles(np.arange(TABLE_SIZE // 2 + 1), TABLE_SIZE, 0.0)))
    scale = np.abs(w).max(axis=1, keepdims=True).astype(np.float64)
    unit = w / np.where(scale > 0, scale, 1.0)
    return (table[nearest_index(table, unit)] * scale).astype(np.float32)


SCHEMES: dict[str, Quantizer] = {
    "orbital8": round_trip(OrbitalCodec("orbital8")),
    "orbital8 no offset": round_trip(OrbitalCodec("orbital8", allow_offset=False)),
    "arc Z=512 σ fit": round_trip(OrbitalCodec("orbital8", periods=(512,), allow_offset=False)),
    "arc Z=512 σ=0": round_trip(OrbitalCodec("orbital8", periods=(512,), sigmas=(0.0,), allow_offset=False)),
    "circle cos": circle_cos,
    "int8": round_trip(Int8Codec("int8")),
}
DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, tuple[int, int]], np.ndarray]] = {
    "Gaussian": lambda rng, shape: rng.standard_normal(shape),
    "Student-t (4 dof)": lambda rng, shape: rng.standard_t(4, shape),
    "Laplace": lambda rng, shape: rng.laplace(size=shape),
    "uniform": lambda rng, shape: rng.uniform(-1.0, 1.0, shape),
}


def measure(tensors: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """SQNR (dB) of every scheme on every tensor: ``{tensor: {scheme: dB}}``."""
    return {name: {scheme: sqnr_db(w, quantize(w)) for scheme, quantize in SCHEMES.items()}
            for name, w in tensors.items()}


def print_table(title: str, results: dict[str, dict[str, float]],
                extra: dict[str, str] | None = None) -> None:
    """A Markdown table, one row per tensor, plus the orbital8 - int8 gain and the mean gain."""
    print(f"\n### {title}\n")
    head = ["tensor", *SCHEMES, "orbital8 − int8", *([] if extra is None else ["orbital8 fit"])]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, row in results.items():
        cells = [f"{row[s]:.2f}" for s in SCHEMES] + [f"{row['orbital8'] - row['int8']:+.2f}"]
        print(f"| {name} | " + " | ".join(cells + ([] if extra is None else [extra[name]])) + " |")
    gains = [row["orbital8"] - row["int8"] for row in results.values()]
    wins = sum(gain > 0 for gain in gains)
    print(f"\nmean gain of orbital8 over int8: {statistics.fmean(gains):+.2f} dB "
          f"(min {min(gains):+.2f}, max {max(gains):+.2f}; better on {wins} of {len(gains)})")


def real_weights(path: Path) -> None:
    from safetensors.numpy import load_file

    policy = QuantPolicy()
    state = load_file(str(path))
    coded = {name: w for name, w in state.items() if policy.keep_reason(name, w) is None}
    codec = OrbitalCodec("orbital8")
    fits = {name: codec.encode(w) for name, w in coded.items()}
    extra = {name: f"Z={t.period} σ={t.sigma:.4g} {'midrange' if t.offset is not None else 'symmetric'}"
             for name, t in fits.items()}
    results = measure(coded)
    print_table(f"{path} ({len(coded)} of {len(state)} tensors coded under the default policy; "
                f"{sum(w.size for w in coded.values()):,} weights)",
                {f"{name} {tuple(coded[name].shape)}": row for name, row in results.items()},
                {f"{name} {tuple(coded[name].shape)}": text for name, text in extra.items()})
    for scheme in ("orbital8", "orbital8 no offset", "int8"):
        signal = sum(float(np.sum(w.astype(np.float64) ** 2)) for w in coded.values())
        noise = sum(float(np.sum((w.astype(np.float64) - SCHEMES[scheme](w)) ** 2)) for w in coded.values())
        print(f"whole model, {scheme}: {10 * np.log10(signal / noise):.2f} dB")


def encode_time(repeats: int) -> None:
    rng = np.random.default_rng(1)
    tensors = [rng.standard_t(4, (512, 512)).astype(np.float32) for _ in range(40)]
    print(f"\n### encode time, {sum(w.size for w in tensors):,} weights (40 x 512 x 512, Student-t), "
          f"median of {repeats}\n")
    for name, codec in (("orbital8", OrbitalCodec("orbital8")), ("int8", Int8Codec("int8"))):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            for w in tensors:
                codec.encode(w)
            times.append(time.perf_counter() - started)
        print(f"- {name}: {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="a model.safetensors to measure layer by layer")
    parser.add_argument("--shape", default="256x256", help="synthetic tensor shape, OUTxIN (default 256x256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="encode-time repeats; 0 skips timing")
    args = parser.parse_args()
    shape = tuple(int(d) for d in args.shape.split("x"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, {cores} cores, "
          f"seed {args.seed}")
    rng = np.random.default_rng(args.seed)
    synthetic = {name: draw(rng, shape).astype(np.float32) for name, draw in DISTRIBUTIONS.items()}
    print_table(f"synthetic weights, {shape[0]} x {shape[1]}, SQNR in dB", measure(synthetic))
    if args.weights is not None:
        real_weights(args.weights)
    if args.repeats:
        encode_time(args.repeats)


if __name__ == "__main__":
    main()
