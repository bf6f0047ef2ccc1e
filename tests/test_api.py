"""The Python API mirrors the CLI (issue 15, item 3): same names, defaults and meaning of ``out``, objects back."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import neurolite_sdk as nl
from neurolite_sdk import api
from neurolite_sdk.cli import main
from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.training.checkpoint import Checkpoint

UNSET = getattr(click.core, "UNSET", None)  # click 8.3: an option without a default

# Python name -> CLI option, where they differ (the others are the option's name with - for _)
RENAMED = {"train": "train_path", "eval": "eval_path", "out": "out_dir", "config": "config_path",
           "overrides": "overrides", "format": "fmt", "lr": "learning_rate"}


def _cli_defaults(command: click.Command) -> dict[str, object]:
    ctx = click.Context(command)
    return {p.name: p.get_default(ctx, call=False) for p in command.params if isinstance(p, click.Option)}


@pytest.mark.parametrize(("function", "command", "skip"), [
    (api.train, "train", {"verbose", "config", "overrides"}),
    (api.evaluate, "eval", {"checkpoint", "data"}),
    (api.bench, "bench", {"source", "verbose", "suite_options", "format", "quantize", "baselines"}),
])
def test_same_names_and_defaults_as_the_command(function: object, command: str, skip: set[str]) -> None:
    defaults = _cli_defaults(main.commands[command])
    checked = 0
    for name, parameter in inspect.signature(function).parameters.items():
        if name in skip or parameter.default is inspect.Parameter.empty:
            continue
        cli_name = RENAMED.get(name, name)
        if command == "eval" and name == "format":
            cli_name = "fmt"
        if command == "bench" and name == "eval":
            cli_name = "eval_path"
        assert cli_name in defaults, f"{function.__name__}({name}=...) has no CLI option {cli_name}"
        cli_default = defaults[cli_name]
        assert parameter.default == cli_default or (parameter.default is None and cli_default in (None, (), UNSET)), \
            f"{function.__name__}({name}={parameter.default!r}) but neurolite {command} defaults to {cli_default!r}"
        checked += 1
    assert checked >= 3


def test_train_returns_the_checkpoint_it_wrote(tmp_path: Path, sst2_small: tuple[Path, Path]) -> None:
    train_path, dev_path = sst2_small
    run = nl.train(train_path, dev_path, out=tmp_path / "ckpt", epochs=1, distill=False, max_rows=200,
                   overrides={"num_buckets": 256, "embedding_dim": 16, "hidden_size": 16, "num_mixer_layers": 1,
                              "max_length": 16, "token_mixing_dim": 8, "channel_mixing_dim": 16})
    assert isinstance(run.checkpoint, Checkpoint) and run.path == tmp_path / "ckpt"
    saved = json.loads((run.path / "training.json").read_text(encoding="utf-8"))
    assert run.accuracy == saved["best_eval_accuracy"] and run.metrics["train_rows"] == 200
    assert run.checkpoint.labels == ["0", "1"]
    with pytest.raises(NeuroLiteError, match="ckpt"):  # an existing checkpoint is kept, as with the CLI
        nl.train(train_path, dev_path, out=tmp_path / "ckpt", epochs=1, distill=False, max_rows=200)


def test_evaluate_is_what_neurolite_eval_prints(small_checkpoint_dir: Path, sst2_small: tuple[Path, Path]) -> None:
    result = nl.evaluate(small_checkpoint_dir, sst2_small[1])
    printed = CliRunner().invoke(main, ["eval", str(small_checkpoint_dir), "--eval", str(sst2_small[1]), "--json"])
    assert printed.exit_code == 0, printed.output
    assert result.to_dict() == json.loads(printed.output)
    assert 0.5 < result.accuracy <= 1 and result.rows == 872


def test_export_load_predict(tmp_path: Path, small_checkpoint: Checkpoint, eval_texts: list[str]) -> None:
    run = nl.export(small_checkpoint, "onnx", out=tmp_path / "bundles")
    bundle = tmp_path / "bundles" / "onnx"  # out receives one bundle per format, as --out does
    assert run["onnx"].bundle == bundle and (bundle / "manifest.json").is_file()
    assert run["onnx"].parity["top1_agreement"] == 1.0 and list(run) == [run["onnx"]]
    predictions = nl.load(bundle).predict(eval_texts[:4])
    assert [p.label for p in predictions] == [p.label for p in nl.load(bundle, threads=1).predict(eval_texts[:4])]
    assert all(p.label in ("0", "1") for p in predictions)
    with pytest.raises(NeuroLiteError, match="--format nosuch: unknown format"):
        nl.export(small_checkpoint, "nosuch", out=tmp_path / "x")
    assert sorted(api.export_formats("all")) == sorted(api.export_formats(["onnx,executorch", "coreml", "tflite"]))
    assert api.export_formats("onnx,onnx") == ["onnx"]


def test_bench_writes_results(tmp_path: Path, small_checkpoint_dir: Path) -> None:
    result = nl.bench(small_checkpoint_dir, out=tmp_path / "bench", format="onnx", baselines=(), runs=5,
                      threads=1, length=16, suite_options={"scaling_lengths": (16,), "scaling_backbones": ("mixer",),
                                                           "scaling_runs": 5, "warmup": 1, "gemm_size": 64,
                                                           "scaling_baselines": False, "throughput_batch": 2})
    assert result.path == tmp_path / "bench" / "results.json" and result.path.is_file()
    ok = [row for row in result.rows if row["status"] == "ok"]
    assert ok and all(row["format"] == "onnx" for row in ok if "format" in row)
    assert nl.report(tmp_path / "bench").name == "report.md"
