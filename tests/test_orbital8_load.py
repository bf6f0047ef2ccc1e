"""orbital8 decoded at load (the default ``--orbital8-decode load``): the bundle ships a shell plus codes, the
runtime rebuilds the exact fp32 file before the session exists.

Read as the pipeline: find the coded weights' bytes in a file and cut them out -> rebuild them from the
codes, byte for byte -> export every runnable format that way, run it, compare with the decoded model ->
a damaged codes file, shell or manifest is a ``BundleError``, never a wrong model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from neurolite_sdk.exporters import ExportResult, export_bundle, parity_texts
from neurolite_sdk.exporters.orbital8_load import CODES_FILE, find_regions, split_coded_weights
from neurolite_sdk.exporters.quantize import plan_quantization
from neurolite_sdk.quantization import OrbitalCodec, QuantPolicy
from neurolite_sdk.runtime import load
from neurolite_sdk.runtime.bundle import read_bundle
from neurolite_sdk.runtime.errors import BundleError
from neurolite_sdk.runtime.weights import decode_rows, restore_files
from neurolite_sdk.training.checkpoint import Checkpoint

POLICY = QuantPolicy(min_elements=512)  # the SMALL model's tensors are below the default 4,096
RUNNABLE = ("onnx", "tflite", "executorch")


def _coded(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    codec = OrbitalCodec()
    return {"a": codec.encode(rng.normal(size=(40, 24)).astype(np.float32), "a"),
            "b": codec.encode(rng.standard_t(4, size=(24, 48)).astype(np.float32), "b"),
            "c": codec.encode(rng.laplace(size=(32, 32)).astype(np.float32), "c")}


def test_every_stored_form_is_found_and_rebuilt_byte_for_byte(tmp_path: Path) -> None:
    coded = _coded()
    a, b, c = (decode_rows(coded[name]) for name in "abc")
    junk = np.random.default_rng(1).normal(size=37).astype(np.float32).tobytes()
    scale = np.float32(1 / np.sqrt(8))
    pieces = [b"header!", a.tobytes(), junk, np.ascontiguousarray(b[:16].T).tobytes(), junk[:9], b.T.copy().tobytes(),
              a[:8].tobytes(), (c * scale).tobytes(), b"tail"]
    data = b"".join(pieces)
    regions = {(r.tensor, r.rows, r.transpose, r.scale) for r in find_regions(data, {n: decode_rows(t)
                                                                                   for n, t in coded.items()})}
    assert regions == {("a", 40, False, None), ("b", 16, True, None), ("b", 24, True, None), ("a", 8, False, None),
                       ("c", 32, False, float(scale))}
    (tmp_path / "model.bin").write_bytes(data)
    weights, check = split_coded_weights(tmp_path, "model.bin", coded)
    assert not (tmp_path / "model.bin").exists() and check.stored_tensors == 3 and not check.float_tensors
    contents = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert sum(len(v) for v in contents.values()) < 0.6 * len(data)  # tables and headers weigh at this size
    assert restore_files(weights, contents, "test") == {"model.bin": data}


def test_a_weight_stored_in_no_known_form_stays_float(tmp_path: Path) -> None:
    coded = _coded()
    rolled = np.roll(decode_rows(coded["c"]), 1, axis=1)  # not a prefix, transpose or multiple of the weight
    (tmp_path / "model.bin").write_bytes(decode_rows(coded["a"]).tobytes() + rolled.tobytes())
    _, check = split_coded_weights(tmp_path, "model.bin", coded)
    assert check.stored_tensors == 1 and check.float_tensors == ("b", "c")


@pytest.fixture(scope="module")
def load_bundles(tmp_path_factory: pytest.TempPathFactory, small_checkpoint: Checkpoint) -> dict[str, ExportResult]:
    """Every runnable format as orbital8 decoded at load, verified on the checkpoint's eval texts."""
    out = tmp_path_factory.mktemp("orbital8-load")
    texts = parity_texts(small_checkpoint)
    return {fmt: export_bundle(small_checkpoint, fmt, out / fmt, texts=texts, quantize="orbital8", policy=POLICY)
            for fmt in RUNNABLE}


@pytest.mark.parametrize("fmt", RUNNABLE)
def test_load_time_decode_runs_the_decoded_model_from_a_small_bundle(
        fmt: str, load_bundles: dict[str, ExportResult], small_checkpoint: Checkpoint, eval_texts: list[str]) -> None:
    result = load_bundles[fmt]
    manifest = json.loads((result.bundle / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["entry"]
    assert manifest["schema_version"] == 2 and manifest["quantization"]["decode"] == "load"
    assert manifest["export"]["orbital8_decode"] == "load"
    assert entry not in manifest["files"] and f"{entry}.shell" in manifest["files"] and CODES_FILE in manifest["files"]
    check = result.details.orbital8
    plan = plan_quantization(small_checkpoint.model.eval(), "orbital8", POLICY)
    coded = [row for row in plan.layers if row.scheme != "float"]
    assert check is not None and check.stored_tensors == check.coded_tensors == len(coded) and not check.float_tensors
    parity = result.parity
    assert parity["status"] == "passed" and parity["max_abs_logit"] <= 1e-4 and parity["fp32_top1_agreement"] >= 0.97
    # The runtime hands the backend the rebuilt fp32 file; on disk it is the shell and the codes, which save at
    # least 65% of the coded weights' fp32 bytes (8 of 32 bits saves 75%; tables, scales and offsets cost the rest).
    bundle = read_bundle(result.bundle)
    rebuilt = len(bundle.read(entry))
    stored = result.files[f"{entry}.shell"]["bytes"] + result.files[CODES_FILE]["bytes"]
    assert rebuilt == manifest["weights"]["files"][0]["bytes"]
    assert rebuilt - stored >= 0.65 * sum(row.bytes_fp32 for row in coded)
    predictor = load(result.bundle)
    batch = predictor.featurize(eval_texts[:24])
    with torch.no_grad():
        expected = plan.reference(torch.from_numpy(batch.features), torch.from_numpy(batch.mask))["logits"].numpy()
    np.testing.assert_allclose(predictor.run({"features": batch.features, "mask": batch.mask})["logits"], expected,
                               atol=1e-5, rtol=0)


def _copy(result: ExportResult, tmp_path: Path) -> tuple[Path, dict]:
    target = tmp_path / "bundle"
    shutil.copytree(result.bundle, target)
    return target, json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def _save(target: Path, manifest: dict, rehash: str | None = None) -> None:
    if rehash is not None:  # a file changed and its checksum updated: only the rebuild can notice
        data = (target / rehash).read_bytes()
        manifest["files"][rehash] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_damaged_codes_shell_or_regions_are_refused(load_bundles: dict[str, ExportResult], tmp_path: Path) -> None:
    result = load_bundles["onnx"]

    def refused(edit, match: str) -> None:  # noqa: ANN001
        target, manifest = _copy(result, tmp_path / str(len(list(tmp_path.iterdir()))))
        _save(target, manifest, edit(target, manifest))
        with pytest.raises(BundleError, match=match):
            read_bundle(target)

    def flip_code(target: Path, manifest: dict) -> str:
        data = bytearray((target / CODES_FILE).read_bytes())
        data[-100] ^= 0x01
        (target / CODES_FILE).write_bytes(bytes(data))
        return CODES_FILE

    refused(flip_code, "differs from the file the manifest records")
    refused(lambda t, m: m["weights"]["files"][0]["regions"][0].update(offset=1) or None,
            "differs from the file the manifest records|overlaps")
    refused(lambda t, m: m["weights"]["files"][0]["regions"][0].update(rows=10**6) or None, "rows 1000000 outside")
    refused(lambda t, m: m["weights"]["files"][0]["regions"][0].update(tensor="nope") or None,
            "'nope' is not a coded tensor")
    refused(lambda t, m: m["weights"]["files"][0].update(bytes=10**12) or None, "holds .* bytes or more")
    refused(lambda t, m: m.update(schema_version=1) or None, "needs schema_version 2")
    refused(lambda t, m: m["weights"].update(decode="graph") or None, "decode: expected 'load'")

    def garbage_shell(target: Path, manifest: dict) -> str:
        name = manifest["weights"]["files"][0]["shell"]
        (target / name).write_bytes(b"not zlib at all")
        return name

    refused(garbage_shell, "does not decompress")

    def truncated_codes(target: Path, manifest: dict) -> str:
        (target / CODES_FILE).write_bytes((target / CODES_FILE).read_bytes()[:50])
        return CODES_FILE

    refused(truncated_codes, "safetensors|does not fit")
