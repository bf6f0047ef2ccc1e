"""Hypothesis on every parser of user input on the CLI, training and reasoning side (issue 14): the data
readers, config JSON, ``--config`` files and ``--set`` values, rules files and facts, Bayesian networks with
evidence, and the ``--out`` check every writing command runs. Only the project's typed errors
(``NeuroLiteError`` subclasses) may escape; an accepted input must also give a sound result. The targets and
their input strategies are ``benchmarks/fuzz_parsers.py``, which runs them much longer; here 200
derandomized examples each keep the suite fast and repeatable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from neurolite_sdk.benchmarks.fuzz_parsers import TARGETS, call


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_only_typed_errors_escape(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    target, scratch = TARGETS[name], tmp_path_factory.mktemp(f"fuzz-{name}")

    @settings(max_examples=200, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(target.strategy)
    def check(value: Any) -> None:
        call(target, value, scratch)

    check()


def test_the_targets_reach_past_the_parsers(tmp_path: Path) -> None:
    """A fuzz target that only ever raised would test the error path alone: each accepts real input."""
    from neurolite_sdk.benchmarks import fuzz_parsers as fuzz

    accepted = {
        "tsv": "sentence\tlabel\ngood\tpos\nbad\tneg\n", "csv": "text,label\ngood,pos\n",
        "jsonl": '{"text": "good", "label": 1}\n', "snips": ("a\u2028b\nc\n", "x\ny\n"), "text-file": "a\nb\n",
        "config-json": fuzz.CONFIG_EXAMPLE, "set-overrides": [("hidden_size", "32")],
        "config-file": ('{"hidden_size": 32}', [("dropout", "0.2")]),
        "rules": (fuzz.RULES_EXAMPLE, ["intent(u1, GetWeather)"]),
        "rules-file": json.dumps(fuzz.RULES_EXAMPLE),
        "network": (fuzz.NETWORK_EXAMPLE, {"smoke": "yes"}, "exact"),
        "network-file": json.dumps(fuzz.NETWORK_EXAMPLE), "output-path": "new/ckpt"}
    assert sorted(accepted) == sorted(fuzz.TARGETS)
    for name, value in accepted.items():
        fuzz.TARGETS[name].run(value, tmp_path)  # no error at all
