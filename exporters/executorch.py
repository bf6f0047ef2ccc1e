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

Quantized exports (``job.quantize``):

* ``orbital8``: the graph of ``orbital_decoding_model``: uint8 codes, the 256-entry table and the
  per-channel scale/offset are program constants, decoded in the graph. Constant propagation would
  run that decode at export time and store float weights again, so for orbital8 it skips dtype casts,
  the decode's first op (nothing downstream of a skipped node folds); the export then checks that
  every coded tensor's codes are a uint8 constant of the program. XNNPACK takes only static weights
  for ``linear``/``addmm``, and a decoded weight is not static, so the coded ``nn.Linear`` layers are
  written as ``bmm`` (which XNNPACK delegates with both operands computed). ``T[code]`` is computed
  from the orbit (``sin`` of an affine function of the code, delegated) rather than gathered from the
  table (``index_select``, portable): 2.2 ms a call instead of 7.2 ms on the tiny model (``forward``, 64
  tokens, one thread; fp32 0.69 ms, int8 0.43 ms). What stays on
  portable kernels (the uint8 -> float cast, the Bloom rows' ``index_select``, the ``expand``/
  ``unsqueeze`` feeding ``bmm``) is ``ORBITAL8_PORTABLE``, added to the allow-list for these exports.
  The decode runs on every call; ``docs/orbital8.md`` has the latency it costs.
* ``int8``: the PT2E XNNPACK quantizer (``XNNPACKQuantizer`` with
  ``get_symmetric_quantization_config(is_per_channel=True)``, ``prepare_pt2e``/``convert_pt2e`` from
  ``torchao.quantization.pt2e``), calibrated on ``job.calibration`` texts at each method's length;
  XNNPACK runs the quantized ``linear`` layers as int8 kernels. Only ``nn.Linear`` layers with at least
  ``job.policy.min_elements`` (default 4,096) weights are annotated (the orbital8 size rule): with the quantizer set
  globally it also quantized ChannelNorm's averaging products and the model fell to 56% top-1
  agreement with fp32. XNNPACK has no int8 gather, so the Bloom table is stored int8 with a scale per
  column and gathered on portable kernels, the rows' sum scaled after the gather (``_int8_table``). The
  MLP-Mixer token mixing (weights used in ``matmul``, not ``nn.Linear``) is exported as two linear layers at
  each method's length, so it is quantized as the channel MLPs are (``_token_mixing_as_linears``): on ``tiny``
  the file falls from 0.302 to 0.281 of fp32.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk.exporters.base import (
    CodeCheck,
    CodedWeights,
    ExportDetails,
    Exporter,
    ExportError,
    ExportJob,
    NativeRecipe,
    register_exporter,
)
from neurolite_sdk.exporters.graph import (
    ClassifierGraph,
    classifier_signature,
    example_inputs,
    export_program,
    static_lengths,
)
from neurolite_sdk.quantization import OrbitalTensor, QuantPolicy
from neurolite_sdk.quantization.policy import EncodedState
from neurolite_sdk.runtime.bundle import DimRange, Signature

TABLE = "neurolite.projection.table"  # the Bloom table's parameter name

FILE = "model.pte"
DEFAULT_ALLOWED_PORTABLE = ("embedding", "sum")  # the Bloom input gather; everything else is delegated
# The in-graph decode of orbital8 codes: the uint8 -> float cast, the Bloom rows' gather, and the broadcasting
# of the decoded weights into ``bmm``. Added to the default list for --quantize orbital8.
ORBITAL8_PORTABLE = ("_to_dim_order_copy", "index_select", "expand_copy", "unsqueeze_copy", "view_copy")
# The int8 Bloom table: the int8 -> float cast of the gathered rows (before their sum, portable as before).
INT8_TABLE_PORTABLE = ("_to_dim_order_copy",)


@register_exporter("executorch")
class ExecutorchExporter(Exporter):
    entry = FILE
    extra = "executorch"
    requires = ("executorch",)
    quantizations = ("none", "int8", "orbital8")
    native_keep_float = True  # its int8 asks the policy for every weight it codes (_coded)

    def signatures(self, job: ExportJob) -> tuple[Signature, ...]:
        max_length = job.model.config.max_length
        return tuple(classifier_signature("forward" if n == max_length else f"forward_l{n}", job.model,
                                          DimRange(1, 1), DimRange(n, n)) for n in static_lengths(max_length))

    def export_fp32(self, job: ExportJob, signatures: tuple[Signature, ...]) -> _Lowered:
        programs = {s.name: export_program(job.model, s.batch, s.length) for s in signatures}
        return _lower(job, programs, DEFAULT_ALLOWED_PORTABLE)

    def native_quantize(self, job: ExportJob, signatures: tuple[Signature, ...]) -> tuple[_Lowered, NativeRecipe]:
        if not job.calibration:
            raise ExportError("executorch: --quantize int8 calibrates activations and needs calibration texts")
        annotated = _int8_linears(job)
        table = dict(job.model.named_parameters()).get(TABLE)
        model = _int8_table(job.model) if table is not None and _coded(job.policy, TABLE, table) else job.model
        programs, mixing_linears = {}, set()
        for s in signatures:
            with _token_mixing_as_linears(model, s.length.min, job.policy) as linears:  # the same names each time
                programs[s.name] = _int8_program(job, model, s, annotated + linears)
                mixing_linears.update(linears)
        recipe = NativeRecipe("int8", "PT2E XNNPACKQuantizer, symmetric per-channel int8 weights, static int8 "
                                      "activations (the MLP-Mixer token mixing as linear layers at each "
                                      "signature's length); the Bloom table int8 with a scale per column, its "
                                      "gathered rows' sum scaled", calibration_texts=len(job.calibration),
                              coded_tensors=len(annotated) + len(mixing_linears) + int(model is not job.model))
        return _lower(job, programs, DEFAULT_ALLOWED_PORTABLE + INT8_TABLE_PORTABLE), recipe

    def lower_orbital8(self, job: ExportJob, signatures: tuple[Signature, ...], coded: CodedWeights) -> _Lowered:
        from neurolite_sdk.exporters.quantize import orbital_decoding_model

        model = _linears_as_bmm(_orbit_decoders(orbital_decoding_model(job.model, coded.encoded), coded.encoded))
        programs = {s.name: export_program(model, s.batch, s.length) for s in signatures}
        return _lower(job, programs, DEFAULT_ALLOWED_PORTABLE + ORBITAL8_PORTABLE, keep_codes=True)

    def check_codes(self, job: ExportJob, draft: _Lowered, path: Path, coded: CodedWeights) -> CodeCheck:
        return _check_codes(draft.edge, list(draft.methods), coded.encoded)

    def write(self, job: ExportJob, signatures: tuple[Signature, ...], draft: _Lowered,
              out_dir: Path) -> ExecutorchDetails:
        (out_dir / FILE).write_bytes(draft.edge.to_executorch().buffer)
        return ExecutorchDetails(methods=draft.methods, allowed_portable=list(draft.allowed),
                                 constant_methods=sorted(job.metadata))


@dataclass
class Delegation:
    """One method's split between XNNPACK and the portable kernels (ExecuTorch's own count)."""

    delegated_ops: int
    delegate_subgraphs: int
    portable_ops: dict[str, int]  # every op left outside the delegate, by name


@dataclass
class ExecutorchDetails(ExportDetails):
    backend: str = "XnnpackBackend"
    methods: dict[str, Delegation] = field(default_factory=dict)
    allowed_portable: list[str] = field(default_factory=list)  # the allow-list the export was checked against
    constant_methods: list[str] = field(default_factory=list)

    def notes(self, fmt: str) -> list[str]:
        lines = []
        for method, delegation in self.methods.items():
            portable = ", ".join(f"{op} x{n}" for op, n in delegation.portable_ops.items()) or "none"
            lines.append(f"{fmt} {method}: {delegation.delegated_ops} ops delegated to XNNPACK in "
                         f"{delegation.delegate_subgraphs} subgraph(s); portable kernels: {portable}")
        return lines + [f"{fmt}: ops allowed on portable kernels: {', '.join(self.allowed_portable) or 'none'}"]


@dataclass
class _Lowered:
    """The draft: every method lowered to XNNPACK, and where each method's ops went."""

    edge: Any  # executorch.exir.EdgeProgramManager
    methods: dict[str, Delegation]
    allowed: tuple[str, ...]


def _lower(job: ExportJob, programs: dict[str, Any], default_allowed: tuple[str, ...],
           keep_codes: bool = False) -> _Lowered:
    """Lower ``programs`` (one per method) with the XNNPACK partitioner and refuse any op left on portable
    kernels that the allow-list (``job.allow_portable``, else ``default_allowed``) does not name."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.exir.pass_manager import ExportedProgramPassManager

    allowed = default_allowed if job.allow_portable is None else tuple(job.allow_portable)
    edge = to_edge_transform_and_lower(programs, partitioner=[XnnpackPartitioner()],
                                       transform_passes=ExportedProgramPassManager([_fold_constants(keep_codes)]),
                                       constant_methods=job.metadata)
    methods = {name: _delegation(edge.exported_program(name).graph_module) for name in programs}
    refused: Counter[str] = Counter()
    for delegation in methods.values():
        refused.update({op: n for op, n in delegation.portable_ops.items() if op not in allowed})
    if refused:
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(refused.items()))
        raise ExportError(f"executorch: XNNPACK left {ops} to portable kernels, and the allow-list "
                          f"({', '.join(allowed) or 'empty'}) does not include them; rewrite those ops "
                          f"in the model or pass --allow-portable for each")
    return _Lowered(edge, methods, allowed)


ORBIT_TOLERANCE = 1e-6  # |T(code) computed from the orbit - stored table entry|, in units of the row scale


def _orbit_decoders(model: Any, encoded: dict[str, Any]) -> Any:
    """Make each decoder compute ``T[code]`` from the orbit instead of gathering it from the table.

    ``T[i] = k·sin(a·m − σ·sin(2a·m))`` with ``m = 128 − i``, ``a = 2π/Z`` and ``k = −1/sin(127a − σ·sin(254a))``
    (the table's definition, ``docs/orbital8.md``, written around the quarter turn). That is a uint8 ->
    float cast (portable) and elementwise ``mul``/``sub``/``sin`` that XNNPACK delegates, where the table
    gather runs on portable ``index_select`` after a uint8 -> int64 cast: 0.24 ms instead of 0.96 ms for a
    320 x 160 weight and its product (measured). ``k`` is folded into the per-channel scale (one op fewer
    per tensor: the file stays under 0.30 of fp32). The codes and offsets are the same bytes; the stored
    table is checked against the formula here (float64, ``ORBIT_TOLERANCE``) and left out.
    """
    import torch

    from neurolite_sdk.exporters.quantize import OrbitalDecoder

    modules = dict(model.named_modules())
    for name, tensor in encoded.items():
        if not isinstance(tensor, OrbitalTensor):
            continue
        owner, _, attr = name.rpartition(".")
        decoder = modules[f"{owner}.{attr}_orbital"]
        step, sigma = 2 * math.pi / tensor.period, tensor.sigma
        gain = -1.0 / math.sin(127 * step - sigma * math.sin(254 * step))
        centred = (128 - np.arange(256, dtype=np.float64)) * step
        computed = gain * np.sin(centred - sigma * np.sin(2 * centred))
        error = float(np.abs(computed[1:] - tensor.tables[0][1:]).max())  # code 0 is never emitted
        if error > ORBIT_TOLERANCE:
            raise ExportError(f"executorch: {name}: its table is not the orbit (Z={tensor.period}, sigma={sigma}) "
                              f"within {ORBIT_TOLERANCE:g} ({error:.3g}); cannot decode it from the orbit")

        def lookup(self: OrbitalDecoder, codes: torch.Tensor, step: float = step,
                   sigma: float = sigma) -> torch.Tensor:
            centred = (128.0 - codes.float()) * step
            return torch.sin(centred - sigma * torch.sin(2.0 * centred))

        decoder.__class__ = type("OrbitDecoder", (type(decoder),), {"_lookup": lookup})
        decoder.scale.mul_(gain)  # k folded into the per-channel scale: one op fewer per tensor in the file
        del decoder._buffers["table"]  # unused now: not stored in the program
    return model


def _linears_as_bmm(model: Any) -> Any:
    """Make every ``nn.Linear`` whose weight is decoded in the graph compute ``bmm(x, Wᵀ) + b``.

    Same function (``x`` flattened to one batch of rows); XNNPACK delegates ``bmm`` with a computed
    operand, while ``linear`` with a non-constant weight falls to the portable ``addmm`` (one probe on the
    tiny model, default threads, a loaded machine: 51 ms a call, 23 ms with ``bmm``).
    """
    import torch
    from torch import nn

    def forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        rows = torch.bmm(x.reshape(1, -1, x.shape[-1]), weight.t().unsqueeze(0))
        out = rows.reshape(*x.shape[:-1], weight.shape[0])
        return out if self.bias is None else out + self.bias

    for module in model.modules():
        if isinstance(module, nn.Linear) and hasattr(module, "weight_orbital"):
            module.__class__ = type(f"Bmm{type(module).__name__}", (type(module),), {"forward": forward})
    return model


def _int8_linears(job: ExportJob) -> list[str]:
    """The ``nn.Linear`` layers the int8 recipe quantizes: those of at least ``job.policy.min_elements`` weights."""
    from torch import nn

    return [name for name, module in job.model.named_modules()
            if isinstance(module, nn.Linear) and _coded(job.policy, f"{name}.weight", module.weight)]


def _coded(policy: QuantPolicy, name: str, weight: Any) -> bool:
    """Whether ``policy`` codes the weight ``name`` (its size rule and its ``keep_float`` patterns)."""
    return policy.keep_reason(name, weight.detach().cpu().numpy()) is None



def _int8_table(model: Any) -> Any:
    """A copy of ``model`` whose Bloom table is int8, symmetric with one float scale per column: each call
    gathers the rows of its bucket ids as int8, casts and sums them, and scales the sum (the column scales
    times 1/sqrt(K), the multiply the float graph already has there). The gather, cast and sum run on
    portable kernels, as the float gather and sum do; the graph around them does not change. XNNPACK has no
    int8 gather, and the float table is most of the file: on ``tiny`` this takes the int8 program from 0.713
    to 0.302 of fp32."""
    import copy
    import types

    import torch
    import torch.nn.functional as F

    projection = getattr(getattr(model, "neurolite", None), "projection", None)
    if not isinstance(getattr(projection, "table", None), torch.nn.Parameter):
        return model  # no Bloom table of its own (nothing to quantize here)
    model = copy.deepcopy(model)
    projection = model.neurolite.projection
    table = projection.table.detach().to(torch.float32)
    scales = (table.abs().amax(dim=0) / 127.0).clamp(min=torch.finfo(torch.float32).tiny)
    codes = torch.round(table / scales).clamp(-127, 127).to(torch.int8)
    del projection._parameters["table"]
    projection.register_buffer("table_codes", codes)
    projection.register_buffer("table_scales", scales * projection.scale)

    def summed(self: Any, features: torch.Tensor) -> torch.Tensor:
        return F.embedding(features, self.table_codes).to(torch.float32).sum(dim=2) * self.table_scales

    projection.summed = types.MethodType(summed, projection)
    return model


def _mixer_token_mixings(model: Any) -> list[tuple[Any, str, Any]]:
    """(parent, attribute, module) of each MLP-Mixer token mixing in ``model``."""
    from neurolite_sdk.modeling.mixers import MixerTokenMixing

    return [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
            if isinstance(child, MixerTokenMixing)]


@contextlib.contextmanager
def _token_mixing_as_linears(model: Any, length: int, policy: QuantPolicy) -> Iterator[list[str]]:
    """Within the block, each MLP-Mixer token mixing of ``model`` (weights ``w1``/``w2`` [max_length, H] in
    ``matmul``) is the same computation as two ``nn.Linear`` layers at ``length`` tokens, which the PT2E
    quantizer annotates as it does the channel MLPs; yields the names of those whose full weight (``w1`` for
    ``fc1``, ``w2`` for ``fc2``) ``policy`` codes. Outside it the model is as it was. Without this
    the token mixing stayed fp32 in the int8 program (0.302 of the fp32 file on ``tiny``, 0.281 with it) while
    its manifest called those weights int8."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class LinearTokenMixing(nn.Module):
        def __init__(self, mixing: Any) -> None:
            super().__init__()
            hidden = mixing.w1.shape[1]
            self.fc1 = nn.Linear(length, hidden)
            self.fc2 = nn.Linear(hidden, length)
            with torch.no_grad():
                self.fc1.weight.copy_(mixing.w1[:length].t())
                self.fc1.bias.copy_(mixing.b1)
                self.fc2.weight.copy_(mixing.w2[:length])
                self.fc2.bias.copy_(mixing.b2[:length, 0])

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = F.gelu(self.fc1((x * mask.unsqueeze(-1)).transpose(1, 2)))  # [B, D, H]
            return self.fc2(hidden).transpose(1, 2)  # [B, l, D]

    found = _mixer_token_mixings(model)
    names = {id(module): name for name, module in model.named_modules()}
    coded = []
    for parent, attribute, mixing in found:
        setattr(parent, attribute, LinearTokenMixing(mixing).eval())
        name = names[id(mixing)]
        coded += [f"{name}.{linear}" for linear, weight in (("fc1", "w1"), ("fc2", "w2"))
                  if _coded(policy, f"{name}.{weight}", getattr(mixing, weight))]
    try:
        yield coded
    finally:
        for parent, attribute, mixing in found:
            setattr(parent, attribute, mixing)


def _int8_program(job: ExportJob, model: Any, signature: Signature, linears: list[str]) -> Any:
    """The PT2E-quantized graph of ``model`` at one static signature, its ``linears`` annotated, calibrated on
    the job's texts at its length."""
    import numpy as np
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    length = signature.length.min
    args = example_inputs(model, 1, length)
    captured = torch.export.export(ClassifierGraph(model).eval(), args, strict=True).module()
    config = get_symmetric_quantization_config(is_per_channel=True)
    quantizer = XNNPACKQuantizer()
    for name in linears:
        quantizer.set_module_name(f"model.{name}", config)
    prepared = prepare_pt2e(captured, quantizer)
    featurizer = job.model.featurizer
    with torch.no_grad():
        for text in job.calibration or []:
            batch = featurizer([text], max_length=length)
            features = np.zeros((1, length, batch.features.shape[2]), dtype=np.int32)
            mask = np.zeros((1, length), dtype=np.float32)
            features[:, :batch.features.shape[1]] = batch.features
            mask[:, :batch.mask.shape[1]] = batch.mask
            prepared(torch.from_numpy(features), torch.from_numpy(mask))
    converted = convert_pt2e(prepared)
    return torch.export.export(converted, args, strict=True)


def _check_codes(edge: Any, methods: list[str], encoded: EncodedState) -> CodeCheck:
    """Every coded tensor's codes must be a uint8 constant of each method; ``ExportError`` otherwise.

    Matched by element count: constant propagation flattens the codes (the decode's ``reshape(-1)``)."""
    import torch

    expected = Counter(t.codes.size for t in encoded.values() if isinstance(t, OrbitalTensor))
    uint8_bytes = 0
    for name in methods:
        program = edge.exported_program(name)
        tensors = [*program.state_dict.values(), *program.constants.values()]
        uint8 = [t for t in tensors if isinstance(t, torch.Tensor) and t.dtype == torch.uint8]
        missing = expected - Counter(t.numel() for t in uint8)
        if missing:
            sizes = ", ".join(f"{size} codes x{n}" for size, n in sorted(missing.items()))
            raise ExportError(f"executorch: --quantize orbital8: method {name}: the decode of "
                              f"{sum(missing.values())} of {sum(expected.values())} coded tensors was folded "
                              f"back into float weights (missing: {sizes}); the file would not shrink")
        uint8_bytes = max(uint8_bytes, sum(t.numel() for t in uint8))
    coded = sum(expected.values())
    return CodeCheck(coded_tensors=coded, stored_tensors=coded, code_bytes=uint8_bytes)


def _fold_constants(keep_codes: bool = False) -> Any:
    """An ExportedProgram pass running ExecuTorch's constant propagation (weights sliced to constants).

    ``keep_codes``: also skip dtype casts, the first op of the orbital8 decode (``codes.float()``, or
    ``codes.long()`` for the Bloom rows), so that the uint8 codes stay in the program and the decode
    runs on device.
    """
    from executorch.exir.dialects._ops import ops as exir_ops
    from executorch.exir.pass_base import ExportedProgramPassBase, ExportedProgramPassResult
    from executorch.exir.passes.constant_prop_pass import (
        constant_prop_pass,
        get_default_skip_targets_no_quant,
    )

    skip = None
    if keep_codes:
        skip = set(get_default_skip_targets_no_quant()) | {exir_ops.edge.aten._to_copy.default,
                                                  exir_ops.edge.dim_order_ops._to_dim_order_copy.default}

    class FoldConstants(ExportedProgramPassBase):
        def call(self, exported_program: Any) -> ExportedProgramPassResult:
            return ExportedProgramPassResult(constant_prop_pass(exported_program, custom_skip_targets=skip), True)

    return FoldConstants()


def _delegation(graph_module: Any) -> Delegation:
    """Delegated op count and subgraphs (ExecuTorch's own count), and every op left outside, by name."""
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir.dialects.edge._ops import EdgeOpOverload

    info = get_delegation_info(graph_module)
    portable = Counter(node.target._schema.name.split("::")[-1] for node in graph_module.graph.nodes
                       if node.op == "call_function" and isinstance(node.target, EdgeOpOverload))
    return Delegation(delegated_ops=info.num_delegated_nodes, delegate_subgraphs=info.num_delegated_subgraphs,
                      portable_ops=dict(sorted(portable.items())))
