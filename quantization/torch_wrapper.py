"""The torch side of the codec, for code that already has torch: code a model's parameters, load decoded ones.

Imported only by its callers, never by ``neurolite_sdk.quantization`` itself, so the numpy core and the
runtime stay torch-free. Only parameters are coded: buffers (DFT matrices, averaging vectors,
positional tables) are computed constants and keep full precision.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from neurolite_sdk.quantization.errors import QuantizationError
from neurolite_sdk.quantization.policy import (
    CodedTensor,
    EncodedState,
    LayerReport,
    QuantPolicy,
    Scheme,
    dequantize,
    quantize_state_dict,
)


def quantize_model(model: nn.Module, scheme: Scheme = "orbital8",
                   policy: QuantPolicy | None = None) -> tuple[EncodedState, list[LayerReport]]:
    """``quantize_state_dict`` over ``model.named_parameters()`` (a shared one once), as float32 numpy."""
    state = {name: param.detach().to("cpu", torch.float32).numpy()
             for name, param in model.named_parameters()}
    return quantize_state_dict(state, scheme, policy)


@torch.no_grad()
def decode_into_model(model: nn.Module, encoded: Mapping[str, CodedTensor | np.ndarray]) -> nn.Module:
    """Overwrite each named parameter or buffer of ``model`` with its decoded value, in place.

    Every name in ``encoded`` must exist in the model with the same shape (``QuantizationError``
    otherwise, before anything is written); tensors keep their own dtype and device.
    """
    targets = dict(model.named_buffers())
    targets.update(model.named_parameters())
    decoded = {name: dequantize(tensor) for name, tensor in encoded.items()}
    for name, array in decoded.items():
        if name not in targets:
            raise QuantizationError(f"{name}: no such parameter or buffer in {type(model).__name__}")
        if tuple(targets[name].shape) != array.shape:
            raise QuantizationError(f"{name}: decoded shape {array.shape} does not fit the model's "
                                    f"{tuple(targets[name].shape)}")
    for name, array in decoded.items():
        targets[name].copy_(torch.tensor(array))
    return model
