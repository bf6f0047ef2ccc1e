"""Fit a request to the shapes a bundle supports: pick a signature, pad, split, run, stitch.

Formats differ in what they allow: ONNX and Core ML take any batch and length, the ExecuTorch and
TFLite exports hold fixed shapes. The graph is padding-invariant (padded tokens and padded rows never
change the outputs of real rows), so padding a request up to a supported shape and dropping the
padded rows afterwards gives exactly the same numbers. Planning is the same for every format.

Tensor shapes name their batch and token axes ``"batch"`` and ``"length"``; the signature's ranges
give their sizes. Every tensor has a batch axis; inputs without a ``"length"`` axis (state, in later
models) are padded along ``"batch"`` only, and every output is cut back along its batch axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neurolite_sdk.runtime.bundle import BATCH, LENGTH, DimRange, Signature, TensorSpec
from neurolite_sdk.runtime.errors import PredictionInputError


class NamedRunner(Protocol):
    def run(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class Step:
    """Run rows [start, stop) of the request through ``signature``, padded to (batch, length)."""

    signature: Signature
    start: int
    stop: int
    batch: int
    length: int


def plan(signatures: Sequence[Signature], batch: int, length: int) -> list[Step]:
    """Cover ``batch`` rows of ``length`` tokens with as few padded rows and tokens as the signatures allow.

    The shortest signature length that fits is used for the whole request; rows are then taken in
    the largest chunks a signature accepts without padding, and only a remainder smaller than every
    accepted batch is padded.
    """
    fits = [s for s in signatures if _upper(s.length) >= length]
    if not fits:
        longest = max(_upper(s.length) for s in signatures)
        raise PredictionInputError(f"length: {length} tokens, but the bundle's longest signature takes "
                                   f"{longest}")
    shortest = min(_upper(s.length) for s in fits)
    options = [s for s in fits if _upper(s.length) == shortest]
    steps: list[Step] = []
    start = 0
    while start < batch:
        remaining = batch - start
        unpadded = [(min(remaining, _upper(s.batch)), s) for s in options if s.batch.min <= remaining]
        if unpadded:
            take, signature = max(unpadded, key=lambda pair: pair[0])
            padded = take
        else:
            signature = min(options, key=lambda s: s.batch.min)
            take, padded = remaining, signature.batch.min
        steps.append(Step(signature, start, start + take, padded, max(length, signature.length.min)))
        start += take
    return steps


def request_shape(signature: Signature, inputs: Mapping[str, np.ndarray]) -> tuple[int, int]:
    """(batch, length) of a request, read from the first input with a token axis."""
    for spec in signature.inputs:
        if LENGTH in spec.shape:
            value = inputs.get(spec.name)
            if not isinstance(value, np.ndarray) or value.ndim != len(spec.shape):
                value = _input(inputs, spec)  # converted and checked, or the error that says what is wrong
            return value.shape[spec.shape.index(BATCH)], value.shape[spec.shape.index(LENGTH)]
    raise PredictionInputError(f"signature {signature.name!r}: no input has a token ('length') axis")


def run_plan(runner: NamedRunner, steps: Sequence[Step],
             inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run every step with padded inputs and return the outputs of the real rows, in request order."""
    if len(steps) == 1:  # the common case (one text, or a batch the signature takes as it is): no padding
        step = steps[0]
        feed = _unpadded(step, inputs)
        if feed is not None:
            outputs = runner.run(step.signature.name, feed)  # which checks dtypes and sizes as _input does
            # a copy, as below: the caller never holds a view of a backend's buffer (ExecuTorch reuses its own)
            return {spec.name: np.array(outputs[spec.name]) for spec in step.signature.outputs}
    pieces: dict[str, list[np.ndarray]] = {}
    for step in steps:
        feed = {spec.name: _pad(_input(inputs, spec), spec, step) for spec in step.signature.inputs}
        outputs = runner.run(step.signature.name, feed)
        for spec in step.signature.outputs:
            rows = _rows(outputs[spec.name], spec.shape.index(BATCH), 0, step.stop - step.start)
            pieces.setdefault(spec.name, []).append(rows)
    # concatenate copies even a single piece: the caller never holds a view of a backend's buffer
    return {spec.name: np.concatenate(pieces[spec.name], axis=spec.shape.index(BATCH))
            for spec in steps[0].signature.outputs}


def _unpadded(step: Step, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """The step's inputs as given, when every one is an array already of the step's batch and length (rows
    [0, batch) and nothing to pad); else None, and ``_pad`` builds them."""
    if step.start != 0:
        return None
    feed = {}
    for spec in step.signature.inputs:
        value = inputs.get(spec.name)
        if not isinstance(value, np.ndarray) or value.ndim != len(spec.shape):
            return None
        for size, dim in zip(value.shape, spec.shape, strict=True):  # (same rank: checked above)
            if (dim == BATCH and size != step.batch) or (dim == LENGTH and size != step.length):
                return None
        feed[spec.name] = value
    return feed


def _rows(value: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) along ``axis``: a view (basic slicing), the whole array when it is all of it."""
    if start == 0 and stop == value.shape[axis]:
        return value
    return value[(slice(None),) * axis + (slice(start, stop),)]


def _input(inputs: Mapping[str, np.ndarray], spec: TensorSpec) -> np.ndarray:
    if spec.name not in inputs:
        raise PredictionInputError(f"inputs: missing {spec.name!r}")
    return spec.check(inputs[spec.name])


def _pad(value: np.ndarray, spec: TensorSpec, step: Step) -> np.ndarray:
    """Rows [start, stop) of ``value``, zero-padded along its batch and token axes to the step's sizes."""
    rows = _rows(value, spec.shape.index(BATCH), step.start, step.stop)
    targets = {BATCH: step.batch, LENGTH: step.length}
    widths = [(0, targets[dim] - rows.shape[axis]) if dim in targets else (0, 0)
              for axis, dim in enumerate(spec.shape)]
    return np.ascontiguousarray(np.pad(rows, widths) if any(w for _, w in widths) else rows)


def _upper(dim: DimRange) -> float:
    return float("inf") if dim.max is None else dim.max
