"""Output as a log reads it (issue 15, item 4): tables whole when piped, third-party warnings only with -v."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NEUROLITE = [str(Path(sys.executable).parent / "neurolite")]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NEUROLITE, *args], capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "COLUMNS": "80"})


def test_piped_tables_are_not_cut(tmp_path: Path) -> None:
    result = _run("info", "--preset", "base")
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) > 80  # wider than the 80 columns rich assumed


def test_third_party_warnings_only_with_verbose(small_checkpoint_dir: Path, tmp_path: Path) -> None:
    quiet = _run("export", str(small_checkpoint_dir), "--format", "onnx", "--out", str(tmp_path / "a"))
    assert quiet.returncode == 0, quiet.stderr
    foreign = [line for line in quiet.stderr.splitlines()
               if ("Warning" in line or "torchvision" in line) and "neurolite_sdk" not in line]
    assert not foreign, quiet.stderr  # (the SDK's own warnings, e.g. a stale native build, still show)
    silent = _run("-q", "export", str(small_checkpoint_dir), "--format", "onnx", "--out", str(tmp_path / "c"))
    assert silent.returncode == 0 and silent.stdout == "", silent.stdout


def test_verbosity_filters_only_third_party(monkeypatch: object) -> None:
    import logging
    import warnings

    from rich.console import Console

    from neurolite_sdk.cli.verbosity import configure_output

    def shown(module: str) -> bool:
        with warnings.catch_warnings(record=True) as caught:
            warnings.warn_explicit("note", UserWarning, "file.py", 1, module=module)
        return bool(caught)

    for verbose in (0, 1):
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            logging.getLogger("torch").setLevel(logging.NOTSET)
            configure_output(Console(file=open("/dev/null", "w")), verbose, quiet=False)  # noqa: SIM115
            assert shown("neurolite_sdk.exporters.onnx")
            assert shown("torch.onnx._internal.exporter") == bool(verbose)
            assert (logging.getLogger("torch").getEffectiveLevel() >= logging.ERROR) == (not verbose)
    logging.getLogger("torch").setLevel(logging.NOTSET)
