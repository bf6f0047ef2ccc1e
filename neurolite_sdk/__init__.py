"""NeuroLite SDK: tiny embedding-free language models for on-device use.

Layers, lowest first (imports only point down): the featurizer and the reasoning post-processors
(numpy), the model (torch), the orbital codec, the runtime, the exporters, benchmarks, the CLI.

``import neurolite_sdk as nl`` gives the commands as functions (``nl.train``, ``nl.evaluate``, ``nl.export``,
``nl.load(bundle).predict``, ``nl.bench``, ``nl.report``; ``neurolite_sdk.api``). They and the model API are
exposed lazily through a module-level ``__getattr__`` so that importing a torch-free
part of the SDK (``neurolite_sdk.featurizer``, ``neurolite_sdk.runtime``) never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "NeuroLiteConfig": "neurolite_sdk.config",
    "NeuroLiteModel": "neurolite_sdk.modeling.model",
    "NeuroLiteForClassification": "neurolite_sdk.modeling.model",
    "BloomFeaturizer": "neurolite_sdk.featurizer",
    "FeaturizerConfig": "neurolite_sdk.featurizer",
    # the commands as functions (neurolite_sdk.api): import neurolite_sdk as nl; nl.train(...)
    "train": "neurolite_sdk.api",
    "evaluate": "neurolite_sdk.api",
    "export": "neurolite_sdk.api",
    "load": "neurolite_sdk.api",
    "bench": "neurolite_sdk.api",
    "report": "neurolite_sdk.api",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neurolite_sdk' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
