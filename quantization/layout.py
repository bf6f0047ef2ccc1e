"""The stored form of an encoded state dict: flat named arrays plus one JSON metadata string.

That is exactly what a safetensors file holds (``safetensors.numpy.save_file(arrays, path, metadata)``),
so a coded checkpoint needs no format of its own and no pickle. A coded tensor ``W`` becomes the arrays
``W.codes``, ``W.scale`` [, ``W.offset``], ``W.tables`` (orbital8) or ``W.codes``, ``W.scale`` (int8),
and an entry ``tensors[W]`` in the JSON under ``METADATA_KEY`` with its
scheme, shape and orbit parameters; a kept tensor is stored under its own name. ``docs/orbital8.md``
states each array.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from neurolite_sdk.quantization.errors import QuantizationError
from neurolite_sdk.quantization.int8 import Int8Tensor
from neurolite_sdk.quantization.orbital import ORBITAL_SCHEMES, OrbitalTensor
from neurolite_sdk.quantization.policy import CodedTensor, EncodedState

FORMAT = "neurolite-quant/1"
METADATA_KEY = "neurolite.quantization"


def pack_state(
        encoded: Mapping[str, CodedTensor | np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(arrays, metadata)`` for ``encoded``; ``QuantizationError`` when a kept name collides with a part."""
    arrays: dict[str, np.ndarray] = {}
    entries: dict[str, dict[str, object]] = {}
    for name, tensor in encoded.items():
        if isinstance(tensor, np.ndarray):
            parts, entry = {"": tensor}, None
        elif isinstance(tensor, OrbitalTensor):
            parts = {".codes": tensor.codes, ".scale": tensor.scale, ".tables": tensor.tables}
            if tensor.offset is not None:
                parts[".offset"] = tensor.offset
            entry = {"scheme": tensor.scheme, "shape": list(tensor.shape), "sigma": tensor.sigma,
                     "period": tensor.period, "offset": tensor.offset is not None}
        else:
            parts = {".codes": tensor.codes, ".scale": tensor.scale}
            entry = {"scheme": tensor.scheme, "shape": list(tensor.shape)}
        for suffix, array in parts.items():
            key = name + suffix
            if key in arrays or (suffix and key in encoded):
                raise QuantizationError(f"{key}: name used twice in the packed state; rename the tensor")
            arrays[key] = array
        if entry is not None:
            entries[name] = entry
    return arrays, {METADATA_KEY: json.dumps({"format": FORMAT, "tensors": entries}, sort_keys=True)}


def unpack_state(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> EncodedState:
    """The encoded state from ``pack_state``'s output; ``QuantizationError`` names what is wrong."""
    try:
        header = json.loads(metadata[METADATA_KEY])
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise QuantizationError(f"{METADATA_KEY}: missing or not JSON in the metadata ({error})") from None
    if header.get("format") != FORMAT:
        raise QuantizationError(f"{METADATA_KEY}: format {header.get('format')!r}, expected {FORMAT!r}")
    used: set[str] = set()
    encoded: EncodedState = {}

    def part(name: str, suffix: str) -> np.ndarray:
        if name + suffix not in arrays:
            raise QuantizationError(f"array {name + suffix!r} is missing")
        used.add(name + suffix)
        return np.asarray(arrays[name + suffix])

    for name, entry in header.get("tensors", {}).items():
        try:
            scheme, shape = entry["scheme"], tuple(int(d) for d in entry["shape"])
            if scheme in ORBITAL_SCHEMES:
                offset = part(name, ".offset") if entry["offset"] else None
                encoded[name] = OrbitalTensor(scheme, part(name, ".codes"), part(name, ".scale"), offset,
                                              part(name, ".tables"), shape, float(entry["sigma"]),
                                              int(entry["period"]))
            else:
                encoded[name] = Int8Tensor(scheme, part(name, ".codes"), part(name, ".scale"), shape)
        except QuantizationError as error:
            raise QuantizationError(f"{name}: {error}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise QuantizationError(f"{name}: malformed entry in {METADATA_KEY} ({error!r})") from None
    for key, array in arrays.items():
        if key not in used:
            encoded[key] = np.asarray(array)
    return encoded
