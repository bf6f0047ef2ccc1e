"""Quantized Core ML and TFLite exports on the small trained checkpoint: the codes that ship, bytes, parity.

The SMALL model's tensors are below the default 4,096-element rule, so the policy here codes every
weight of at least 512 elements (the Bloom table, the bottleneck, both channel-mixing layers, the head).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurolite_sdk.exporters import ExportResult, export_bundle, parity_texts
from neurolite_sdk.exporters.base import ExportError
from neurolite_sdk.exporters.coreml import lut_op_name, saved_luts
from neurolite_sdk.exporters.quantize import plan_quantization
from neurolite_sdk.quantization import OrbitalTensor, QuantPolicy, dequantize
from neurolite_sdk.training.checkpoint import Checkpoint

POLICY = QuantPolicy(min_elements=512)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, small_checkpoint: Checkpoint) -> dict[str, ExportResult]:
    """fp32 and every quantized export of both formats; TFLite ones verified (Core ML cannot run here)."""
    out = tmp_path_factory.mktemp("quant-bundles")
    texts = parity_texts(small_checkpoint)
    runs = {("coreml", "none"): False, ("coreml", "orbital8"): True, ("coreml", "int8"): False,
            ("coreml", "palette8"): False, ("tflite", "none"): False, ("tflite", "orbital8"): True,
            ("tflite", "int8"): True}
    return {f"{fmt}-{scheme}": export_bundle(small_checkpoint, fmt, out / f"{fmt}-{scheme}", quantize=scheme,
                                             texts=texts if verify else None, verify=verify, policy=POLICY,
                                             orbital8_decode="graph")
            for (fmt, scheme), verify in runs.items()}


def _coded(small_checkpoint: Checkpoint) -> dict[str, OrbitalTensor]:
    plan = plan_quantization(small_checkpoint.model.eval(), "orbital8", POLICY)
    assert plan.encoded is not None
    return {name: t for name, t in plan.encoded.items() if isinstance(t, OrbitalTensor)}


def test_coreml_orbital8_stores_the_exact_codes(bundles: dict[str, ExportResult],
                                                small_checkpoint: Checkpoint) -> None:
    import coremltools as ct

    package = bundles["coreml-orbital8"].bundle / "model.mlpackage"
    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    luts = saved_luts(package, spec)
    coded = _coded(small_checkpoint)
    assert len(coded) >= 4 and len(luts) == len(coded)
    for name, tensor in coded.items():
        lut, indices = luts[lut_op_name(name)]
        assert indices.dtype == np.uint8 and np.array_equal(indices, tensor.codes.reshape(-1))
        decoded = lut[indices.astype(np.int64)].reshape(tensor.codes.shape) * tensor.scale[:, None]
        if tensor.offset is not None:
            decoded = decoded + tensor.offset[:, None]
        assert decoded.tobytes() == dequantize(tensor).tobytes(), name  # bit for bit
    details = bundles["coreml-orbital8"].details
    check = details.orbital8
    assert check is not None and check.stored_tensors == check.coded_tensors == len(coded)
    assert check.code_bytes == sum(t.codes.size for t in coded.values())
    assert details.structure.ops["constexpr_lut_to_dense"] == len(coded)
    assert bundles["coreml-orbital8"].parity["status"] == "skipped"  # Core ML runs only on macOS


def _weights_bytes(result: ExportResult) -> int:
    return (result.bundle / "model.mlpackage" / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").stat().st_size


def test_coreml_orbital8_drops_every_float_copy(bundles: dict[str, ExportResult],
                                               small_checkpoint: Checkpoint) -> None:
    coded = _coded(small_checkpoint)
    fp32_bytes = sum(4 * t.codes.size for t in coded.values())
    coded_bytes = sum(t.nbytes for t in coded.values())
    saved = _weights_bytes(bundles["coreml-none"]) - _weights_bytes(bundles["coreml-orbital8"])
    # the weight file loses the coded tensors' fp32 bytes and gains their codes, tables and scales
    # (blobs are 64-byte aligned: a little slack per blob)
    assert saved >= fp32_bytes - coded_bytes - 256 * len(coded)
    assert bundles["coreml-orbital8"].total_bytes < 0.6 * bundles["coreml-none"].total_bytes


@pytest.mark.parametrize(("scheme", "op"), [("int8", "constexpr_affine_dequantize"),
                                            ("palette8", "constexpr_lut_to_dense")])
def test_coreml_native_recipes_compress_the_large_weights(bundles: dict[str, ExportResult], scheme: str,
                                                          op: str, small_checkpoint: Checkpoint) -> None:
    result = bundles[f"coreml-{scheme}"]
    structure, native = result.details.structure, result.details.native
    # the native recipes follow the same policy as orbital8: the same tensors are compressed
    coded = _coded(small_checkpoint)
    assert native is not None and native.scheme == scheme
    assert structure.ops[op] == native.coded_tensors == len(coded)
    assert result.details.deployment_target == "iOS16"
    # every coded tensor's floats become bytes, plus per-row scales (int8) or a 256-entry LUT (palette8)
    fp32_bytes = sum(4 * t.codes.size for t in coded.values())
    extra = sum(8 * t.codes.shape[0] + 4 * 256 + 256 for t in coded.values())
    assert _weights_bytes(result) < _weights_bytes(bundles["coreml-none"]) - fp32_bytes * 3 // 4 + extra


def test_tflite_int8_parity_and_size(bundles: dict[str, ExportResult]) -> None:
    result = bundles["tflite-int8"]
    assert result.parity["status"] == "passed" and result.parity["top1_agreement"] >= 0.95
    assert result.details.native is not None and result.details.native.coded_tensors >= 3
    assert result.total_bytes < bundles["tflite-none"].total_bytes - 3 * 512 * 32 + 12 * 512 * 4


def test_tflite_file_stores_each_quantization_table_and_name_once(bundles: dict[str, ExportResult]) -> None:
    """One subgraph per signature, each naming its tensors and holding their per-channel scales: the file
    points every copy at one table and one string, and names tensors without the Python package paths."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from neurolite_sdk.exporters.tflite import _pack_shared

    data = (bundles["tflite-int8"].bundle / "model.tflite").read_bytes()
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    assert len(model.subgraphs) >= 2
    names = [t.name.decode() for subgraph in model.subgraphs for t in subgraph.tensors]
    assert not [name for name in names if "neurolite_sdk." in name or "torch.nn." in name]
    builder = flatbuffers.Builder(len(data))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    unshared = len(builder.Output())
    quantization = sum(4 * len(t.quantization.scale) + 8 * len(t.quantization.zeroPoint)
                       for t in model.subgraphs[0].tensors if t.quantization is not None
                       and t.quantization.scale is not None and len(t.quantization.scale) > 1)
    assert quantization > 0 and unshared - len(data) >= (len(model.subgraphs) - 1) * quantization
    assert len(_pack_shared(model, len(data))) <= len(data)  # already shared (the file also carries labels.txt)


def test_tflite_int8_bloom_lookup_and_token_mixing(bundles: dict[str, ExportResult],
                                                            small_checkpoint: Checkpoint) -> None:
    """The int8 Bloom table is read by GATHER (int8 rows) -> DEQUANTIZE -> MUL by the rows' gathered scales,
    which XNNPACK runs, not by the hybrid EMBEDDING_LOOKUP; the logits are bit for bit those of the lookup.
    A token mixing product left float (its tensors not found by name) fails the export."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter

    from neurolite_sdk.exporters.graph import classifier_signature
    from neurolite_sdk.exporters.tflite import _check_token_mixing_int8, _convert, _gather_int8_rows, _native_int8
    from neurolite_sdk.runtime.bundle import DimRange

    data = (bundles["tflite-int8"].bundle / "model.tflite").read_bytes()
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    names = {i: max(c.builtinCode, c.deprecatedBuiltinCode) for i, c in enumerate(model.operatorCodes)}
    op = schema.BuiltinOperator
    for subgraph in model.subgraphs:
        used = [names[o.opcodeIndex] for o in subgraph.operators]
        assert op.EMBEDDING_LOOKUP not in used
        gathers = [o for o in subgraph.operators if names[o.opcodeIndex] == op.GATHER]
        tables = [subgraph.tensors[o.inputs[0]] for o in gathers]
        assert [t.type for t in tables] == [schema.TensorType.INT8, schema.TensorType.FLOAT32]
        assert list(tables[0].quantization.scale) == [1.0]  # the row scales live in their own buffer now
    assert {c.version for c in model.operatorCodes if c.builtinCode in (op.GATHER, op.DEQUANTIZE)} == {2}

    config = small_checkpoint.model.config
    signature = classifier_signature("b1_l16", small_checkpoint.model, DimRange(1, 1), DimRange(16, 16))
    converted = _convert(small_checkpoint.model.eval(), (signature,))
    hybrid = _native_int8(converted, POLICY)
    _check_token_mixing_int8(_native_int8(converted, POLICY, token_mixing_coded=True))
    with pytest.raises(ExportError, match=r"0 token mixing products read int8 weights and [1-9]\d* float ones"):
        _check_token_mixing_int8(converted)  # what a renamed converter output would leave: refused
    rewritten = _gather_int8_rows(hybrid)
    assert rewritten != hybrid
    features = np.random.default_rng(0).integers(0, config.num_buckets, size=(1, 16, config.num_hashes))
    features = features.astype(np.int32)
    outputs = []
    for flatbuffer in (hybrid, rewritten):
        runner = Interpreter(model_content=flatbuffer).get_signature_runner(signature.name)
        outputs.append(runner(features=features, mask=np.ones(features.shape[:2], np.float32))["logits"])
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_tflite_orbital8_runs_the_codes(bundles: dict[str, ExportResult], small_checkpoint: Checkpoint) -> None:
    from ai_edge_litert import schema_py_generated as schema

    result = bundles["tflite-orbital8"]
    parity = result.parity
    assert parity["status"] == "passed" and parity["max_abs_logit"] <= 1e-4
    assert parity["fp32_top1_agreement"] >= 0.97
    coded = _coded(small_checkpoint)
    check = result.details.orbital8
    assert check is not None and check.coded_tensors == len(coded) and check.stored_tensors >= 3
    model = schema.ModelT.InitFromPackedBuf((result.bundle / "model.tflite").read_bytes(), 0)
    stored = {np.asarray(b.data, dtype=np.uint8).tobytes() for b in model.buffers if b.data is not None}
    lowered = [name for name in coded if name not in check.float_tensors]
    assert len(lowered) == check.stored_tensors
    for name in lowered:
        assert coded[name].codes.tobytes() in stored, name
        assert dequantize(coded[name]).tobytes() not in stored, name  # no float copy left
    # each lowered tensor saves its fp32 bytes less its codes, table and scales; its decode ops and
    # tensors cost under 1 KiB of graph in each of the file's signatures
    saved = bundles["tflite-none"].total_bytes - result.total_bytes
    assert saved >= sum(4 * coded[n].codes.size - coded[n].nbytes for n in lowered) - 1024 * 4 * len(lowered)


def test_palette8_is_core_ml_only(small_checkpoint: Checkpoint, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="tflite: --quantize palette8 is not supported"):
        export_bundle(small_checkpoint, "tflite", tmp_path / "b", texts=None, verify=False, quantize="palette8")
    assert not (tmp_path / "b").exists()
