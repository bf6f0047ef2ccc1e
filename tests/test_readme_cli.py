"""The README's commands run against the CLI's ``--help`` (issue 15, Tests): every ``neurolite`` command line in
its code blocks (and in the Makefile's demo) names a real command, and every option it uses is one that
command accepts, so the README cannot drift from the CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from neurolite_sdk.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _command_lines(text: str) -> list[str]:
    """``neurolite ...`` lines of the bash code blocks, continuation lines joined, comments dropped."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("neurolite "):
                lines.append(line)
    return lines


def _makefile_lines() -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(r"\$\(BIN\)/(neurolite [^\n]*)", text)]


def _options(line: str) -> tuple[str, list[str]]:
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "))
    return words[1], [w.split("=")[0] for w in words[2:] if w.startswith("-")]


README_LINES = _command_lines((ROOT / "README.md").read_text(encoding="utf-8"))


def _help(command: str) -> str:
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, f"neurolite {command} --help: {result.output}"
    return result.output


def test_the_readme_has_commands_to_check() -> None:
    assert len(README_LINES) >= 20
    assert {_options(line)[0] for line in README_LINES} >= {"train", "eval", "export", "run", "bench", "report"}


@pytest.mark.parametrize("line", README_LINES + _makefile_lines())
def test_readme_command_matches_help(line: str) -> None:
    command, options = _options(line)
    assert command in main.commands, f"{line}: no command {command!r} (neurolite --help lists {sorted(main.commands)})"
    accepted = {name for param in main.commands[command].params for name in (*param.opts, *param.secondary_opts)}
    help_text = _help(command)
    for option in options:
        assert option in accepted, f"{line}: neurolite {command} has no option {option}"
        assert option in help_text or option in ("-h",), f"{line}: {option} is not in neurolite {command} --help"


def test_a_wrong_option_would_be_caught() -> None:
    command, options = _options("neurolite export runs/x --formats onnx --out y")
    accepted = {name for param in main.commands[command].params for name in param.opts}
    assert "--formats" not in accepted


def test_readme_python_example_names_real_functions() -> None:
    import inspect

    import neurolite_sdk as nl

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    calls = re.findall(r"\bnl\.(\w+)\(([^)]*)\)", "".join(re.findall(r"```python\n(.*?)```", text, flags=re.S)))
    assert {name for name, _ in calls} >= {"train", "evaluate", "export", "load", "bench", "report"}
    for name, arguments in calls:
        parameters = inspect.signature(getattr(nl, name)).parameters
        for keyword in re.findall(r"\b(\w+)=", arguments):
            assert keyword in parameters, f"README: nl.{name}(... {keyword}=...) but nl.{name} has no such parameter"
