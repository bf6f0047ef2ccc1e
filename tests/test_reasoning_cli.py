"""``reason`` and ``infer`` through click's CliRunner, on a group of their own: output and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from neurolite_sdk.cli.reasoning import infer_command, reason_command

ROOT = Path(__file__).resolve().parents[1]
SNIPS_RULES = str(ROOT / "examples" / "rules" / "snips_followups.json")
SPRINKLER = str(ROOT / "examples" / "networks" / "sprinkler.json")


@click.group()
def cli() -> None:
    """Just the reasoning commands."""


cli.add_command(reason_command, "reason")
cli.add_command(infer_command, "infer")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def failed(result: Result, code: int, message: str) -> None:
    """A user error: the exit code and the message, and no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert message in result.output


def test_reason_prints_derived_facts_with_their_proofs() -> None:
    result = run("reason", SNIPS_RULES, "--facts", "intent(u1, GetWeather)",
                 "--facts", "slot(u1,timeRange,today)")
    assert result.exit_code == 0, result.output
    assert "ask(u1, location)" in result.output and "NOT located(u1)" in result.output
    assert "intent(u1, GetWeather)  (transient)" in result.output
    assert "3 fact(s) derived" in result.output


def test_reason_json() -> None:
    result = run("reason", SNIPS_RULES, "--facts", "intent(u1, GetWeather)",
                 "--facts", 'slot(u1, city, "new york")', "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    facts = {entry["fact"]: entry for entry in report["derived"]}
    ready = facts["ready(u1, weather.forecast)"]
    assert ready["rule"] == 22 and ready["absent"] == ["needs_followup(u1)", "uncertain(u1)"]
    assert ready["premises"] == [{"fact": "intent(u1, GetWeather)", "source": "transient"},
                                 {"fact": "handler(GetWeather, weather.forecast)", "source": "given"}]
    assert "has(u1, city)" in facts and report["iterations"] > 0


def test_reason_errors(tmp_path: Path) -> None:
    bad = tmp_path / "rules.json"
    bad.write_text('{"rules": [\n  {"premises": ["p(?x)"] "conclusion": "q(?x)"}]}', encoding="utf-8")
    failed(run("reason", str(bad)), 1, "malformed JSON at line 2, column 26")
    failed(run("reason", SNIPS_RULES, "--facts", "intent(u1"), 1, "transient_facts[0]: cannot parse")
    failed(run("reason", SNIPS_RULES, "--facts", "intent(u1)"), 1, "'intent' is used with 2 argument(s)")
    failed(run("reason", str(tmp_path / "none.json")), 1, "cannot read")


def test_infer_exact_and_lw() -> None:
    exact = run("infer", SPRINKLER, "--evidence", "WetGrass=true", "--query", "Rain", "--json")
    assert exact.exit_code == 0, exact.output
    report = json.loads(exact.output)
    assert report["method"] == "exact" and report["evidence"] == {"WetGrass": "true"}
    assert report["posteriors"]["Rain"]["true"] == pytest.approx(0.7079277, abs=1e-6)
    lw = run("infer", SPRINKLER, "--soft", "WetGrass=true:0.8,false:0.2", "--method", "lw",
             "--samples", "4000", "--seed", "1", "--json")
    assert lw.exit_code == 0, lw.output
    report = json.loads(lw.output)
    assert report["samples"] == 4000 and 0 < report["effective_sample_size"] <= 4000
    assert set(report["posteriors"]) == {"Cloudy", "Sprinkler", "Rain", "WetGrass"}
    human = run("infer", SPRINKLER, "--evidence", "WetGrass=true", "--method", "lw")
    assert human.exit_code == 0 and "Rain" in human.output and "effective sample size" in human.output


def test_infer_errors() -> None:
    failed(run("infer", SPRINKLER, "--evidence", "Snow=true"), 1, "evidence for unknown variable 'Snow'")
    failed(run("infer", SPRINKLER, "--evidence", "Rain=maybe"), 1, "Rain has states ['true', 'false']")
    failed(run("infer", SPRINKLER, "--query", "Snow"), 1, "unknown variable 'Snow'")
    failed(run("infer", SPRINKLER, "--evidence", "Rain"), 2, "expected VAR=VALUE")
    failed(run("infer", SPRINKLER, "--soft", "Rain=true:high"), 2, "expected VAR=STATE:LIKELIHOOD")
    failed(run("infer", SPRINKLER, "--evidence", "Rain=true", "--soft", "Rain=true:1"), 2,
           "two pieces of evidence")
    failed(run("infer", SPRINKLER, "--method", "gibbs"), 2, "Invalid value for '--method'")
    failed(run("infer", SNIPS_RULES), 1, "unknown key(s) ['facts', 'rules']")
