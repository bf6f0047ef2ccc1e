"""Core ML: an ML program converted from ``ExportedProgram.run_decompositions({})``, flexible shapes.

Batch (1..64) and length (1..max_length) are ``RangeDim`` inputs. Weights and compute are fp32 by
default (``ct.convert`` alone would store fp16); ``precision="fp16"`` asks for fp16.

Two coremltools 9.0 workarounds, both measured on this graph: the ``common::fuse_linear_bias`` pass
crashes on the scalar ``+ eps`` that follows ChannelNorm's variance ``linear`` (it reads the scalar as a
bias vector), so it is left out of the pass pipeline; and ``MLModel.save`` drops an
``executorch_debug_handle_mapping.json`` debug file into the package, which no runtime reads, so it is
removed.

Core ML runs only on macOS, so on other systems the package is checked structurally here: it reloads,
has the expected inputs and output with their types and ranges, gathers the Bloom rows in-graph, and
holds no tensor of the other precision. The op counts go into the manifest.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from neurolite_sdk.exporters.base import ExportArtifact, Exporter, ExportError, ExportJob, register_exporter
from neurolite_sdk.exporters.graph import classifier_signature, export_program
from neurolite_sdk.runtime.bundle import DimRange

PACKAGE = "model.mlpackage"
MAX_BATCH = 64
DEPLOYMENT_TARGET = "iOS15"  # the first ML program target (macOS 12)


@register_exporter("coreml")
class CoremlExporter(Exporter):
    extra = "coreml"
    requires = ("coremltools",)
    precisions = ("fp32", "fp16")

    def export(self, job: ExportJob, out_dir: Path) -> ExportArtifact:
        import coremltools as ct
        import numpy as np

        config = job.model.config
        batch, length = DimRange(1, MAX_BATCH), DimRange(1, config.max_length)
        program = export_program(job.model, batch, length).run_decompositions({})
        batch_dim = ct.RangeDim(batch.min, batch.max, default=1, symbol="batch")
        length_dim = ct.RangeDim(length.min, length.max, default=length.max, symbol="length")
        pipeline = ct.PassPipeline.DEFAULT
        pipeline.remove_passes(["common::fuse_linear_bias"])
        precision = ct.precision.FLOAT32 if job.precision == "fp32" else ct.precision.FLOAT16
        inputs = [ct.TensorType(name="features", dtype=np.int32,
                                shape=ct.Shape((batch_dim, length_dim, config.num_hashes))),
                  ct.TensorType(name="mask", dtype=np.float32, shape=ct.Shape((batch_dim, length_dim)))]
        model = ct.convert(program, convert_to="mlprogram", pass_pipeline=pipeline,
                           compute_precision=precision, inputs=inputs,
                           outputs=[ct.TensorType(name="logits", dtype=np.float32)],
                           minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET))
        model.user_defined_metadata.update(job.metadata)
        model.short_description = f"NeuroLite text classifier ({', '.join(job.labels)})"
        model.save(str(out_dir / PACKAGE))
        (out_dir / PACKAGE / "executorch_debug_handle_mapping.json").unlink(missing_ok=True)
        structure = _check_structure(out_dir / PACKAGE, job, batch, length)
        signature = classifier_signature("main", job.model, batch, length)
        return ExportArtifact(entry=PACKAGE, signatures=(signature,),
                              details={"deployment_target": DEPLOYMENT_TARGET,
                                       "compute_precision": job.precision, "structure": structure})


def _check_structure(package: Path, job: ExportJob, batch: DimRange, length: DimRange) -> dict[str, Any]:
    """Reload the saved package without compiling it and check what a macOS app would rely on."""
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2, MIL_pb2

    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    array = FeatureTypes_pb2.ArrayFeatureType
    expected_inputs = {"features": (array.INT32, [(batch.min, batch.max), (length.min, length.max),
                                                  (job.model.config.num_hashes,) * 2]),
                       "mask": (array.FLOAT32, [(batch.min, batch.max), (length.min, length.max)])}
    inputs = {i.name: (i.type.multiArrayType.dataType,
                       [(r.lowerBound, r.upperBound) for r in i.type.multiArrayType.shapeRange.sizeRanges])
              for i in spec.description.input}
    if inputs != expected_inputs:
        raise ExportError(f"coreml: {package}: inputs {inputs} differ from the expected {expected_inputs}")
    outputs = {o.name: o.type.multiArrayType.dataType for o in spec.description.output}
    if outputs != {"logits": array.FLOAT32}:
        raise ExportError(f"coreml: {package}: outputs {outputs} differ from the expected logits (FLOAT32)")
    ops: Counter[str] = Counter()
    dtypes: Counter[str] = Counter()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                ops[op.type] += 1
                dtypes.update(MIL_pb2.DataType.Name(out.type.tensorType.dataType)
                              for out in op.outputs if out.type.HasField("tensorType"))
    if "gather" not in ops:
        raise ExportError(f"coreml: {package}: no gather op; the Bloom projection did not convert in-graph")
    half = dtypes["FLOAT16"] > 0  # fp16 compute still has fp32 tensors: the mask input and the logits output
    if half != (job.precision == "fp16"):
        raise ExportError(f"coreml: {package}: tensors by type {dict(dtypes)}; "
                          f"expected {job.precision} compute")
    return {"status": "passed", "inputs": sorted(inputs), "outputs": sorted(outputs),
            "ops": dict(sorted(ops.items())), "tensor_types": dict(sorted(dtypes.items())),
            "specification_version": spec.specificationVersion}
