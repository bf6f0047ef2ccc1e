"""ExecuTorch: ``to_edge_transform_and_lower`` with the XNNPACK partitioner, static methods.

The program holds one method per fixed shape: ``forward`` at [1, max_length] and ``forward_l{n}`` at
[1, max_length / 4] for short texts; XNNPACK stores the weights once for both. The runtime pads and
splits. Measured on ExecuTorch 1.5.1: with batch and length both dynamic XNNPACK cannot lower the
graph (its reshape takes one dynamic dimension); with a dynamic batch alone every reshape stays
portable and the graph splits into 14 delegates; static, it lowers into 3 delegates at the same
batch-1 latency.

Before partitioning, constant propagation folds the slicing of the position-indexed token-mixing
weights (``w[:, :length]``) into plain constants; otherwise XNNPACK sees no static weight and leaves
those matrix products portable.

Every op XNNPACK does not take runs on ExecuTorch's portable kernels. The export fails if any of them
is not on the allow-list: by default the Bloom input gather (``embedding`` + ``sum`` with the reshape
and int64 cast around it) and the pooling ops ``amax``, ``squeeze_copy`` and ``unsqueeze_copy``, all of
which XNNPACK 1.5.1 rejects as the model writes them. ``--allow-portable OP`` replaces the list.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from neurolite_sdk.exporters.base import ExportArtifact, Exporter, ExportError, ExportJob, register_exporter
from neurolite_sdk.exporters.graph import classifier_signature, export_program, static_lengths
from neurolite_sdk.runtime.bundle import DimRange

FILE = "model.pte"
DEFAULT_ALLOWED_PORTABLE = ("embedding", "sum")  # the Bloom input gather; everything else is delegated


@register_exporter("executorch")
class ExecutorchExporter(Exporter):
    extra = "executorch"
    requires = ("executorch",)

    def export(self, job: ExportJob, out_dir: Path) -> ExportArtifact:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
        from executorch.exir.pass_manager import ExportedProgramPassManager

        allowed = DEFAULT_ALLOWED_PORTABLE if job.allow_portable is None else tuple(job.allow_portable)
        max_length = job.model.config.max_length
        signatures = [classifier_signature("forward" if n == max_length else f"forward_l{n}", job.model,
                                           DimRange(1, 1), DimRange(n, n))
                      for n in static_lengths(max_length)]
        programs = {s.name: export_program(job.model, s.batch, s.length) for s in signatures}
        edge = to_edge_transform_and_lower(programs, partitioner=[XnnpackPartitioner()],
                                           transform_passes=ExportedProgramPassManager([_fold_constants()]),
                                           constant_methods=job.metadata)
        methods = {name: _delegation(edge.exported_program(name).graph_module) for name in programs}
        refused: Counter[str] = Counter()
        for delegation in methods.values():
            refused.update({op: n for op, n in delegation["portable_ops"].items() if op not in allowed})
        if refused:
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(refused.items()))
            raise ExportError(f"executorch: XNNPACK left {ops} to portable kernels, and the allow-list "
                              f"({', '.join(allowed) or 'empty'}) does not include them; rewrite those ops "
                              f"in the model or pass --allow-portable for each")
        (out_dir / FILE).write_bytes(edge.to_executorch().buffer)
        return ExportArtifact(entry=FILE, signatures=tuple(signatures),
                              details={"backend": "XnnpackBackend", "methods": methods,
                                       "allowed_portable": list(allowed),
                                       "constant_methods": sorted(job.metadata)})


def _fold_constants() -> Any:
    """An ExportedProgram pass running ExecuTorch's constant propagation (weights sliced to constants)."""
    from executorch.exir.pass_base import ExportedProgramPassBase, ExportedProgramPassResult
    from executorch.exir.passes.constant_prop_pass import constant_prop_pass

    class FoldConstants(ExportedProgramPassBase):
        def call(self, exported_program: Any) -> ExportedProgramPassResult:
            return ExportedProgramPassResult(constant_prop_pass(exported_program), True)

    return FoldConstants()


def _delegation(graph_module: Any) -> dict[str, Any]:
    """Delegated op count and subgraphs (ExecuTorch's own count), and every op left outside, by name."""
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir.dialects.edge._ops import EdgeOpOverload

    info = get_delegation_info(graph_module)
    portable = Counter(node.target._schema.name.split("::")[-1] for node in graph_module.graph.nodes
                       if node.op == "call_function" and isinstance(node.target, EdgeOpOverload))
    return {"delegated_ops": info.num_delegated_nodes, "delegate_subgraphs": info.num_delegated_subgraphs,
            "portable_ops": dict(sorted(portable.items()))}
