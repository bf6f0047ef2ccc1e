"""Shared fixtures: the project's own copies of real data sets, and small trained models."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@pytest.fixture(scope="session")
def sst2_dir() -> Path:
    return DATA / "sst2"


@pytest.fixture(scope="session")
def snips_dir() -> Path:
    return DATA / "snips"


@pytest.fixture(scope="session")
def sst2_small(tmp_path_factory: pytest.TempPathFactory, sst2_dir: Path) -> tuple[Path, Path]:
    """The first 500 SST-2 training rows and the whole dev set (872 rows), as TSV files with the header."""
    folder = tmp_path_factory.mktemp("sst2-small")
    for name, rows in (("train.tsv", 500), ("dev.tsv", 872)):
        lines = (sst2_dir / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / name).write_text("".join(lines[: rows + 1]), encoding="utf-8")
    return folder / "train.tsv", folder / "dev.tsv"
