"""Export the causal model's step graph: one byte's features in, logits and the updated state out.

    features int32 [1, K], conv_state float32 [1, N, W-1, D], rec_state float32 [1, N, D]
        -> logits float32 [1, 256], conv_state' (same shape), rec_state' (same shape)

The state is an explicit input and output (docs/design.md, decision 3), every shape is static, batch 1. The
host keeps the state between calls, runs the byte n-gram featurizer and samples (runtime/generation.py).

Formats: ONNX (``torch.onnx.export(dynamo=True)``), ExecuTorch (XNNPACK-lowered ``.pte``), LiteRT
(``litert_torch``, one signature ``step`` with named inputs and outputs) and Core ML (``mlprogram``,
fp32; structural checks only on Linux). Each export is checked on a fixed prompt (``PARITY_PROMPT``):
the exported file, run in its own runtime through ``runtime/generation.py``, is fed the same inputs as
PyTorch's ``step`` for every prompt byte and 32 greedy bytes after it; the largest |Δlogit| and
|Δstate| must be <= 1e-4 and every greedy byte the same, or the export fails (``force`` writes it
anyway and records the failure).

A step bundle is a directory: the model file, and ``generation.json`` (schema, format, config,
featurizer spec and digest, tensor signature, parity report, tool versions, SHA-256 of every file).
This module sits beside the per-format classifier exporters rather than in them: the step graph has
other inputs, outputs and checks, and holds one short function per format.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurolite_sdk.atomic import OutputKind, atomic_directory
from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.modeling.causal import CausalNeuroLiteLM, StepGraph
from neurolite_sdk.runtime.generation import (
    ENTRY_FILES,
    FORMATS,
    INPUTS,
    MANIFEST,
    OUTPUTS,
    SCHEMA,
    StepSession,
    open_session,
    step_signature,
)

PARITY_PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?\n"
PARITY_NEW_BYTES = 32
MAX_ABS_DIFF = 1e-4
STEP_BUNDLE = OutputKind("step bundle", lambda p: (p / MANIFEST).is_file())
REQUIRES = {"onnx": ("onnx", "onnxscript", "onnxruntime"), "executorch": ("executorch",),
            "tflite": ("litert-torch", "ai-edge-litert"), "coreml": ("coremltools",)}


class StepExportError(NeuroLiteError):
    """A step-graph export that cannot be done or did not verify; the message names the format."""


def example_inputs(model: CausalNeuroLiteLM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    config = model.config
    features = torch.randint(0, config.num_buckets, (1, config.num_hashes), generator=generator, dtype=torch.int32)
    conv, rec = (torch.randn(shape, generator=generator) * 0.1 for shape in model.state_shapes(1))
    return features, conv, rec


class _NamedStep(torch.nn.Module):
    """The step with a dict output, so LiteRT names its outputs rather than ``output_N``."""

    def __init__(self, model: CausalNeuroLiteLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, conv_state: torch.Tensor,
                rec_state: torch.Tensor) -> dict[str, torch.Tensor]:
        logits, conv, rec = self.model.step(features, conv_state, rec_state)
        return {"logits": logits, "conv_state_out": conv, "rec_state_out": rec}


def _export_onnx(model: CausalNeuroLiteLM, out_dir: Path) -> dict[str, Any]:
    import onnx

    program = torch.onnx.export(StepGraph(model).eval(), example_inputs(model), dynamo=True, input_names=list(INPUTS),
                                output_names=list(OUTPUTS), opset_version=18, external_data=False, verbose=False)
    proto = program.model_proto
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(out_dir / ENTRY_FILES["onnx"]), save_as_external_data=False)
    return {"opset": 18, "nodes": len(proto.graph.node)}


def _export_executorch(model: CausalNeuroLiteLM, out_dir: Path) -> dict[str, Any]:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = torch.export.export(StepGraph(model).eval(), example_inputs(model), strict=True)
    edge = to_edge_transform_and_lower({"forward": program}, partitioner=[XnnpackPartitioner()])
    graph = edge.exported_program("forward").graph_module.graph
    delegated = sum(1 for n in graph.nodes if n.op == "call_function" and "call_delegate" in str(n.target))
    portable: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_function" and "call_delegate" not in str(node.target) and "getitem" not in str(node.target):
            name = str(node.target).split(".")[-2] if "." in str(node.target) else str(node.target)
            portable[name] = portable.get(name, 0) + 1
    (out_dir / ENTRY_FILES["executorch"]).write_bytes(edge.to_executorch().buffer)
    return {"backend": "XnnpackBackend", "delegates": delegated, "portable_ops": portable}


def _export_tflite(model: CausalNeuroLiteLM, out_dir: Path) -> dict[str, Any]:
    import litert_torch

    from neurolite_sdk.modeling.layers import norms_by_mean

    features, conv, rec = example_inputs(model)
    converter = litert_torch.Converter()
    with norms_by_mean(model):  # MEAN, not FULLY_CONNECTED by an averaging row: 0.94-0.95x the step's time
        converter.signature("step", _NamedStep(model).eval(),
                            sample_kwargs={"features": features, "conv_state": conv, "rec_state": rec})
        (out_dir / ENTRY_FILES["tflite"]).write_bytes(converter.convert().model_content())
    return {"signature": "step"}


def _export_coreml(model: CausalNeuroLiteLM, out_dir: Path) -> dict[str, Any]:
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2

    program = torch.export.export(StepGraph(model).eval(), example_inputs(model), strict=True).run_decompositions({})
    spec_inputs = step_signature(model.config)["inputs"]
    inputs = [ct.TensorType(name=t["name"], dtype=np.int32 if t["dtype"] == "int32" else np.float32,
                            shape=tuple(t["shape"])) for t in spec_inputs]
    pipeline = ct.PassPipeline.DEFAULT
    pipeline.remove_passes(["common::fuse_linear_bias"])
    mlmodel = ct.convert(program, convert_to="mlprogram", inputs=inputs, pass_pipeline=pipeline,
                         outputs=[ct.TensorType(name=name, dtype=np.float32) for name in OUTPUTS],
                         compute_precision=ct.precision.FLOAT32, minimum_deployment_target=ct.target.iOS17)
    mlmodel.short_description = "NeuroLite causal byte-level language model: one step"
    mlmodel.save(str(out_dir / ENTRY_FILES["coreml"]))
    (out_dir / ENTRY_FILES["coreml"] / "executorch_debug_handle_mapping.json").unlink(missing_ok=True)
    spec = ct.models.MLModel(str(out_dir / ENTRY_FILES["coreml"]), skip_model_load=True).get_spec()
    declared = {i.name: tuple(i.type.multiArrayType.shape) for i in spec.description.input}
    problems = [f"input {t['name']}: shape {declared.get(t['name'])} != {tuple(t['shape'])}" for t in spec_inputs
                if declared.get(t["name"]) != tuple(t["shape"])]
    outputs = [o.name for o in spec.description.output]
    if outputs != list(OUTPUTS):
        problems.append(f"outputs {outputs} != {list(OUTPUTS)}")
    array = FeatureTypes_pb2.ArrayFeatureType
    if spec.description.input[0].type.multiArrayType.dataType != array.INT32:
        problems.append("features is not int32")
    if problems:
        raise StepExportError(f"coreml: the saved package does not match the step signature: {'; '.join(problems)}")
    ops: dict[str, int] = {}
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                ops[op.type] = ops.get(op.type, 0) + 1
    return {"structure": "inputs, outputs, dtypes and shapes match", "ops": ops,
            "compute_precision": "fp32", "deployment_target": "iOS17"}


EXPORTERS: dict[str, Callable[[CausalNeuroLiteLM, Path], dict[str, Any]]] = {
    "onnx": _export_onnx, "executorch": _export_executorch, "tflite": _export_tflite, "coreml": _export_coreml}


@torch.no_grad()
def measure_step_parity(model: CausalNeuroLiteLM, session: StepSession, prompt: str = PARITY_PROMPT,
                        new_bytes: int = PARITY_NEW_BYTES) -> dict[str, Any]:
    """Feed PyTorch's step and the exported file the same inputs over ``prompt`` plus ``new_bytes`` greedy
    bytes (chosen by PyTorch); the largest differences and whether every greedy byte agrees."""
    from neurolite_sdk.generation.featurizer import step_features

    fconfig = model.config.featurizer_config()
    history = bytearray(prompt.encode("utf-8"))
    conv, rec = model.initial_state(1)
    ext_conv, ext_rec = (np.zeros(tuple(s), dtype=np.float32) for s in model.state_shapes(1))
    worst_logit = worst_state = 0.0
    agree, steps = True, 0
    length = len(history)
    for i in range(length + new_bytes):
        features = step_features(bytes(history[: i + 1]), fconfig)
        logits, conv, rec = model.step(torch.from_numpy(features), conv, rec)
        ext_logits, ext_conv, ext_rec = session.step(features, ext_conv, ext_rec)
        worst_logit = max(worst_logit, float(np.abs(ext_logits - logits.numpy()).max()))
        worst_state = max(worst_state, float(np.abs(ext_conv - conv.numpy()).max()),
                          float(np.abs(ext_rec - rec.numpy()).max()))
        steps += 1
        if i >= length - 1 and i < length + new_bytes - 1:
            choice = int(logits[0].argmax())
            agree &= choice == int(np.argmax(ext_logits[0]))
            history.append(choice)
    passed = worst_logit <= MAX_ABS_DIFF and worst_state <= MAX_ABS_DIFF and agree
    return {"prompt": prompt, "steps": steps, "max_abs_logit_diff": worst_logit, "max_abs_state_diff": worst_state,
            "greedy_bytes_identical": agree, "threshold": MAX_ABS_DIFF, "passed": passed}


def export_step_bundle(model: CausalNeuroLiteLM, fmt: str, out_dir: str | Path, *, overwrite: bool = False,
                       force: bool = False) -> dict[str, Any]:
    """Export, verify parity in the format's runtime (Core ML: structure only off macOS), write the bundle."""
    if fmt not in FORMATS:
        raise StepExportError(f"--format: {fmt!r} is not a step-graph format (known: {', '.join(FORMATS)})")
    versions = {}
    for distribution in REQUIRES[fmt]:
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError as exc:
            raise StepExportError(f"{fmt}: needs the package {distribution!r} (pip install "
                                  f"'neurolite-sdk[{fmt}]')") from exc
    versions["torch"] = torch.__version__
    model = model.eval()
    config = model.config
    featurizer = config.featurizer_config()
    with atomic_directory(out_dir, STEP_BUNDLE, overwrite=overwrite) as staging:
        try:
            details = EXPORTERS[fmt](model, staging)
        except StepExportError:
            raise
        except Exception as exc:  # a converter failure: name the format and the cause on one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StepExportError(f"{fmt}: export failed ({first[:300]})") from exc
        manifest: dict[str, Any] = {
            "schema": SCHEMA, "format": fmt, "entry": ENTRY_FILES[fmt], "task": "generation",
            "config": config.to_dict(), "featurizer": {**featurizer.to_dict(), "digest": featurizer.digest()},
            "signature": step_signature(config), "details": details, "versions": versions}
        if fmt == "coreml" and platform.system() != "Darwin":
            parity: dict[str, Any] = {"passed": None, "skipped": "needs macOS (structural checks passed)"}
        else:
            manifest["files"] = _checksums(staging)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
            session = open_session(staging)
            parity = measure_step_parity(model, session)
            if not parity["passed"] and not force:
                raise StepExportError(f"{fmt}: parity failed on the fixed prompt: max |Δlogit| "
                                      f"{parity['max_abs_logit_diff']:.3g}, max |Δstate| "
                                      f"{parity['max_abs_state_diff']:.3g}"
                                      f" (threshold {MAX_ABS_DIFF}), greedy bytes identical: "
                                      f"{parity['greedy_bytes_identical']}; pass --force to write it anyway")
        manifest["parity"] = parity
        (staging / MANIFEST).unlink(missing_ok=True)
        manifest["files"] = _checksums(staging)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n",
                                        encoding="utf-8")
    return manifest


def _checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
