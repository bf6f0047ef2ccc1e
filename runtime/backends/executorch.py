"""ExecuTorch bundles (.pte) on ``executorch.runtime``: the one backend that imports torch.

ExecuTorch's Python bindings take and return ``torch.Tensor`` values in positional order; this module
maps them to and from the manifest's named inputs and outputs. ``threads`` resizes ExecuTorch's
process-wide thread pool (the bindings expose no per-program setting).

A loaded method owns its planned memory (inputs, activations, outputs), so two concurrent calls on one
method would share it. The backend keeps a pool of loaded programs, one per concurrent call
(``runtime/instances.py``); ``Program.load_method`` caches per program, so each instance is a program
of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurolite_sdk.runtime.backends import Backend, register_backend
from neurolite_sdk.runtime.bundle import Bundle, Signature
from neurolite_sdk.runtime.errors import BundleError


@register_backend("executorch")
class ExecutorchBackend(Backend):
    """Loaded programs, each with a method per signature."""

    package = "executorch.runtime"
    distribution = "executorch"
    extra = "executorch"

    def __init__(self, bundle: Bundle, threads: int | None = None, instances: int | None = None) -> None:
        super().__init__(bundle, threads, instances)
        self.runtime = self.import_runtime()
        import torch

        self._torch = torch
        if threads is not None:
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

            _unsafe_reset_threadpool(threads)
        self._start_pool()

    def _open(self) -> dict[str, Any]:
        bundle = self.bundle
        try:
            program = self.runtime.Runtime.get().load_program(bundle.entry)
        except Exception as exc:  # the bindings raise RuntimeError/ValueError for unreadable programs
            raise BundleError(f"{bundle.entry}: ExecuTorch cannot load it ({exc})") from exc
        missing = [s.name for s in bundle.signatures if s.name not in program.method_names]
        if missing:
            raise BundleError(f"{bundle.entry}: methods {', '.join(missing)} are in the manifest but not in "
                              f"the program (it has: {', '.join(sorted(program.method_names))})")
        return {s.name: program.load_method(s.name) for s in bundle.signatures}

    def _run(self, instance: dict[str, Any], signature: Signature,
             inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [self._torch.from_numpy(inputs[t.name]) for t in signature.inputs]
        outputs = instance[signature.name].execute(args)
        return {t.name: value.numpy() for t, value in zip(signature.outputs, outputs, strict=True)}
