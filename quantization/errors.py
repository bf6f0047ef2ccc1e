"""The one error the quantization package raises for bad input."""

from __future__ import annotations

from neurolite_sdk.errors import NeuroLiteError


class QuantizationError(NeuroLiteError):
    """A tensor or encoded layout the codecs cannot take; the message names the tensor and the fix.

    A subclass of ``ValueError`` (through ``NeuroLiteError``), so the CLI reports it as one line.
    """
