"""NeuroLiteConfig: presets, JSON round trip, validation naming the bad field."""

from __future__ import annotations

import json

import pytest

from neurolite_sdk.config import PRESETS, ConfigError, NeuroLiteConfig


@pytest.mark.parametrize("preset", PRESETS)
def test_json_round_trip(preset: str) -> None:
    config = NeuroLiteConfig.from_preset(preset)
    again = NeuroLiteConfig.from_json(config.to_json())
    assert again == config
    assert json.loads(again.to_json()) == json.loads(config.to_json())


def test_seed_api_presets_are_classmethods() -> None:
    assert NeuroLiteConfig.tiny().hidden_size < NeuroLiteConfig.small().hidden_size < NeuroLiteConfig.base().hidden_size
    symbolic = NeuroLiteConfig.base_symbolic()
    assert symbolic.use_symbolic_module and symbolic.use_bayesian_module
    assert symbolic.num_bayesian_variables == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [("hidden_size", 0), ("num_buckets", -3), ("backbone", "transformer"), ("positional", "rotary"),
     ("dropout", 1.5), ("word_hashes", 99), ("ngram_max", 1), ("orbital_sigma", 2.0), ("max_length", "64")],
)
def test_invalid_value_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^{field}:"):
        NeuroLiteConfig(**{field: value})


def test_unknown_field_is_named() -> None:
    data = NeuroLiteConfig.tiny().to_dict()
    data["hiden_size"] = 12
    with pytest.raises(ConfigError, match="^hiden_size: unknown config field"):
        NeuroLiteConfig.from_dict(data)


def test_unknown_preset_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="tiny, small, base, base_symbolic"):
        NeuroLiteConfig.from_preset("huge")


def test_bad_json_gives_line_and_column() -> None:
    with pytest.raises(ConfigError, match="line 2 column"):
        NeuroLiteConfig.from_json('{"hidden_size": 12,\n  oops}')


def test_bayesian_edges_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"^bayesian_network_structure\[1\]"):
        NeuroLiteConfig(use_bayesian_module=True, num_bayesian_variables=3,
                        bayesian_network_structure=[[0, 1], [1, 7]])
