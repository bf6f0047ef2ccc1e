"""Shared fixtures: the project's own copies of real data sets, a small trained model and its exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurolite_sdk.exporters import ExportResult, export_bundle, exporter_formats, parity_texts
from neurolite_sdk.public_data import data_dir
from neurolite_sdk.training.checkpoint import Checkpoint, load_checkpoint
from neurolite_sdk.training.pipeline import TrainJob, run_training

ROOT = Path(__file__).resolve().parents[1]
DATA = data_dir()


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


# Small enough that training and all four exports take well under a minute on two cores.
SMALL = dict(num_buckets=512, embedding_dim=32, hidden_size=32, num_mixer_layers=1, max_length=16,
             token_mixing_dim=16, channel_mixing_dim=64)


@pytest.fixture(scope="session")
def small_checkpoint_dir(tmp_path_factory: pytest.TempPathFactory, sst2_small: tuple[Path, Path]) -> Path:
    train_path, dev_path = sst2_small
    out = tmp_path_factory.mktemp("export-ckpt") / "ckpt"
    run_training(TrainJob(train_path=train_path, eval_path=dev_path, out_dir=out, epochs=1, distill=False,
                          max_rows=500, overrides=SMALL))
    return out


@pytest.fixture(scope="session")
def small_checkpoint(small_checkpoint_dir: Path) -> Checkpoint:
    return load_checkpoint(small_checkpoint_dir)


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory,
            small_checkpoint: Checkpoint) -> dict[str, ExportResult]:
    """Every format exported and verified once, on the checkpoint's eval texts."""
    out = tmp_path_factory.mktemp("bundles")
    texts = parity_texts(small_checkpoint)
    return {fmt: export_bundle(small_checkpoint, fmt, out / fmt, texts=texts) for fmt in exporter_formats()}


@pytest.fixture(scope="session")
def eval_texts(sst2_small: tuple[Path, Path]) -> list[str]:
    lines = sst2_small[1].read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, sst2_small: tuple[Path, Path]) -> Checkpoint:
    """The ``tiny`` preset (the on-device default, 15 tensors orbital8 codes) from scratch, one epoch on 500 SST-2
    rows: seconds. For the app libraries' orbital8 load-form tests, whose regions need its real layout."""
    train_path, dev_path = sst2_small
    out = tmp_path_factory.mktemp("tiny-ckpt") / "ckpt"
    run_training(TrainJob(train_path=train_path, eval_path=dev_path, out_dir=out, epochs=1, distill=False,
                          max_rows=500, init="scratch"))
    return load_checkpoint(out)


@pytest.fixture(scope="session")
def tiny_orbital8(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Checkpoint) -> dict[str, Path]:
    """``tiny`` exported to ONNX and TFLite with ``--quantize orbital8`` in the load form (the default): manifest
    schema 2, a zlib shell plus the codes file; parity verified. By format."""
    out = tmp_path_factory.mktemp("tiny-orbital8")
    texts = parity_texts(tiny_checkpoint)
    return {fmt: export_bundle(tiny_checkpoint, fmt, out / fmt, texts=texts, quantize="orbital8").bundle
            for fmt in ("onnx", "tflite")}
