"""Each command in the module named for it (issue 15, item 2): ``neurolite run`` is not in export_commands.py."""

from __future__ import annotations

import inspect

from neurolite_sdk.cli import export_commands, main


def test_run_lives_in_run_commands() -> None:
    assert main.commands["run"].callback.__module__ == "neurolite_sdk.cli.run_commands"
    assert main.commands["export"].callback.__module__ == "neurolite_sdk.cli.export_commands"
    assert "def run_command" not in inspect.getsource(export_commands)
    assert export_commands.run_command is main.commands["run"]  # the old import path still works
