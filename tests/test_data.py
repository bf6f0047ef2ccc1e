"""Readers for TSV, CSV, JSONL and SNIPS, and every bad input named by file, line or column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurolite_sdk.training.data import DataError, encode_labels, load_dataset


def test_reads_sst2_tsv(sst2_dir: Path) -> None:
    data = load_dataset(sst2_dir / "dev.tsv")
    assert len(data) == 872
    assert set(data.labels) == {"0", "1"}
    assert data.texts[0] == "it 's a charming and often affecting journey ."
    assert data.lines[0] == 2


def test_reads_snips_layout(snips_dir: Path) -> None:
    data = load_dataset(snips_dir / "test")
    assert len(data) == 700
    assert len(set(data.labels)) == 7
    same = load_dataset(snips_dir / "test" / "seq.in")
    assert same.texts == data.texts


def test_csv_and_jsonl_with_named_columns(tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('review,stars\n"good, really good",pos\nbad,neg\n', encoding="utf-8")
    data = load_dataset(csv_path, text_col="review", label_col="stars")
    assert data.texts == ["good, really good", "bad"] and data.labels == ["pos", "neg"]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(json.dumps({"text": "fine", "label": 1}) + "\n\n" + json.dumps({"text": "meh", "label": 0}) + "\n")
    data = load_dataset(jsonl)
    assert data.labels == ["1", "0"] and data.lines == [1, 3]


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "message"),
    [
        ("missing.tsv", None, {}, "no such file"),
        ("empty.tsv", "", {}, "empty file"),
        ("header.tsv", "sentence\tlabel\n", {}, "no data rows"),
        ("cols.tsv", "review\tstars\ngood\t1\n", {}, "columns found: review, stars"),
        ("cols2.tsv", "sentence\tlabel\ngood\t1\n", {"text_col": "body"}, "no text column 'body'; columns found"),
        ("blank.tsv", "sentence\tlabel\ngood\t1\n   \t0\n", {}, "line 3: empty text"),
        ("nolabel.tsv", "sentence\tlabel\ngood\t\n", {}, "line 2: empty label"),
        ("fields.tsv", "sentence\tlabel\ngood\t1\textra\n", {}, "line 2: 3 fields"),
        ("latin1.tsv", b"sentence\tlabel\ngood\t1\n" + "très bien\t1\n".encode("latin-1"), {},
         "line 3: not valid UTF-8"),
        ("bad.jsonl", '{"text": "a", "label": 1}\n{"text": \n', {}, "line 2: invalid JSON"),
        ("list.jsonl", '["a", 1]\n', {}, "line 1: expected a JSON object"),
        ("data.xml", "<x/>", {}, "cannot tell the format"),
    ],
)
def test_bad_input_is_named(tmp_path: Path, name: str, content, kwargs: dict, message: str) -> None:
    path = tmp_path / name if content is None else write(tmp_path, name, content)
    with pytest.raises(DataError, match=message) as info:
        load_dataset(path, **kwargs)
    assert name in str(info.value)


def test_snips_line_count_mismatch(tmp_path: Path) -> None:
    write(tmp_path, "seq.in", "play music\nwhat is the weather\n")
    write(tmp_path, "label", "PlayMusic\n")
    with pytest.raises(DataError, match="seq.in has 2 lines but label has 1"):
        load_dataset(tmp_path)


def test_unseen_eval_label_names_line(tmp_path: Path) -> None:
    data = load_dataset(write(tmp_path, "eval.tsv", "sentence\tlabel\ngood\t1\nodd\t7\n"))
    with pytest.raises(DataError, match=r"eval.tsv: line 3: label '7' never seen in training"):
        encode_labels(data, ["0", "1"])
