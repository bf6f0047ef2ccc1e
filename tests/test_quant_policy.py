"""Which tensors are coded, coding a state dict, its stored form, and the torch wrapper."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from neurolite_sdk.quantization import (
    SCHEMES,
    Int8Tensor,
    OrbitalTensor,
    QuantizationError,
    QuantPolicy,
    dequantize,
    dequantize_state_dict,
    pack_state,
    quantize_state_dict,
    sqnr_db,
    unpack_state,
)


def state_dict() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "projection.table": rng.standard_normal((256, 32)).astype(np.float32),
        "blocks.0.fc1.weight": rng.standard_t(4, (64, 64)).astype(np.float32),
        "blocks.0.fc1.bias": rng.standard_normal(64).astype(np.float32),
        "blocks.0.norm.weight": np.ones(64, dtype=np.float32),
        "blocks.0.conv.weight": rng.standard_normal((32, 16, 3, 3)).astype(np.float32),
        "blocks.0.gate": rng.standard_normal((63, 65)).astype(np.float32),
        "head.weight": rng.standard_normal((128, 64)).astype(np.float32),
        "positions": np.arange(64, dtype=np.int64).reshape(8, 8),
        "empty": np.zeros((0, 8), dtype=np.float32),
        "step": np.array(3.0, dtype=np.float32),
    }


def test_policy_rule() -> None:
    policy = QuantPolicy(keep_float=("head.*",))
    state = state_dict()
    kept = {name: policy.keep_reason(name, array) for name, array in state.items()}
    assert kept["projection.table"] is None and kept["blocks.0.fc1.weight"] is None  # 4096 elements: coded
    assert kept["blocks.0.conv.weight"] is None
    assert "rank 1" in kept["blocks.0.fc1.bias"] and "rank 1" in kept["blocks.0.norm.weight"]
    assert "4095 elements < 4096" in kept["blocks.0.gate"]
    assert "keep_float pattern 'head.*'" in kept["head.weight"]
    assert "not floating" in kept["positions"]
    assert "0 elements" in kept["empty"] and "rank 0" in kept["step"]
    assert QuantPolicy().keep_reason("head.weight", state["head.weight"]) is None


@pytest.mark.parametrize("scheme", SCHEMES)
def test_quantize_state_dict_codes_what_the_policy_selects_and_reports_every_tensor(scheme: str) -> None:
    state = state_dict()
    encoded, report = quantize_state_dict(state, scheme, QuantPolicy(keep_float=("head.*",)))
    assert list(encoded) == list(state) and [row.name for row in report] == list(state)
    coded = {"projection.table", "blocks.0.fc1.weight", "blocks.0.conv.weight"}
    kind = OrbitalTensor if scheme.startswith("orbital8") else Int8Tensor
    for row in report:
        if row.name in coded:
            assert isinstance(encoded[row.name], kind) and encoded[row.name].scheme == scheme
            assert row.scheme == scheme and not row.reason
            assert row.sqnr_db == pytest.approx(sqnr_db(state[row.name], dequantize(encoded[row.name])))
            assert row.int8_sqnr_db is not None and 30 < row.int8_sqnr_db < 60
            assert (row.sigma is None) == (row.period is None) == (kind is Int8Tensor)
            assert row.bytes_fp32 == 4 * state[row.name].size and row.bytes_coded < 0.5 * row.bytes_fp32
        else:
            assert encoded[row.name] is state[row.name]
            assert row.scheme == "float" and row.reason and row.sqnr_db == math.inf
            assert row.bytes_coded == state[row.name].nbytes
    if scheme == "int8":
        assert all(row.int8_sqnr_db == row.sqnr_db for row in report if row.name in coded)
    if scheme == "orbital8":
        assert all(row.sqnr_db > row.int8_sqnr_db for row in report if row.name in coded)
    decoded = dequantize_state_dict(encoded)
    assert all(decoded[name].shape == state[name].shape for name in state)
    assert decoded["blocks.0.conv.weight"].dtype == np.float32


def test_a_selected_tensor_with_nan_is_named_and_a_kept_one_passes_through() -> None:
    state = state_dict()
    state["blocks.0.fc1.bias"][3] = np.nan
    encoded, _ = quantize_state_dict(state)
    assert np.isnan(encoded["blocks.0.fc1.bias"][3])
    state["blocks.0.fc1.weight"][5, 7] = np.inf
    with pytest.raises(QuantizationError, match=r"blocks\.0\.fc1\.weight: 1 of 4096 values are NaN or Inf"):
        quantize_state_dict(state)


def test_unknown_scheme_is_rejected() -> None:
    with pytest.raises(ValueError, match="scheme"):
        quantize_state_dict(state_dict(), "int4")  # type: ignore[arg-type]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_packed_state_round_trips_through_a_safetensors_file(scheme: str, tmp_path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    state = {name: array for name, array in state_dict().items() if name not in ("empty", "step")}
    encoded, _ = quantize_state_dict(state, scheme)
    arrays, metadata = pack_state(encoded)
    assert {"projection.table.codes", "projection.table.scale", "blocks.0.fc1.bias"} <= set(arrays)
    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file(arrays, str(path), metadata=metadata)
    with safetensors_numpy.safe_open(str(path), framework="numpy") as handle:
        loaded_metadata = handle.metadata()
    restored = unpack_state(safetensors_numpy.load_file(str(path)), loaded_metadata)
    assert set(restored) == set(encoded)
    for name, tensor in encoded.items():
        assert type(restored[name]) is type(tensor)
        assert np.array_equal(dequantize(restored[name]), dequantize(tensor))


def test_unpack_state_names_what_is_wrong() -> None:
    encoded, _ = quantize_state_dict({"w": np.ones((64, 64), dtype=np.float32)})
    arrays, metadata = pack_state(encoded)
    with pytest.raises(QuantizationError, match="'w.tables' is missing"):
        unpack_state({k: v for k, v in arrays.items() if k != "w.tables"}, metadata)
    with pytest.raises(QuantizationError, match="w: scale: expected float32"):
        unpack_state({**arrays, "w.scale": arrays["w.scale"].astype(np.float64)}, metadata)
    with pytest.raises(QuantizationError, match="missing or not JSON"):
        unpack_state(arrays, {})
    with pytest.raises(QuantizationError, match="format"):
        unpack_state(arrays, {next(iter(metadata)): '{"format": "other/9", "tensors": {}}'})
    with pytest.raises(QuantizationError, match="used twice"):
        pack_state({**encoded, "w.codes": np.zeros(3, dtype=np.float32)})


def test_the_numpy_core_does_not_import_torch() -> None:
    code = "import sys, neurolite_sdk.quantization; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_torch_wrapper_codes_parameters_and_loads_decoded_weights() -> None:
    torch = pytest.importorskip("torch")
    from neurolite_sdk.quantization.torch_wrapper import decode_into_model, quantize_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(128, 64), torch.nn.LayerNorm(64), torch.nn.Linear(64, 3))
    model.register_buffer("dft", torch.randn(128, 128))
    encoded, report = quantize_model(model, "orbital8")
    assert "dft" not in encoded, "buffers are constants, never coded"
    assert [row.name for row in report if row.scheme == "orbital8"] == ["0.weight"]
    fresh = torch.nn.Sequential(torch.nn.Linear(128, 64), torch.nn.LayerNorm(64), torch.nn.Linear(64, 3))
    assert decode_into_model(fresh, encoded) is fresh
    np.testing.assert_array_equal(fresh[0].weight.detach().numpy(), dequantize(encoded["0.weight"]))
    for name in ("0.bias", "1.weight", "2.weight"):
        np.testing.assert_array_equal(fresh.get_parameter(name).detach().numpy(),
                                      model.get_parameter(name).detach().numpy())
    x = torch.randn(16, 128)
    with torch.no_grad():
        assert sqnr_db(model(x).numpy(), fresh(x).numpy()) > 35

    before = fresh[0].weight.detach().clone()
    with pytest.raises(QuantizationError, match="no such parameter"):
        decode_into_model(fresh, {**encoded, "3.weight": np.zeros((2, 2), dtype=np.float32)})
    with pytest.raises(QuantizationError, match="does not fit"):
        decode_into_model(fresh, {**encoded, "2.bias": np.zeros(4, dtype=np.float32)})
    assert torch.equal(fresh[0].weight, before), "nothing is written when a name or shape is wrong"
