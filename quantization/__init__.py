"""Weight quantization for NeuroLite models: Orbital 8-bit and the int8 references, numpy only.

* :class:`OrbitalCodec` / :class:`OrbitalTensor`: the project's codec, ``"orbital8"`` (one 8-bit index
  per weight into a per-tensor orbit table, times a per-channel scale).
* :class:`Int8Codec` / :class:`Int8Tensor`: per-channel symmetric ``"int8"``, the reference.
* :func:`quantize_state_dict` under a :class:`QuantPolicy`, with one :class:`LayerReport` per tensor;
  :func:`dequantize_state_dict` and :func:`dequantize` to get float32 weights back.
* :func:`pack_state` / :func:`unpack_state`: the stored form (named arrays + JSON metadata, what a
  safetensors file holds), specified in ``docs/orbital8.md``.
* :func:`sqnr_db`: the measure all of them are compared by.

Nothing here imports torch; ``neurolite_sdk.quantization.torch_wrapper`` is the torch side
(``quantize_model``, ``decode_into_model``).
"""

from neurolite_sdk.quantization.errors import QuantizationError
from neurolite_sdk.quantization.int8 import INT8_SCHEMES, Int8Codec, Int8Tensor
from neurolite_sdk.quantization.layout import FORMAT, METADATA_KEY, pack_state, unpack_state
from neurolite_sdk.quantization.metrics import sqnr_db
from neurolite_sdk.quantization.orbital import ORBITAL_SCHEMES, OrbitalCodec, OrbitalTensor
from neurolite_sdk.quantization.policy import (
    SCHEMES,
    LayerReport,
    QuantPolicy,
    codec_for,
    dequantize,
    dequantize_state_dict,
    quantize_state_dict,
)

__all__ = [
    "FORMAT",
    "INT8_SCHEMES",
    "METADATA_KEY",
    "ORBITAL_SCHEMES",
    "SCHEMES",
    "Int8Codec",
    "Int8Tensor",
    "LayerReport",
    "OrbitalCodec",
    "OrbitalTensor",
    "QuantPolicy",
    "QuantizationError",
    "codec_for",
    "dequantize",
    "dequantize_state_dict",
    "pack_state",
    "quantize_state_dict",
    "sqnr_db",
    "unpack_state",
]
