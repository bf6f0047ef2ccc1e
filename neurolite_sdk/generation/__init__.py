"""Text generation: the byte n-gram featurizer and the sampler (numpy only), and the causal model's
training, checkpoints and ``generate_text`` (torch, imported lazily).

``import neurolite_sdk.generation`` pulls in numpy only, so the runtime's torch-free ``generate``
(``neurolite_sdk.runtime.generation``) can share the host stages with training. The spec of the
featurizer, the step graph and the decoding is ``docs/generation.md``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["generate_text", "load_generator", "train_generator"]


def __getattr__(name: str) -> Any:
    if name == "generate_text":
        from neurolite_sdk.generation.api import generate_text

        return generate_text
    if name == "load_generator":
        from neurolite_sdk.generation.checkpoint import load_generator

        return load_generator
    if name == "train_generator":
        from neurolite_sdk.generation.train import train_generator

        return train_generator
    raise AttributeError(name)
