"""Quantized exports: orbital8 and native int8 lowered into ONNX and ExecuTorch, read back from disk.

Read as the pipeline: code the weights -> export -> the file holds the codes as uint8 (counted in the
file) and is smaller by what the coded tensors saved -> the runtime's output matches the PyTorch model
holding the same decoded weights -> refusals and bad input. Core ML and TFLite lowering is tested with
their exporters.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from neurolite_sdk.cli.export_commands import export_command
from neurolite_sdk.cli.quantize_commands import SCHEMES, quantize_report_command
from neurolite_sdk.exporters import ExportError, ExportResult, export_bundle, parity_texts
from neurolite_sdk.exporters.model_card import CARD_FILES
from neurolite_sdk.exporters.onnx import OnnxExporter
from neurolite_sdk.exporters.quantize import (
    QUANTIZE_CHOICES,
    OrbitalDecoder,
    orbital_decoding_model,
    plan_quantization,
)
from neurolite_sdk.quantization import OrbitalCodec, OrbitalTensor
from neurolite_sdk.runtime import load
from neurolite_sdk.runtime.selftest import TEST_VECTORS_NAME
from neurolite_sdk.training.checkpoint import Checkpoint, load_checkpoint
from neurolite_sdk.training.pipeline import TrainJob, run_training

# conftest's SMALL widened so that five tensors reach the default policy's 4,096 elements (Bloom table
# 512 x 64, bottleneck 64 x 64, fc1, fc2 and the head's hidden layer 64 x 128): the export runs the real policy.
QUANT = dict(num_buckets=512, embedding_dim=64, hidden_size=64, num_mixer_layers=1, max_length=16,
             token_mixing_dim=16, channel_mixing_dim=128)
CODED = 5


@pytest.fixture(scope="module")
def quant_checkpoint_dir(tmp_path_factory: pytest.TempPathFactory, sst2_small: tuple[Path, Path]) -> Path:
    train_path, dev_path = sst2_small
    out = tmp_path_factory.mktemp("quant-ckpt") / "ckpt"
    run_training(TrainJob(train_path=train_path, eval_path=dev_path, out_dir=out, epochs=1, distill=False,
                          max_rows=500, overrides=QUANT))
    return out


@pytest.fixture(scope="module")
def quant_checkpoint(quant_checkpoint_dir: Path) -> Checkpoint:
    return load_checkpoint(quant_checkpoint_dir)


@pytest.fixture(scope="module")
def quant_exports(tmp_path_factory: pytest.TempPathFactory,
                  quant_checkpoint: Checkpoint) -> dict[tuple[str, str], ExportResult]:
    """ONNX in fp32, orbital8 and int8, ExecuTorch in fp32 and orbital8, verified on the checkpoint's eval
    texts. ExecuTorch's int8 (PT2E calibration and lowering of two methods, ~45 s of CPU here) is left out
    here; ``test_executorch_int8_export_runs_int8_table_and_token_mixing`` exports the smaller model's."""
    out = tmp_path_factory.mktemp("quant-bundles")
    texts = parity_texts(quant_checkpoint)
    pairs = [("onnx", "none"), ("onnx", "orbital8"), ("onnx", "int8"), ("executorch", "none"),
             ("executorch", "orbital8")]
    return {(fmt, scheme): export_bundle(quant_checkpoint, fmt, out / f"{fmt}-{scheme}", texts=texts,
                                         quantize=scheme, orbital8_decode="graph") for fmt, scheme in pairs}


def manifest_of(result: ExportResult) -> dict:
    return json.loads((result.bundle / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("fmt", ["onnx", "executorch"])
def test_orbital8_file_holds_codes_and_matches_the_decoded_model(
        fmt: str, quant_exports: dict[tuple[str, str], ExportResult], quant_checkpoint: Checkpoint,
        eval_texts: list[str]) -> None:
    result, fp32 = quant_exports[(fmt, "orbital8")], quant_exports[(fmt, "none")]
    manifest = manifest_of(result)
    quantization = manifest["quantization"]
    assert manifest["export"]["quantize"] == "orbital8" and quantization["scheme"] == "orbital8"
    coded = [row for row in quantization["layers"] if row["scheme"] == "orbital8"]
    assert len(coded) == quantization["coded_tensors"] == CODED
    # Bytes on disk: the file shrank by at least 60% of what the coded tensors weigh in fp32 (8 of 32 bits
    # a weight saves 75%; tables, scales and the decode nodes cost ~10% at this size), so no large decode was
    # folded back into floats; the uint8 count below catches any folded tensor.
    coded_fp32 = sum(row["bytes_fp32"] for row in coded)
    assert fp32.total_bytes - result.total_bytes >= 0.60 * coded_fp32
    # The codes are in the file as uint8, one array per coded tensor.
    entry = result.bundle / manifest["entry"]
    if fmt == "onnx":
        import onnx

        uint8 = [i for i in onnx.load(str(entry)).graph.initializer if i.data_type == onnx.TensorProto.UINT8]
        assert sorted(tuple(i.dims) for i in uint8) == sorted(tuple(row["shape"]) for row in coded)
    else:
        check = result.details.orbital8
        assert check is not None and check.coded_tensors == check.stored_tensors == CODED
        assert check.code_bytes == sum(math.prod(r["shape"]) for r in coded)
        assert manifest["export"]["details"]["orbital8"]["code_bytes"] == check.code_bytes
    # Parity: against the decoded-weight model at the fp32 bar, and top-1 agreement with fp32 recorded.
    parity = manifest["parity"]
    assert parity["status"] == "passed" and parity["max_abs_logit"] <= 1e-4
    assert parity["thresholds"]["fp32_top1_agreement"] is not None and parity["fp32_top1_agreement"] >= 0.97
    # Independently: the numpy-decoded weights loaded into PyTorch compute what the runtime computes.
    plan = plan_quantization(quant_checkpoint.model, "orbital8")
    predictor = load(result.bundle)
    batch = predictor.featurize(eval_texts[:40])
    with torch.no_grad():
        expected = plan.reference(torch.from_numpy(batch.features), torch.from_numpy(batch.mask))["logits"].numpy()
    actual = predictor.run({"features": batch.features, "mask": batch.mask})["logits"]
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_native_int8_agrees_with_fp32_and_is_smaller(quant_exports: dict[tuple[str, str], ExportResult]) -> None:
    result, fp32 = quant_exports[("onnx", "int8")], quant_exports[("onnx", "none")]
    manifest = manifest_of(result)
    assert manifest["export"]["quantize"] == "int8" and manifest["quantization"]["scheme"] == "int8"
    assert manifest["parity"]["status"] == "passed" and manifest["parity"]["top1_agreement"] >= 0.95
    assert manifest["parity"]["thresholds"]["max_abs_logit"] is None  # its own rounding: no decoded reference
    assert result.total_bytes < fp32.total_bytes
    # Every coded weight is 8-bit in the file, nothing else is quantized: the matrices int8 (per channel), the
    # Bloom table uint8 (its Gather's data takes the activation type, uint8: U8S8, exporters/onnx.py).
    assert result.details.native is not None and result.details.native.coded_tensors == CODED
    assert manifest["export"]["details"]["native"]["recipe"].startswith("onnxruntime quantize_static")
    eight_bit = result.details.initializer_bytes
    assert eight_bit["int8"] > 0 and eight_bit["uint8"] > 0
    assert eight_bit["int8"] + eight_bit["uint8"] >= sum(
        math.prod(row["shape"]) for row in manifest["quantization"]["layers"] if row["scheme"] == "int8")


def test_a_format_that_cannot_hold_the_scheme_is_refused(quant_checkpoint: Checkpoint, quant_checkpoint_dir: Path,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OnnxExporter, "quantizations", ("none",))
    with pytest.raises(ExportError, match=r"onnx: --quantize orbital8 is not supported \(it exports none\)"):
        export_bundle(quant_checkpoint, "onnx", tmp_path / "onnx", texts=None, verify=False, quantize="orbital8",
                      orbital8_decode="graph")
    assert not (tmp_path / "onnx").exists()  # never a silent float file
    wide = CliRunner(env={"COLUMNS": "250"})
    result = wide.invoke(export_command, [str(quant_checkpoint_dir), "--format", "onnx", "--out", str(tmp_path),
                                          "--no-verify", "--quantize", "orbital8", "--orbital8-decode", "graph"])
    assert result.exit_code == 1
    assert "FAILED: onnx: --quantize orbital8 is not supported" in result.output
    assert "1 of 1 exports failed (onnx)" in result.output


def test_nan_weight_is_named(quant_checkpoint: Checkpoint, tmp_path: Path) -> None:
    model = copy.deepcopy(quant_checkpoint.model)
    with torch.no_grad():
        model.neurolite.projection.bottleneck.weight[3, 5] = float("nan")
    broken = dataclasses.replace(quant_checkpoint, model=model)
    with pytest.raises(ExportError, match=r"quantize orbital8: .*neurolite\.projection\.bottleneck\.weight.*NaN"):
        export_bundle(broken, "onnx", tmp_path / "onnx", texts=None, verify=False, quantize="orbital8")
    assert not (tmp_path / "onnx").exists()


def test_cli_export_and_quantize_report(quant_checkpoint_dir: Path, tmp_path: Path) -> None:
    wide = CliRunner(env={"COLUMNS": "250"})
    result = wide.invoke(export_command, [str(quant_checkpoint_dir), "--format", "onnx", "--out",
                                          str(tmp_path / "bundles"), "--quantize", "orbital8", "--no-verify"])
    assert result.exit_code == 0, result.output
    for heading in ("scheme", "vs fp32", "fp32 top-1"):
        assert heading in result.output
    assert "orbital8 codes kept as 8-bit data in the file (5 tensors" in result.output
    kept = tmp_path / "report"
    report = CliRunner().invoke(quantize_report_command, [str(quant_checkpoint_dir), "--formats", "onnx",
                                                          "--schemes", "orbital8", "--runs", "3", "--threads", "1",
                                                          "--out", str(kept), "--json"])
    assert report.exit_code == 0, report.output
    data = json.loads(report.output)
    assert data["threads"] == 1 and data["runs"] == 3 and data["eval_rows"] == 872
    fp32, row = data["rows"]  # fp32 is always measured: the baseline
    assert (fp32["scheme"], fp32["ratio_to_fp32"], fp32["fp32_top1_agreement"]) == ("none", 1.0, 1.0)
    assert row["format"] == "onnx" and row["scheme"] == "orbital8" and row["status"] == "ok"
    not_model = {"manifest.json", TEST_VECTORS_NAME, *CARD_FILES}  # the model's bytes, as ExportResult counts
    sizes = {name: sum(f.stat().st_size for f in (kept / name).iterdir() if f.name not in not_model)
             for name in ("onnx-none", "onnx-orbital8")}
    assert row["bytes"] == sizes["onnx-orbital8"]
    assert row["ratio_to_fp32"] == sizes["onnx-orbital8"] / sizes["onnx-none"]
    assert row["fp32_top1_agreement"] >= 0.97 and row["latency_ms"] > 0 and row["load_ms"] > 0
    # Accuracy is the bundle's own, through the runtime, on the whole eval set.
    dev = Path(load_checkpoint(quant_checkpoint_dir).training["eval_path"]).read_text(encoding="utf-8").splitlines()[1:]
    texts, labels = zip(*(line.rsplit("\t", 1) for line in dev), strict=True)
    predicted = [p.label for p in load(kept / "onnx-orbital8").predict(list(texts))]
    assert row["accuracy"] == pytest.approx(np.mean([a == b for a, b in zip(predicted, labels, strict=True)]))
    assert row["sqnr_db"] > row["int8_sqnr_db"] - 3 and set(data["summary"]) == {"onnx/orbital8"}


@settings(max_examples=60, deadline=None)
@given(out=st.integers(1, 9), inner=st.lists(st.integers(1, 12), min_size=1, max_size=2),
       seed=st.integers(0, 2**31 - 1), heavy=st.booleans(), offset=st.booleans())
def test_orbital_decoder_matches_the_numpy_decode_exactly(out: int, inner: list[int], seed: int, heavy: bool,
                                                          offset: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = (out, *inner)
    weight = (rng.standard_t(4, shape) if heavy else rng.normal(0.3 if offset else 0.0, 1.0, shape))
    codec = OrbitalCodec(allow_offset=offset)
    tensor = codec.encode(weight.astype(np.float32), "w")
    decoder = OrbitalDecoder(tensor)
    assert decoder.codes.dtype == torch.uint8
    expected = codec.decode(tensor)
    with torch.no_grad():
        np.testing.assert_array_equal(decoder().numpy(), expected)
        index = torch.from_numpy(rng.integers(0, out, (2, 3)).astype(np.int32))
        np.testing.assert_array_equal(decoder.rows(index).numpy(), expected.reshape(out, -1)[index.numpy()])


def test_cli_scheme_choices_are_the_exporters() -> None:
    assert SCHEMES == QUANTIZE_CHOICES


def test_decoding_model_refuses_a_name_it_does_not_have(quant_checkpoint: Checkpoint) -> None:
    stray = OrbitalCodec().encode(np.ones((4, 4), np.float32), "nowhere.weight")
    with pytest.raises(ExportError, match="nowhere.weight: coded tensor names no parameter"):
        orbital_decoding_model(quant_checkpoint.model, {"nowhere.weight": stray})
    assert isinstance(stray, OrbitalTensor)


def test_executorch_int8_table_is_int8_and_close_to_the_float_sum(small_checkpoint: Checkpoint) -> None:
    import torch

    from neurolite_sdk.exporters.executorch import _int8_table

    model = small_checkpoint.model
    quantized = _int8_table(model)
    assert quantized is not model and isinstance(model.neurolite.projection.table, torch.nn.Parameter)  # untouched
    projection = quantized.neurolite.projection
    assert "table" not in dict(projection.named_parameters()) and projection.table_codes.dtype == torch.int8
    batch = model.featurizer(["a gripping, well acted film", "dull"])
    features = torch.from_numpy(batch.features).long()
    with torch.no_grad():
        exact = model.neurolite.projection.summed(features)
        approx = projection.summed(features)
    step = projection.table_scales.abs().max().item()  # one code step, times 1/sqrt(K), per row summed
    assert torch.allclose(approx, exact, atol=step * features.shape[-1])
    assert not torch.equal(approx, exact)  # the int8 path really ran


def test_executorch_int8_token_mixing_as_linears_is_the_same_computation(small_checkpoint: Checkpoint) -> None:
    """The int8 program quantizes the MLP-Mixer token mixing as two linear layers at the signature's length:
    inside the block the model computes what it did (fp32, to rounding), names layers that exist, and after
    it the model holds its own modules again."""
    import torch

    from neurolite_sdk.exporters.executorch import _mixer_token_mixings, _token_mixing_as_linears
    from neurolite_sdk.quantization import QuantPolicy

    model = small_checkpoint.model.eval()
    before = [mixing for _, _, mixing in _mixer_token_mixings(model)]
    assert before, "the test checkpoint's backbone should be the MLP-Mixer"
    length = 8  # under the model's max_length of 16: the weights' first rows
    batch = model.featurizer(["a gripping, well acted film", "dull"], pad_to=length)
    features, mask = torch.from_numpy(batch.features), torch.from_numpy(batch.mask)
    with torch.no_grad():
        exact = model(features, mask)
        with _token_mixing_as_linears(model, length, QuantPolicy(min_elements=1)) as names:
            modules = dict(model.named_modules())
            assert names and all(isinstance(modules[name], torch.nn.Linear) for name in names)
            assert modules[names[0]].weight.shape[1] == length
            linear = model(features, mask)
    assert [mixing for _, _, mixing in _mixer_token_mixings(model)] == before
    kept = QuantPolicy(min_elements=1, keep_float=("*token_mixing.w2",))  # the policy's patterns are obeyed
    with _token_mixing_as_linears(model, length, kept) as some:
        assert some and all(name.endswith(".fc1") for name in some)
    with _token_mixing_as_linears(model, length, QuantPolicy()) as none:  # 16 x 16 is under 4,096 elements
        assert none == []
    exact, linear = (getattr(x, "logits", x) for x in (exact, linear))
    torch.testing.assert_close(linear, exact, rtol=1e-5, atol=1e-5)


def test_executorch_int8_export_runs_int8_table_and_token_mixing(small_checkpoint: Checkpoint,
                                                                  tmp_path: Path) -> None:
    """The whole ExecuTorch int8 export, with a policy that codes the token mixing too (the SMALL model's 16 x 16
    weights): parity against PyTorch on real text, the coded tensors it reports, the file's size, and the
    runtime's predictions through it."""
    from neurolite_sdk.quantization import QuantPolicy

    texts = parity_texts(small_checkpoint)
    fp32 = export_bundle(small_checkpoint, "executorch", tmp_path / "fp32", texts=texts)
    int8 = export_bundle(small_checkpoint, "executorch", tmp_path / "int8", texts=texts, quantize="int8",
                         policy=QuantPolicy(min_elements=256))
    assert int8.parity["status"] == "passed" and int8.parity["top1_agreement"] >= 0.95  # against fp32 PyTorch
    native = int8.details.native
    mixings = sum(1 for name, _ in small_checkpoint.model.named_modules() if name.endswith("token_mixing"))
    assert native is not None and mixings >= 1
    model = small_checkpoint.model
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.weight.numel() >= 256]
    assert native.coded_tensors == 1 + len(linears) + 2 * mixings  # the table, the linears, each token mixing's two
    coded = model.neurolite.projection.table.numel() + sum(m.weight.numel() for m in linears)
    coded += sum(m.w1.numel() + m.w2.numel() for name, m in model.named_modules() if name.endswith("token_mixing"))
    # each coded float's 4 bytes become 1 (less scales and the program's own bytes): most of 3 bytes each saved
    assert fp32.total_bytes - int8.total_bytes >= 0.7 * 3 * coded
    predictions = load(int8.bundle, threads=1).predict(texts.texts[:8])
    assert len(predictions) == 8 and all(p.label in small_checkpoint.labels for p in predictions)
    # the policy's keep_float patterns are obeyed for the table too: it stays float, the rest as before
    kept = export_bundle(small_checkpoint, "executorch", tmp_path / "int8-kept", texts=texts, verify=False,
                         quantize="int8", policy=QuantPolicy(min_elements=256, keep_float=("*.projection.table",)))
    assert kept.details.native is not None and kept.details.native.coded_tensors == native.coded_tensors - 1
    assert kept.total_bytes - int8.total_bytes >= 0.7 * 3 * model.neurolite.projection.table.numel()


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_native_int8_refuses_keep_float_it_cannot_obey(small_checkpoint: Checkpoint, tmp_path: Path,
                                                       fmt: str) -> None:
    """ONNX's and LiteRT's own int8 recipes select weights by size only: a keep_float pattern that keeps a weight
    they would quantize is refused with one line, and nothing is written (ExecuTorch's int8 obeys it, above)."""
    from neurolite_sdk.exporters.base import ExportError
    from neurolite_sdk.quantization import QuantPolicy

    policy = QuantPolicy(min_elements=256, keep_float=("head.*",))
    with pytest.raises(ExportError, match=rf"^{fmt}: --quantize int8: .* would quantize head\.\S+weight.*keep_float"):
        export_bundle(small_checkpoint, fmt, tmp_path / "b", texts=parity_texts(small_checkpoint), verify=False,
                      quantize="int8", policy=policy)
    assert not (tmp_path / "b").exists()


def test_cli_keep_float_and_min_elements(quant_checkpoint_dir: Path, tmp_path: Path) -> None:
    """``neurolite export --keep-float PATTERN --min-elements N`` reach the exporter's policy; a pattern that
    matches no weight, or either option without --quantize, is a usage error and writes nothing."""
    out = tmp_path / "bundles"
    result = CliRunner().invoke(export_command, [str(quant_checkpoint_dir), "--format", "onnx", "--out", str(out),
                                                 "--quantize", "orbital8", "--no-verify", "--json",
                                                 "--min-elements", "256", "--keep-float", "head.*"])
    assert result.exit_code == 0, result.output
    quantization = json.loads(result.output)["bundles"][0]["quantization"]
    assert quantization["policy"] == {"min_elements": 256, "keep_float": ["head.*"]}
    shown = CliRunner(env={"COLUMNS": "250"}).invoke(export_command, [
        str(quant_checkpoint_dir), "--format", "onnx", "--out", str(tmp_path / "shown"), "--quantize", "orbital8",
        "--no-verify", "--min-elements", "256", "--keep-float", "head.*"])
    assert "(policy: >= 256 elements, rank >= 2, names not matching head.*)" in shown.output, shown.output
    layers = {row["name"]: row for row in quantization["layers"]}
    head = [row for name, row in layers.items() if name.startswith("head.") and len(row["shape"]) >= 2]
    assert head and all(row["scheme"] == "float" for row in head)
    assert any("keep_float pattern 'head.*'" in row["reason"] for row in head if np.prod(row["shape"]) >= 256)
    assert any(row["scheme"] == "orbital8" and 256 <= np.prod(row["shape"]) < 4096 for row in layers.values())
    for argv, message in (
            (["--quantize", "orbital8", "--keep-float", "heads.*"], "--keep-float 'heads.*': matches no weight of"),
            (["--keep-float", "head.*"], "--keep-float / --min-elements: they choose which weights --quantize codes"),
            (["--min-elements", "256"], "give --quantize too")):
        bad = CliRunner().invoke(export_command, [str(quant_checkpoint_dir), "--format", "onnx", "--no-verify",
                                                  "--out", str(tmp_path / "bad"), *argv])
        assert bad.exit_code == 2 and message in " ".join(bad.output.split()), bad.output
        assert not (tmp_path / "bad").exists()


def test_quantize_report_takes_the_same_policy_options(quant_checkpoint_dir: Path, tmp_path: Path) -> None:
    kept = tmp_path / "report"
    report = CliRunner().invoke(quantize_report_command, [
        str(quant_checkpoint_dir), "--format", "onnx", "--quantize", "orbital8", "--runs", "2", "--threads", "1",
        "--out", str(kept), "--json", "--min-elements", "256", "--keep-float", "head.*"])
    assert report.exit_code == 0, report.output
    manifest = json.loads((kept / "onnx-orbital8" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["quantization"]["policy"] == {"min_elements": 256, "keep_float": ["head.*"]}
    bad = CliRunner().invoke(quantize_report_command, [str(quant_checkpoint_dir), "--format", "onnx",
                                                       "--keep-float", "heads.*"])
    assert bad.exit_code == 2 and "--keep-float 'heads.*': matches no weight of" in " ".join(bad.output.split())
