"""The Hugging Face ``datasets`` path of the data layer (issue 15, item 1), on data sets this test writes itself:
nothing is downloaded (HF_DATASETS_OFFLINE, and the ``hf:`` spec points at a local folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from neurolite_sdk.cli import main
from neurolite_sdk.training.data import DataError, load_dataset
from neurolite_sdk.training.pipeline import TrainJob, run_training

datasets = pytest.importorskip("datasets")

TEXTS = ["a gorgeous , witty , seductive movie .", "the plot is nothing but boilerplate clichés",
         "an utterly charming film", "dull , lifeless and far too long", "a triumph of style",
         "it never finds its footing", "warm and funny", "a mess from start to finish"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)


def _saved(tmp_path: Path, name: str = "saved", rows: int = 8) -> Path:
    """A Dataset with SST-2's Hugging Face schema (idx, sentence, ClassLabel label) written by save_to_disk."""
    features = datasets.Features({"idx": datasets.Value("int32"), "sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    table = datasets.Dataset.from_dict({"idx": list(range(rows)), "sentence": TEXTS[:rows],
                                        "label": [(i + 1) % 2 for i in range(rows)]}, features=features)
    folder = tmp_path / name
    table.save_to_disk(str(folder))
    return folder


def test_saved_dataset_reads_like_the_tsv(tmp_path: Path) -> None:
    data = load_dataset(_saved(tmp_path))
    assert data.texts == TEXTS
    assert data.labels == ["1", "0"] * 4  # the ClassLabel's integer, as the SST-2 TSV files write it
    assert data.lines == list(range(1, 9))


def test_column_mapping_and_errors_name_the_source(tmp_path: Path) -> None:
    table = datasets.Dataset.from_dict({"review": TEXTS[:4], "stars": ["good", "bad", "good", "bad"]})
    folder = tmp_path / "custom"
    table.save_to_disk(str(folder))
    data = load_dataset(folder, text_col="review", label_col="stars")
    assert data.labels == ["good", "bad", "good", "bad"]
    with pytest.raises(DataError, match=rf"^{folder}: no text column \(looked for sentence, text\).*review"):
        load_dataset(folder)
    with pytest.raises(DataError, match=rf"^{folder}: no label column 'rating'"):
        load_dataset(folder, text_col="review", label_col="rating")


def test_dataset_dict_names_its_split_folders(tmp_path: Path) -> None:
    both = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": TEXTS, "label": [0, 1] * 4}),
                                 "validation": datasets.Dataset.from_dict({"text": TEXTS[:2], "label": [0, 1]})})
    folder = tmp_path / "dict"
    both.save_to_disk(str(folder))
    with pytest.raises(DataError, match=rf"DatasetDict.*{folder / 'train'}"):
        load_dataset(folder)
    assert len(load_dataset(folder / "validation")) == 2


def test_hf_spec_loads_through_datasets_load_dataset(tmp_path: Path) -> None:
    """``hf:REPO:SPLIT`` goes through ``datasets.load_dataset``; a local folder of CSV files stands in for the hub."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.csv").write_text("text,label\n" + "".join(f'"{t}",{i % 2}\n' for i, t in enumerate(TEXTS)),
                                    encoding="utf-8")
    data = load_dataset(f"hf:{repo}:train")
    assert data.texts == TEXTS and data.labels == ["0", "1"] * 4
    assert data.source == f"hf:{repo}:train"
    with pytest.raises(DataError, match=rf"^hf:{repo}:nosuchsplit: cannot load from the Hugging Face hub"):
        load_dataset(f"hf:{repo}:nosuchsplit")
    with pytest.raises(DataError, match=r"^hf:onlyrepo: expected hf:REPO:SPLIT or hf:REPO:CONFIG:SPLIT"):
        load_dataset("hf:onlyrepo")


def test_train_and_eval_on_saved_datasets(tmp_path: Path) -> None:
    """A checkpoint trained on a saved data set; ``neurolite eval`` reads it back by the recorded path."""
    train_dir = _saved(tmp_path, "train")
    out = tmp_path / "ckpt"
    report = run_training(TrainJob(train_path=train_dir, eval_path=train_dir, out_dir=out, epochs=1, distill=False,
                                   overrides={"num_buckets": 64, "embedding_dim": 8, "hidden_size": 8,
                                              "num_mixer_layers": 1, "max_length": 8, "token_mixing_dim": 8,
                                              "channel_mixing_dim": 8}))
    assert report["train_rows"] == 8 and report["train_path"] == str(train_dir)
    result = CliRunner().invoke(main, ["eval", str(out), "--data", str(train_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == 8
