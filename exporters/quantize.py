"""Quantized exports, shared by every format: what ``--quantize`` means and the models each scheme needs.

The choices (``QUANTIZE_CHOICES``):

* ``"none"``: the fp32 graph.
* ``"orbital8"``: the project's codec (``docs/orbital8.md``). The weights are coded once here, under one
  ``QuantPolicy``, and every format receives the same codes (``QuantizationPlan.encoded``); each format
  lowers the decode ``T[code]·scale (+ offset)`` into its own ops. Parity compares the exported file with
  the PyTorch model holding the *decoded* weights (``QuantizationPlan.reference``; a tight bar, since
  both compute the same function) and with the fp32 model (top-1 agreement).
* ``"int8"``: each format's native int8 recipe (ONNX Runtime QDQ, the XNNPACK PT2E quantizer, LiteRT's
  int8 recipe, Core ML ``linear_quantize_weights``). Those recipes decide their own rounding, so there
  is no decoded reference: parity is against the fp32 model, by top-1 agreement.
* ``"palette8"``: Core ML only, ``palettize_weights`` (k-means, one 256-entry table per tensor): the
  native counterpart of orbital8's table, checked like ``"int8"``.

``OrbitalDecodedModel`` is the torch form of the in-graph decode for formats that trace it
(``orbital_decoding_model``): each coded parameter is replaced by a module holding its uint8 codes,
table and per-channel scale/offset as buffers, and is decoded in ``forward``; the Bloom table decodes
only the rows a text gathers.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from neurolite_sdk.exporters.base import ExportError
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.modeling.projection import BloomProjection
from neurolite_sdk.quantization import LayerReport, OrbitalTensor, QuantPolicy
from neurolite_sdk.quantization.errors import QuantizationError
from neurolite_sdk.quantization.policy import EncodedState
from neurolite_sdk.quantization.torch_wrapper import decode_into_model, quantize_model

QUANTIZE_CHOICES = ("none", "int8", "palette8", "orbital8")


@dataclass
class QuantizationPlan:
    """One export's quantization: the scheme, the coded weights (orbital8), the per-tensor report (SQNR
    against the fp32 weights, beside per-channel int8 on the same tensor) and the parity reference."""

    scheme: str
    policy: QuantPolicy
    reference: NeuroLiteForClassification
    encoded: EncodedState | None = None
    layers: list[LayerReport] = field(default_factory=list)

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's ``quantization`` section (``docs/bundle.md``)."""
        coded = [row for row in self.layers if row.scheme != "float"]
        gains = [row.sqnr_db - row.int8_sqnr_db for row in coded if row.int8_sqnr_db is not None]
        return {"scheme": self.scheme,
                "policy": {"min_elements": self.policy.min_elements, "keep_float": list(self.policy.keep_float)},
                "coded_tensors": len(coded), "float_tensors": len(self.layers) - len(coded),
                "mean_sqnr_db": _mean([row.sqnr_db for row in coded]),
                "mean_int8_sqnr_db": _mean([row.int8_sqnr_db for row in coded if row.int8_sqnr_db is not None]),
                "mean_gain_over_int8_db": _mean(gains),
                "layers": [_layer_dict(row) for row in self.layers]}


def plan_quantization(model: NeuroLiteForClassification, scheme: str,
                      policy: QuantPolicy | None = None) -> QuantizationPlan:
    """Code ``model``'s weights for ``scheme`` (``QUANTIZE_CHOICES``); ``ExportError`` names a bad tensor."""
    if scheme not in QUANTIZE_CHOICES:
        raise ExportError(f"quantize: {scheme!r} is not one of {', '.join(QUANTIZE_CHOICES)}")
    policy = policy or QuantPolicy()
    if scheme == "none":
        return QuantizationPlan(scheme, policy, model)
    try:
        encoded, layers = quantize_model(model, "orbital8" if scheme == "orbital8" else "int8", policy)
    except QuantizationError as exc:
        raise ExportError(f"quantize {scheme}: {exc}") from exc
    if scheme != "orbital8":  # the report's int8 row is the reference; the format's own recipe does the export
        return QuantizationPlan(scheme, policy, model, None, layers)
    reference = decode_into_model(copy.deepcopy(model), encoded).eval()
    return QuantizationPlan(scheme, policy, reference, encoded, layers)


class OrbitalDecoder(nn.Module):
    """One orbital8 weight, decoded in the graph: ``table[codes] * scale (+ offset)``, reshaped.

    Buffers: ``codes`` uint8 [out, n], ``table`` float32 [256], ``scale`` and ``offset`` float32 [out, 1].
    """

    def __init__(self, tensor: OrbitalTensor) -> None:
        super().__init__()
        if tensor.scheme != "orbital8":
            raise ExportError(f"{tensor.scheme}: only orbital8 decodes in the graph")
        self.shape = tuple(tensor.shape)
        self.register_buffer("codes", torch.from_numpy(np.ascontiguousarray(tensor.codes)))
        self.register_buffer("table", torch.from_numpy(tensor.tables[0].copy()))
        self.register_buffer("scale", torch.from_numpy(tensor.scale.copy())[:, None])
        offset = None if tensor.offset is None else torch.from_numpy(tensor.offset.copy())[:, None]
        self.register_buffer("offset", offset)

    def forward(self) -> torch.Tensor:
        weight = self._lookup(self.codes) * self.scale
        if self.offset is not None:
            weight = weight + self.offset
        return weight.reshape(self.shape)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Decoded rows ``index`` (any int shape S) -> [*S, n]; only those rows' codes are read.

        Written with ``index_select`` over the flattened ids: it lowers to ONNX ``Gather``, which takes
        the graph's int32 bucket ids as they are (``codes[index]`` lowers to ``GatherND``, int64 only).
        """
        flat = index.reshape(-1)
        weight = self._lookup(self.codes.index_select(0, flat)) * self.scale.index_select(0, flat)
        if self.offset is not None:
            weight = weight + self.offset.index_select(0, flat)
        return weight.reshape(*index.shape, weight.shape[-1])

    def _lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """``table[codes]``: one flat gather from the 256-entry table, any code shape. The one place the
        table is read, so a format can compute it otherwise (ExecuTorch computes it from the orbit)."""
        return self.table.index_select(0, codes.reshape(-1).long()).reshape(codes.shape)


def orbital_decoding_model(model: NeuroLiteForClassification, encoded: EncodedState) -> nn.Module:
    """A copy of ``model`` whose coded parameters are decoded in ``forward`` from uint8 codes.

    The owning module of each coded parameter keeps its class's behaviour: the parameter is removed and
    its name becomes a property of a per-instance subclass returning the decoder's output, so layers
    read ``self.weight`` (or ``self.w1[:length]``) as before. A ``BloomProjection`` table decodes only the
    gathered rows (``rows``), never the whole table.
    """
    copied = copy.deepcopy(model).eval()
    modules = dict(copied.named_modules())
    for name, tensor in encoded.items():
        if isinstance(tensor, np.ndarray):
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = modules.get(owner_name)
        if owner is None or attr not in owner._parameters:
            raise ExportError(f"{name}: coded tensor names no parameter of {type(model).__name__}")
        if not isinstance(tensor, OrbitalTensor):
            raise ExportError(f"{name}: scheme {tensor.scheme} does not decode in the graph")
        del owner._parameters[attr]
        owner.add_module(f"{attr}_orbital", OrbitalDecoder(tensor))
        _expose(owner, attr)
    return copied


def _expose(owner: nn.Module, attr: str) -> None:
    decoder = f"{attr}_orbital"
    members: dict[str, Any] = {attr: property(lambda self: getattr(self, decoder)())}
    if isinstance(owner, BloomProjection) and attr == "table":
        members["rows"] = lambda self, features: getattr(self, decoder).rows(features)
    base = type(owner)
    owner.__class__ = type(f"Orbital{base.__name__}", (base,), members)


def _layer_dict(row: LayerReport) -> dict[str, Any]:
    return {"name": row.name, "shape": list(row.shape), "scheme": row.scheme,
            "sqnr_db": None if math.isinf(row.sqnr_db) else round(row.sqnr_db, 3),
            "int8_sqnr_db": None if row.int8_sqnr_db is None else round(row.int8_sqnr_db, 3),
            "sigma": row.sigma, "period": row.period, "bytes_fp32": row.bytes_fp32,
            "bytes_coded": row.bytes_coded, "reason": row.reason}


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 3) if values else None
