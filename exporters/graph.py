"""The exported graph's contract, defined once for every format.

    features int32 [batch, length, K], mask float32 [batch, length] -> logits float32 [batch, C]
                                                                        [predicates float32 [batch, P]]

``predicates`` (the predicate head's sigmoid scores) is there only when the model has the head
(``config.symbolic_predicates``); ``output_names`` says which outputs a model's graph returns.

``ClassifierGraph`` is the module every exporter traces: positional inputs in that order and a dict
output, so formats that name outputs from the returned structure (LiteRT, ONNX) name it "logits"
rather than ``output_0``. ``classifier_signature`` describes it for the manifest; ``export_program``
captures it with ``torch.export`` over the batch and length ranges a format supports.
"""

from __future__ import annotations

import torch
from torch import nn

from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.runtime.bundle import BATCH, LENGTH, DimRange, Signature, TensorSpec

INPUTS = ("features", "mask")
OUTPUTS = ("logits",)
PREDICATES = "predicates"


def output_names(model: NeuroLiteForClassification) -> tuple[str, ...]:
    """``("logits",)``, or ``("logits", "predicates")`` for a model with the predicate head."""
    return OUTPUTS + ((PREDICATES,) if model.symbolic is not None else ())


class ClassifierGraph(nn.Module):
    """``NeuroLiteForClassification`` reduced to the tensor forward that ships."""

    def __init__(self, model: NeuroLiteForClassification) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        output = self.model(features, mask)
        return {name: output[name] for name in output_names(self.model)}


def classifier_signature(name: str, model: NeuroLiteForClassification, batch: DimRange,
                         length: DimRange) -> Signature:
    hashes = model.config.num_hashes
    return Signature(name=name,
                     inputs=(TensorSpec("features", "int32", (BATCH, LENGTH, hashes)),
                             TensorSpec("mask", "float32", (BATCH, LENGTH))),
                     outputs=(TensorSpec("logits", "float32", (BATCH, model.num_labels)),
                              *((TensorSpec(PREDICATES, "float32", (BATCH, len(model.symbolic.predicates))),)
                                if model.symbolic is not None else ())),
                     batch=batch, length=length)


def example_inputs(model: NeuroLiteForClassification, batch: int,
                   length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Valid inputs of one shape for tracing (bucket ids in range, the last row partly padded)."""
    generator = torch.Generator().manual_seed(0)
    config = model.config
    features = torch.randint(0, config.num_buckets, (batch, length, config.num_hashes), generator=generator,
                             dtype=torch.int32)
    mask = torch.ones(batch, length)
    mask[-1, (length + 1) // 2:] = 0.0
    return features, mask


def export_program(model: NeuroLiteForClassification, batch: DimRange,
                   length: DimRange) -> torch.export.ExportedProgram:
    """``torch.export`` of the graph, dynamic along every range whose min and max differ."""
    sizes = {axis: _example_size(dim) for axis, dim in ((BATCH, batch), (LENGTH, length))}
    dims = {axis: torch.export.Dim(axis, min=dim.min, max=dim.max)
            for axis, dim in ((BATCH, batch), (LENGTH, length)) if not dim.static}
    per_input = {name: {i: dims[axis] for i, axis in enumerate((BATCH, LENGTH)) if axis in dims}
                 for name in INPUTS}
    args = example_inputs(model, sizes[BATCH], sizes[LENGTH])
    # strict=True: the non-strict tracer adds a guard (length != max_length) from slicing the
    # position-indexed weights, which rejects the full range; TorchDynamo proves the slice safe.
    graph = ClassifierGraph(model).eval()
    return torch.export.export(graph, args, dynamic_shapes=per_input if dims else None, strict=True)


def static_lengths(max_length: int) -> list[int]:
    """Token lengths for formats with fixed shapes: max_length, and a quarter of it for short texts.

    A short signature costs the file one more graph description (the weights are shared) and cuts
    batch-1 latency about threefold for a typical sentence (measured on the tiny preset).
    """
    return sorted({max(1, max_length // 4), max_length})


def _example_size(dim: DimRange) -> int:
    """A size inside the range that is neither 1 nor the maximum, so tracing does not specialise on it."""
    if dim.static:
        return dim.min
    upper = dim.min + 8 if dim.max is None else dim.max
    return max(dim.min, min(upper - 1, max(2, (dim.min + upper) // 2)))
