"""Fuzz every parser of user input on the CLI, training and reasoning side; only typed errors may escape.

    python benchmarks/fuzz_parsers.py [--examples 5000] [--seed 0] [--targets tsv,jsonl,...] [--json OUT]

Each target turns one generated input into a call of the SDK's own parser, the way the CLI calls it:
the data readers (TSV, CSV, JSONL, the SNIPS layout, ``--file`` text), a config JSON document, a
``--config`` file and ``--set FIELD=VALUE`` overrides, rules files and facts, Bayesian network files
with evidence, and the ``--out`` check of every writing command (odd paths beside a file, a symlink loop,
a non-empty directory and a checkpoint; the check must write nothing). Inputs are random text and bytes
biased towards each format's structural characters, and mutations of real documents (a tiny config,
``examples/rules/snips_followups.json``, ``examples/networks/asia.json``): a value replaced by random
JSON, a key dropped, a string cut or spliced with random characters, a number nudged.

A call may succeed (then the result is checked: a data set has as many labels as texts, every text and
label a non-empty string; a config validates again from its own JSON; a network's posteriors are finite
and sum to 1) or raise a ``NeuroLiteError`` subclass, the project's typed errors that the CLI prints as
one line. Anything else (a ``KeyError``, a ``TypeError``, a failed check, a ``RecursionError``) is an
escape. Prints inputs and escapes per target; exit status 0 only when there are none. The test suite
(``tests/test_fuzz_parsers.py``) runs the same targets with 200 examples each.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.errors import NeuroLiteError

ROOT = Path(__file__).resolve().parents[1]
RULES_EXAMPLE = json.loads((ROOT / "examples" / "rules" / "snips_followups.json").read_text(encoding="utf-8"))
NETWORK_EXAMPLE = json.loads((ROOT / "examples" / "networks" / "asia.json").read_text(encoding="utf-8"))
CONFIG_EXAMPLE = NeuroLiteConfig.tiny().to_dict()

# Characters that make parsers work: separators, quotes, escapes, line breaks of every kind, a BOM, NUL,
# surrogate-free non-ASCII; mixed with any character at all.
STRUCTURAL = list("ab1 \t,;\"'\\{}[]:=?()-.#\n\r") + ["\r\n", "\u2028", "\u2029", "\x85", "\x0c", "\x0b",
                                                      "\x1c", "\ufeff", "\x00", "é", "😀", "NOT ", "null", "NaN"]
texts = st.lists(st.sampled_from(STRUCTURAL) | st.characters(exclude_categories=("Cs",)), max_size=120).map("".join)
raw_bytes = st.binary(max_size=200)

# JSON that Python's parser rejects with other exceptions than JSONDecodeError: a number of over 4,300
# digits (ValueError) and nesting deeper than the stack (RecursionError).
nasty_json = st.sampled_from(["9" * 5000, "-" + "9" * 4301, "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000,
                              '{"rules": [' + "1" * 4400 + "]}", '{"variables": [' * 30_000])
json_scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
                | st.text(max_size=12) | st.sampled_from(["", "x", "GetWeather", "?u", "intent(u1, X)", "yes"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)


def _slots(document: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``document`` (the root included)."""
    found = [path]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(_slots(value, (*path, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(_slots(value, (*path, index)))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """``base`` with up to three random edits: a value replaced, a key or item dropped, a string spliced, a
    number nudged (which often keeps the document valid, so the code after parsing runs too)."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_slots(document)))
        if not path:
            return draw(json_values) if draw(st.integers(0, 9)) == 0 else document
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        key, value = path[-1], parent[path[-1]]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        action = draw(st.sampled_from(["replace", "drop", "splice", "splice"] if isinstance(value, str)
                                      else ["replace", "drop", "nudge", "nudge"] if number else ["replace", "drop"]))
        if action == "nudge":
            parent[key] = draw(st.integers(-2, 70) | st.floats(-1.5, 2.5) | st.sampled_from([0, 1, 1e-9, 0.5]))
        elif action == "replace":
            parent[key] = draw(json_values)
        elif action == "drop":
            del parent[key]
        else:
            cut = draw(st.integers(0, len(value)))
            parent[key] = value[:cut] + draw(texts.map(lambda t: t[:6])) + value[cut + draw(st.integers(0, 3)):]
    return document


# ----------------------------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    strategy: st.SearchStrategy
    run: Callable[[Any, Path], None]


def _write(scratch: Path, name: str, content: str | bytes) -> Path:
    path = scratch / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return path


def _check_dataset(data: Any) -> None:
    assert len(data.texts) == len(data.labels) == len(data.lines) > 0
    assert all(isinstance(t, str) and t and t == t.strip() for t in data.texts), data.texts
    assert all(isinstance(lb, str) and lb for lb in data.labels), data.labels


_labels = st.sampled_from(["pos", "neg", "1", "0", " ", ""]) | texts.map(lambda t: t[:5])


def _delimited(sep: str) -> st.SearchStrategy:
    header = st.sampled_from([f"sentence{sep}label", f"text{sep}label", f"label{sep}sentence", "sentence", ""])
    field = texts.map(lambda t: t[:30])
    row = st.tuples(field, _labels).map(sep.join) | st.lists(field, max_size=3).map(sep.join)
    newline = st.sampled_from(["\n", "\n", "\r\n", "\r", "\u2028", ""])
    built = st.tuples(header, st.lists(st.tuples(row, newline), min_size=1, max_size=6)).map(
        lambda hr: hr[0] + "\n" + "".join(r + n for r, n in hr[1]))
    return built | built | texts | raw_bytes


def _read(fmt: str, suffix: str) -> Callable[[Any, Path], None]:
    def run(content: Any, scratch: Path) -> None:
        from neurolite_sdk.training.data import load_dataset

        _check_dataset(load_dataset(_write(scratch, f"data.{suffix}", content), fmt=fmt))
    return run


_jsonl_record = (st.fixed_dictionaries({"text": texts | json_values, "label": _labels | json_values})
                 | st.dictionaries(st.sampled_from(["text", "label", "sentence", "other"]), json_values, max_size=3))
_jsonl_line = _jsonl_record.map(lambda r: json.dumps(r, ensure_ascii=False, allow_nan=True)) | texts | nasty_json
_jsonl = (st.lists(st.tuples(_jsonl_line, st.sampled_from(["\n", "\r\n", "\n\n", "\u2028"])), min_size=1,
                   max_size=6).map(lambda rows: "".join(line + n for line, n in rows)) | texts | raw_bytes)


def _snips(pair: tuple[Any, Any], scratch: Path) -> None:
    from neurolite_sdk.training.data import load_dataset

    folder = scratch / "snips"
    folder.mkdir(exist_ok=True)
    _write(folder, "seq.in", pair[0])
    _write(folder, "label", pair[1])
    _check_dataset(load_dataset(folder))


def _text_file(content: Any, scratch: Path) -> None:
    from neurolite_sdk.cli.common import read_lines

    lines = read_lines(_write(scratch, "texts.txt", content))
    assert all(isinstance(line, str) and "\n" not in line and line.strip() for line in lines)


def _config_json(document: Any, _: Path) -> None:
    text = document if isinstance(document, str) else json.dumps(document, allow_nan=True)
    config = NeuroLiteConfig.from_json(text)
    assert NeuroLiteConfig.from_json(config.to_json()) == config  # what validated once validates again


_set_value = (json_values.map(lambda v: json.dumps(v, allow_nan=True)) | texts.map(lambda t: t[:20])
              | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "true", "fnet", "[[0,1]]", "5",
                                 "1000000000", "0", "-1", "1.5", '"x"', "[", "9" * 5000]))
_overrides = st.lists(st.tuples(st.sampled_from([*CONFIG_EXAMPLE, "hiden_size", ""]), _set_value), max_size=4)


def _set_overrides(pairs: list[tuple[str, str]], scratch: Path) -> None:
    from neurolite_sdk.cli.train import _parse_overrides
    from neurolite_sdk.training.pipeline import TrainJob, build_config

    overrides = _parse_overrides(tuple(f"{key}={value}" for key, value in pairs))
    config = build_config(TrainJob(train_path=scratch, eval_path=scratch, out_dir=scratch / "out",
                                   overrides=overrides))
    assert config.tensor_elements() > 0


def _config_file(case: tuple[Any, list[tuple[str, str]]], scratch: Path) -> None:
    from neurolite_sdk.cli.train import _parse_overrides
    from neurolite_sdk.training.pipeline import TrainJob, build_config

    content, pairs = case
    path = _write(scratch, "config.json", content)
    overrides = _parse_overrides(tuple(f"{key}={value}" for key, value in pairs))
    build_config(TrainJob(train_path=scratch, eval_path=scratch, out_dir=scratch / "out", config_path=path,
                          overrides=overrides))


def _rules(case: tuple[Any, list[str]], _: Path) -> None:
    from neurolite_sdk.reasoning import SymbolicRuleEngine

    document, facts = case
    engine = SymbolicRuleEngine.from_dict(document, source="rules.json", max_iterations=50,
                                          max_derived_facts=5_000)
    engine.undefined_premises(facts)
    result = engine.query(facts).to_dict()
    json.dumps(result, allow_nan=False)


_facts = st.lists(st.sampled_from(["intent(u1, GetWeather)", "slot(u1, city, paris)", "uncertain(u1)",
                                   "intent(u1)", "p(", 'q("a\\"b")', "NOT x(y)"]) | texts.map(lambda t: t[:25]),
                  max_size=3)


def _rules_file(content: Any, scratch: Path) -> None:
    from neurolite_sdk.reasoning import SymbolicRuleEngine

    SymbolicRuleEngine.from_json(_write(scratch, "rules.json", content), max_iterations=50, max_derived_facts=5_000)


_evidence = st.dictionaries(st.sampled_from(["asia", "smoke", "tub", "lung", "either", "xray", "dysp", "nope"]),
                            st.sampled_from(["yes", "no", "maybe"])
                            | st.dictionaries(st.sampled_from(["yes", "no", "maybe"]),
                                              st.floats(allow_nan=True, allow_infinity=True) | st.integers(-2, 2),
                                              max_size=3), max_size=3)


def _network(case: tuple[Any, Any, str], _: Path) -> None:
    from neurolite_sdk.reasoning import BayesianBeliefNetwork

    document, evidence, method = case
    network = BayesianBeliefNetwork.from_dict(document, source="network.json")
    result = network.infer(None, evidence, method=method, samples=200, seed=0)
    for posterior in result.posteriors.values():
        values = list(posterior.values())
        assert all(math.isfinite(p) and -1e-9 <= p <= 1 + 1e-9 for p in values), posterior
        assert abs(sum(values) - 1) < 1e-6, posterior
    json.dumps(result.to_dict(), allow_nan=False)


def _network_file(content: Any, scratch: Path) -> None:
    from neurolite_sdk.reasoning import BayesianBeliefNetwork

    BayesianBeliefNetwork.from_json(_write(scratch, "network.json", content))


_segments = st.sampled_from(["ckpt", "..", ".", "", "file", "loop", "checkpoint", "nonempty", "x\x00y", "é",
                             "n" * 300, "~", "-"])
_out_paths = st.lists(_segments, min_size=1, max_size=4).map("/".join)


def _output_path(relative: str, scratch: Path) -> None:
    """``check_output_dir`` (what every --out goes through) on odd paths beside a file, a symlink loop, a
    non-empty directory and a checkpoint-looking one."""
    from neurolite_sdk.atomic import CHECKPOINT, CHECKPOINT_FILES, check_output_dir

    base = scratch / "out-fuzz"
    if not base.exists():
        base.mkdir()
        (base / "file").write_text("x", encoding="utf-8")
        (base / "loop").symlink_to(base / "loop")
        (base / "nonempty").mkdir()
        (base / "nonempty" / "keep.txt").write_text("x", encoding="utf-8")
        (base / "checkpoint").mkdir()
        for name in CHECKPOINT_FILES:
            (base / "checkpoint" / name).write_text("{}", encoding="utf-8")
    before = sorted(str(p) for p in base.rglob("*"))
    try:
        check_output_dir(base / relative, CHECKPOINT, overwrite=relative.endswith("checkpoint"))
    finally:
        assert sorted(str(p) for p in base.rglob("*")) == before  # a check writes nothing


TARGETS: dict[str, Target] = {
    "tsv": Target(_delimited("\t"), _read("tsv", "tsv")),
    "csv": Target(_delimited(","), _read("csv", "csv")),
    "jsonl": Target(_jsonl, _read("jsonl", "jsonl")),
    "snips": Target(st.tuples(_jsonl | texts, texts | raw_bytes), _snips),
    "text-file": Target(texts | raw_bytes, _text_file),
    "config-json": Target(mutated(CONFIG_EXAMPLE) | texts | nasty_json, _config_json),
    "set-overrides": Target(_overrides, _set_overrides),
    "config-file": Target(st.tuples(mutated(CONFIG_EXAMPLE).map(lambda d: json.dumps(d, allow_nan=True)) | texts
                                    | raw_bytes | nasty_json, _overrides), _config_file),
    "rules": Target(st.tuples(mutated(RULES_EXAMPLE), _facts), _rules),
    "rules-file": Target(mutated(RULES_EXAMPLE).map(lambda d: json.dumps(d, allow_nan=True)) | texts | raw_bytes
                         | nasty_json,
                         _rules_file),
    "network": Target(st.tuples(mutated(NETWORK_EXAMPLE), _evidence, st.sampled_from(["exact", "lw"])), _network),
    "network-file": Target(mutated(NETWORK_EXAMPLE).map(lambda d: json.dumps(d, allow_nan=True)) | texts | raw_bytes
                           | nasty_json,
                           _network_file),
    "output-path": Target(_out_paths, _output_path),
}


def call(target: Target, value: Any, scratch: Path) -> None:
    """Run one input; a typed error is a correct answer, anything else propagates."""
    try:
        target.run(value, scratch)
    except NeuroLiteError:
        pass


# ----------------------------------------------------------------------------------------------- script
def fuzz(name: str, examples: int, random_seed: int, scratch: Path) -> dict[str, Any]:
    """``examples`` inputs through one target; returns the counts and the first escapes."""
    target, counts, escapes = TARGETS[name], {"inputs": 0, "typed_errors": 0, "accepted": 0}, []

    @seed(random_seed)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(target.strategy)
    def run(value: Any) -> None:
        counts["inputs"] += 1
        try:
            target.run(value, scratch)
            counts["accepted"] += 1
        except NeuroLiteError:
            counts["typed_errors"] += 1
        except Exception as exc:  # an escape: recorded, the run goes on
            if len(escapes) < 5:
                escapes.append({"input": repr(value)[:300], "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
            counts.setdefault("escapes", 0)
            counts["escapes"] += 1

    started = time.perf_counter()
    run()
    return {"target": name, **counts, "escapes": counts.get("escapes", 0), "first_escapes": escapes,
            "seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=5000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated: " + ", ".join(TARGETS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s): {', '.join(unknown)}")
    rows = []
    print(f"{'target':<14} {'inputs':>8} {'accepted':>9} {'typed errors':>13} {'escapes':>8} {'seconds':>8}")
    with tempfile.TemporaryDirectory(prefix="neurolite-fuzz-") as scratch:
        for name in names:
            row = fuzz(name, args.examples, args.seed, Path(scratch))
            rows.append(row)
            print(f"{name:<14} {row['inputs']:>8,} {row['accepted']:>9,} {row['typed_errors']:>13,} "
                  f"{row['escapes']:>8,} {row['seconds']:>8.1f}", flush=True)
            for escape in row["first_escapes"]:
                print(f"  escape: {escape['error']}\n    input: {escape['input']}")
    total_inputs, total_escapes = sum(r["inputs"] for r in rows), sum(r["escapes"] for r in rows)
    print(f"{'total':<14} {total_inputs:>8,} {'':>9} {'':>13} {total_escapes:>8,}")
    if args.json:
        args.json.write_text(json.dumps({"examples_per_target": args.examples, "seed": args.seed,
                                         "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 1 if total_escapes else 0


if __name__ == "__main__":
    sys.exit(main())
