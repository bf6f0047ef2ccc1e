"""The exported graph's contract, defined once for every format.

    features int32 [batch, length, K], mask float32 [batch, length] -> logits float32 [batch, C]
                                                                        [predicates float32 [batch, P]]

``predicates`` (the predicate head's sigmoid scores) is there only when the model has the head
(``config.symbolic_predicates``); ``output_names`` says which outputs a model's graph returns.

A multimodal model (``config.use_multimodal_input``, modeling/multimodal.py) takes, after those two, the
presence mask and one tensor per enabled non-text modality (``input_names``; shapes in
neurolite_sdk/multimodal_inputs.py); they have a batch axis and no token axis.

A model with memory (``config.use_external_memory``, modeling/memory.py) takes its state and a write flag
after those, and returns the read distribution and the next state after its other outputs:

    memory_keys, memory_values [batch, S, M], memory_valid, memory_usage, memory_cursor [batch, S],
    memory_write [batch] -> memory_attention [batch, S], next_memory_keys ... next_memory_cursor

so the graph stays pure (the runtime keeps the state, ``runtime/memory.py``) and every shape is static
but the batch and token axes.

``ClassifierGraph`` is the module every exporter traces: positional inputs in that order and a dict
output, so formats that name outputs from the returned structure (LiteRT, ONNX) name it "logits"
rather than ``output_0``. ``classifier_signature`` describes it for the manifest; ``export_program``
captures it with ``torch.export`` over the batch and length ranges a format supports.
"""

from __future__ import annotations

import torch
from torch import nn

from neurolite_sdk.modeling.memory import STATE
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.runtime.bundle import BATCH, LENGTH, DimRange, Signature, TensorSpec

INPUTS = ("features", "mask")
OUTPUTS = ("logits",)
PREDICATES = "predicates"
MEMORY_INPUTS = tuple(f"memory_{name}" for name in STATE) + ("memory_write",)
MEMORY_OUTPUTS = ("memory_attention", *(f"next_memory_{name}" for name in STATE))


def input_names(model: NeuroLiteForClassification) -> tuple[str, ...]:
    """``("features", "mask")``, then, for a multimodal model, ``presence`` and its modalities' tensors, for a
    model with memory, its state and write flag."""
    multimodal = model.neurolite.multimodal
    return (INPUTS + (multimodal.spec.graph_names() if multimodal is not None else ())
            + (MEMORY_INPUTS if model.memory is not None else ()))


def output_names(model: NeuroLiteForClassification) -> tuple[str, ...]:
    """``("logits",)``, then ``"predicates"`` for a model with the predicate head, the memory outputs for one
    with memory."""
    return (OUTPUTS + ((PREDICATES,) if model.symbolic is not None else ())
            + (MEMORY_OUTPUTS if model.memory is not None else ()))


class ClassifierGraph(nn.Module):
    """``NeuroLiteForClassification`` reduced to the tensor forward that ships."""

    def __init__(self, model: NeuroLiteForClassification) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, mask: torch.Tensor, presence: torch.Tensor | None = None,
                image: torch.Tensor | None = None, audio: torch.Tensor | None = None,
                video: torch.Tensor | None = None, memory_keys: torch.Tensor | None = None,
                memory_values: torch.Tensor | None = None, memory_valid: torch.Tensor | None = None,
                memory_usage: torch.Tensor | None = None, memory_cursor: torch.Tensor | None = None,
                memory_write: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        given = {"presence": presence, "image": image, "audio": audio, "video": video}
        modalities = {name: value for name, value in given.items() if value is not None} or None
        if self.model.memory is None:
            output = self.model(features, mask, modalities=modalities)
        else:
            state = dict(zip(STATE, (memory_keys, memory_values, memory_valid, memory_usage, memory_cursor),
                             strict=True))
            output = self.model(features, mask, modalities=modalities, memory=state, update_memory=memory_write)
            output.update({f"next_memory_{name}": value for name, value in output.pop("memory").items()})
        return {name: output[name] for name in output_names(self.model)}


def classifier_signature(name: str, model: NeuroLiteForClassification, batch: DimRange,
                         length: DimRange) -> Signature:
    hashes = model.config.num_hashes
    return Signature(name=name,
                     inputs=(TensorSpec("features", "int32", (BATCH, LENGTH, hashes)),
                             TensorSpec("mask", "float32", (BATCH, LENGTH)), *_modality_specs(model),
                             *_memory_specs(model)),
                     outputs=(TensorSpec("logits", "float32", (BATCH, model.num_labels)),
                              *((TensorSpec(PREDICATES, "float32", (BATCH, len(model.symbolic.predicates))),)
                                if model.symbolic is not None else ()), *_memory_outputs(model)),
                     batch=batch, length=length)


def _memory_specs(model: NeuroLiteForClassification) -> tuple[TensorSpec, ...]:
    if model.memory is None:
        return ()
    shapes = model.memory.state_shapes(1)
    return (*(TensorSpec(f"memory_{name}", "float32", (BATCH, *shapes[name][1:])) for name in STATE),
            TensorSpec("memory_write", "float32", (BATCH,)))


def _memory_outputs(model: NeuroLiteForClassification) -> tuple[TensorSpec, ...]:
    if model.memory is None:
        return ()
    return (TensorSpec("memory_attention", "float32", (BATCH, model.memory.slots)),
            *(TensorSpec(f"next_{t.name}", "float32", t.shape) for t in _memory_specs(model)[:-1]))


def _modality_specs(model: NeuroLiteForClassification) -> tuple[TensorSpec, ...]:
    multimodal = model.neurolite.multimodal
    if multimodal is None:
        return ()
    spec = multimodal.spec
    return (TensorSpec("presence", "float32", (BATCH, len(spec.modalities))),
            *(TensorSpec(name, "float32", (BATCH, *spec.item_shape(name))) for name in spec.graph_names()[1:]))


def example_kwargs(model: NeuroLiteForClassification, batch: int, length: int) -> dict[str, torch.Tensor]:
    """``example_inputs`` by name (every input of a multimodal graph; the presence mask varies by row)."""
    values = dict(zip(INPUTS, example_inputs(model, batch, length), strict=False))
    for spec in _modality_specs(model):
        shape = tuple(batch if dim == BATCH else dim for dim in spec.shape)
        values[spec.name] = torch.rand(shape, generator=torch.Generator().manual_seed(len(values)))
    if "presence" in values:
        values["presence"] = (values["presence"] > 0.3).float()
        values["presence"][:, 0] = 1.0
    if model.memory is not None:  # a partly filled memory whose rows write
        values.update({f"memory_{name}": value for name, value in example_memory(model, batch).items()})
        values["memory_write"] = torch.ones(batch)
    return values


def example_memory(model: NeuroLiteForClassification, batch: int) -> dict[str, torch.Tensor]:
    """A valid memory state (unit keys, about half the slots valid, some use, one cursor) for tracing."""
    generator = torch.Generator().manual_seed(1)
    state = model.memory.empty_state(batch)
    keys = torch.randn(state["keys"].shape, generator=generator)
    valid = (torch.rand(state["valid"].shape, generator=generator) > 0.5).float()
    state.update(keys=keys / keys.norm(dim=-1, keepdim=True) * valid.unsqueeze(-1),
                 values=torch.randn(state["values"].shape, generator=generator) * valid.unsqueeze(-1),
                 valid=valid, usage=torch.rand(state["usage"].shape, generator=generator) * 2 * valid)
    return state


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
    if model.neurolite.multimodal is None and model.memory is None:
        return torch.export.export(graph, args, dynamic_shapes=per_input if dims else None, strict=True)
    # multimodal, memory: the modality tensors, the memory state by keyword (the graph takes the enabled
    # ones, in input_names order)
    kwargs = {name: value for name, value in example_kwargs(model, sizes[BATCH], sizes[LENGTH]).items()
              if name not in INPUTS}
    per_input.update({name: {0: dims[BATCH]} if BATCH in dims else None for name in kwargs})
    return torch.export.export(graph, args, kwargs, dynamic_shapes=per_input if dims else None, strict=True)


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
