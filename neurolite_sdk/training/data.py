"""Labelled text readers: TSV, CSV, JSONL and the SNIPS layout (``seq.in`` + ``label``).

Every error names the file and, where there is one, the line, so a user can fix their data. Texts
are kept as written (the featurizer normalizes); a row whose text is empty after stripping is an
error rather than a silent skip, because silently dropping rows changes what the model learns.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.lines import split_lines

TEXT_COLUMNS = ("sentence", "text")
LABEL_COLUMNS = ("label",)
FORMATS = ("tsv", "csv", "jsonl", "snips")


class DataError(NeuroLiteError):
    """Bad training or evaluation data; the message names the file (and line)."""


@dataclass
class TextDataset:
    texts: list[str]
    labels: list[str]
    lines: list[int]  # 1-based source line of each row, for error messages
    source: str

    def __len__(self) -> int:
        return len(self.texts)


def detect_format(path: Path) -> str:
    if path.is_dir() or path.name in ("seq.in", "label"):
        return "snips"
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise DataError(f"{path}: cannot tell the format from the name; use .tsv, .csv, .jsonl or a SNIPS folder "
                    "(seq.in + label), or pass --format")


def load_dataset(path: str | Path, text_col: str | None = None, label_col: str | None = None,
                 fmt: str | None = None) -> TextDataset:
    """Read a labelled text file, an ``hf:REPO[:CONFIG]:SPLIT`` data set or a ``save_to_disk`` folder
    (``hf_data``). ``text_col``/``label_col`` default to sentence|text and label."""
    from neurolite_sdk.training import hf_data

    if hf_data.is_hf_spec(path) or hf_data.is_saved_dataset(Path(path)):  # the Hugging Face datasets library
        source, rows = hf_data.load_hf_rows(path)
        return _select_columns(Path(source), rows, text_col, label_col)
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if fmt == "snips":
        dataset = _read_snips(path)
    else:
        text = _read_utf8(path)
        if fmt == "jsonl":
            rows = _jsonl_rows(path, text)
        else:
            rows = _delimited_rows(path, text, "\t" if fmt == "tsv" else ",")
        dataset = _select_columns(path, rows, text_col, label_col)
    if not dataset.texts:
        raise DataError(f"{path}: no data rows")
    return dataset


def _read_utf8(path: Path) -> str:
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc


def _delimited_rows(path: Path, text: str, delimiter: str) -> list[tuple[int, dict[str, str]]]:
    records = _tsv_records(text) if delimiter == "\t" else _csv_records(path, text)
    try:
        _, header = next(records)
    except StopIteration:
        raise DataError(f"{path}: empty file (expected a header row)") from None
    header = [h.strip() for h in header]
    rows = []
    for line, record in records:
        if not record or all(not field.strip() for field in record):
            continue
        if len(record) != len(header):
            raise DataError(f"{path}: line {line}: {len(record)} fields, the header has {len(header)}")
        rows.append((line, dict(zip(header, record, strict=False))))
    return rows


def _tsv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """One record per line (split at ``\n`` only, ``neurolite_sdk.lines``), fields split at tabs. No quoting:
    PTB-tokenized corpora such as SST-2 contain bare quote characters; no field length limit."""
    for line_number, line in enumerate(split_lines(text), start=1):
        yield line_number, line.split("\t")


# Python's csv module refuses fields over 131,072 characters by default (a process-wide setting); a CSV
# field may be any length here. 2**31 - 1: the largest limit every platform's C long holds.
CSV_FIELD_LIMIT = 2**31 - 1


def _csv_records(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """RFC 4180 through Python's csv module: quoted fields may hold commas and line breaks; records end at a
    line break outside quotes."""
    previous = csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quoting=csv.QUOTE_MINIMAL)
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DataError(f"{path}: line {reader.line_num}: {exc}") from exc
            yield reader.line_num, record
    finally:
        csv.field_size_limit(previous)


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    """One JSON object per line (split at ``\n`` only: U+2028 and friends are valid inside JSON strings);
    blank lines are skipped. Values are kept as JSON gave them; ``_select_columns`` checks their types."""
    rows = []
    for line_number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {line_number}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
        except (ValueError, RecursionError) as exc:  # a number of over 4,300 digits; nesting past the stack
            raise DataError(f"{path}: line {line_number}: invalid JSON ({exc.__class__.__name__}: "
                            f"{str(exc)[:120]})") from exc
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {line_number}: expected a JSON object, got {type(record).__name__}")
        rows.append((line_number, record))
    return rows


def _pick(path: Path, columns: list[str], wanted: str | None, defaults: tuple[str, ...], role: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{path}: no {role} column {wanted!r}; columns found: {', '.join(columns) or '(none)'}")
        return wanted
    for name in defaults:
        if name in columns:
            return name
    raise DataError(f"{path}: no {role} column (looked for {', '.join(defaults)}); columns found: "
                    f"{', '.join(columns) or '(none)'}; pass --{role}-col")


def _select_columns(path: Path, rows: list[tuple[int, dict[str, Any]]], text_col: str | None,
                    label_col: str | None) -> TextDataset:
    if not rows:
        raise DataError(f"{path}: no data rows")
    columns = list(rows[0][1])
    for _, record in rows:  # JSONL objects may differ in keys; the union is what "found" means
        columns.extend(k for k in record if k not in columns)
    text_name = _pick(path, columns, text_col, TEXT_COLUMNS, "text")
    label_name = _pick(path, columns, label_col, LABEL_COLUMNS, "label")
    texts, labels, lines = [], [], []
    for line, record in rows:
        if text_name not in record or label_name not in record:
            missing = text_name if text_name not in record else label_name
            raise DataError(f"{path}: line {line}: missing field {missing!r}")
        text, label = record[text_name], _label_string(path, line, label_name, record[label_name])
        if not isinstance(text, str):  # JSONL: null, a number, a list is not text to train on
            raise DataError(f"{path}: line {line}: field {text_name!r} must be a string, got {_json_kind(text)}")
        if not text.strip():
            raise DataError(f"{path}: line {line}: empty text in column {text_name!r}")
        if not label:
            raise DataError(f"{path}: line {line}: empty label in column {label_name!r}")
        texts.append(text.strip())
        labels.append(label)
        lines.append(line)
    return TextDataset(texts, labels, lines, str(path))


def _label_string(path: Path, line: int, name: str, value: Any) -> str:
    """A label as a string: JSONL may give it as a string or an integer (``"label": 1``), nothing else."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"{path}: line {line}: field {name!r} must be a string or an integer, got {_json_kind(value)}")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return {dict: "an object", list: "an array"}.get(type(value), type(value).__name__)


def _read_snips(path: Path) -> TextDataset:
    folder = path if path.is_dir() else path.parent
    seq_path, label_path = folder / "seq.in", folder / "label"
    for required in (seq_path, label_path):
        if not required.is_file():
            raise DataError(f"{required}: missing (the SNIPS layout needs seq.in and label side by side)")
    texts = split_lines(_read_utf8(seq_path))  # at \n only; a blank line is an error below (the files pair up)
    labels = split_lines(_read_utf8(label_path))
    if len(texts) != len(labels):
        raise DataError(f"{folder}: seq.in has {len(texts)} lines but label has {len(labels)}")
    for line, (text, label) in enumerate(zip(texts, labels, strict=False), start=1):
        if not text.strip():
            raise DataError(f"{seq_path}: line {line}: empty text")
        if not label.strip():
            raise DataError(f"{label_path}: line {line}: empty label")
    return TextDataset([t.strip() for t in texts], [lb.strip() for lb in labels],
                       list(range(1, len(texts) + 1)), str(seq_path))


def encode_labels(dataset: TextDataset, label_names: list[str]) -> list[int]:
    """Map string labels to indices; a label never seen in training is an error naming its line."""
    index = {name: i for i, name in enumerate(label_names)}
    encoded = []
    for label, line in zip(dataset.labels, dataset.lines, strict=False):
        if label not in index:
            raise DataError(f"{dataset.source}: line {line}: label {label!r} never seen in training "
                            f"(training labels: {', '.join(label_names)})")
        encoded.append(index[label])
    return encoded


UNSEEN_LABEL = -1  # the index of an evaluation row whose label the training data never had


@dataclass
class UnseenLabels:
    """Evaluation rows whose label never occurs in training: they count as errors, never stop a run."""

    source: str
    counts: dict[str, int]  # label -> rows
    first_line: int | None = None

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def message(self, total: int) -> str:
        shown = ", ".join(f"{label!r} ({n})" for label, n in sorted(self.counts.items(), key=lambda kv: -kv[1])[:8])
        more = f" and {len(self.counts) - 8} more" if len(self.counts) > 8 else ""
        return (f"{self.source}: {self.rows} of {total} rows (first at line {self.first_line}) carry "
                f"{len(self.counts)} label(s) never seen in training: {shown}{more}; they count as errors")


def encode_eval_labels(dataset: TextDataset, label_names: list[str]) -> tuple[list[int], UnseenLabels]:
    """Like ``encode_labels``, but a label never seen in training maps to ``UNSEEN_LABEL`` and is counted.

    Intent data sets often carry labels in their evaluation split that training lacks (multi-intent
    combinations such as ``atis_flight#atis_airfare``); no prediction can match them, so they are
    errors in accuracy, reported, and training goes on.
    """
    index = {name: i for i, name in enumerate(label_names)}
    unseen = UnseenLabels(dataset.source, {})
    encoded = []
    for label, line in zip(dataset.labels, dataset.lines, strict=False):
        if label not in index:
            unseen.counts[label] = unseen.counts.get(label, 0) + 1
            if unseen.first_line is None:
                unseen.first_line = line
            encoded.append(UNSEEN_LABEL)
        else:
            encoded.append(index[label])
    return encoded, unseen


def recorded_columns(training: dict[str, Any]) -> dict[str, str | None]:
    """The data options a checkpoint was trained with (training.json's ``data``): ``text_col``, ``label_col``
    and ``fmt``, each None when training used the default. Checkpoints from before it was recorded give Nones."""
    recorded = training.get("data") if isinstance(training.get("data"), dict) else {}
    return {key: recorded.get(key) if isinstance(recorded.get(key), str) else None
            for key in ("text_col", "label_col", "fmt")}


def load_like_training(training: dict[str, Any], path: str | Path | None = None, text_col: str | None = None,
                       label_col: str | None = None, fmt: str | None = None) -> TextDataset:
    """Evaluation data read as training read it: ``path`` (default: the recorded ``eval_path``) with the given
    columns, else the recorded ones; the recorded format only for the recorded file."""
    recorded = recorded_columns(training)
    source = path if path is not None else training.get("eval_path")
    if not source:
        raise DataError("training.json names no eval data; pass --eval FILE")
    if fmt is None and path is None:
        fmt = recorded["fmt"]
    data = load_dataset(source, text_col or recorded["text_col"], label_col or recorded["label_col"], fmt)
    names = training.get("label_names")
    return rename_labels(data, names if isinstance(names, dict) else None)


def label_mapping(values: list[str], names: list[str] | dict[str, str] | None, source: str) -> dict[str, str]:
    """Label value -> the name a user gave it (``--label-names``): a list in the order of the sorted values, or a
    mapping (values it leaves out keep their name). Empty without names; a mismatch is an error naming both."""
    if not names:
        return {}
    if isinstance(names, dict):
        unknown = [key for key in names if key not in values]
        if unknown:
            raise DataError(f"--label-names: no label {unknown[0]!r} in {source} (its labels: {', '.join(values)})")
        mapping = {value: str(names.get(value, value)) for value in values}
    else:
        if len(names) != len(values):
            raise DataError(f"--label-names: {len(names)} names for the {len(values)} labels of {source} "
                            f"({', '.join(values)}, in this order)")
        mapping = dict(zip(values, names, strict=True))
    if len(set(mapping.values())) != len(mapping) or not all(name.strip() for name in mapping.values()):
        raise DataError(f"--label-names: the names must be distinct and non-empty, got {list(mapping.values())}")
    return mapping


def rename_labels(dataset: TextDataset, mapping: dict[str, str] | None) -> TextDataset:
    """``dataset`` with its labels renamed by ``mapping`` (training.json ``label_names``); others kept."""
    if not mapping:
        return dataset
    return TextDataset(dataset.texts, [mapping.get(label, label) for label in dataset.labels], dataset.lines,
                       dataset.source)


def load_texts(path: str | Path, text_col: str | None = None) -> list[str]:
    """Unlabelled text for a teacher to label: a ``.txt`` file or SNIPS ``seq.in`` (one text per non-empty
    line), or the text column of a TSV, CSV, JSONL, SNIPS folder or Hugging Face set (labels, if any, ignored)."""
    from neurolite_sdk.training import hf_data

    if hf_data.is_hf_spec(path) or hf_data.is_saved_dataset(Path(path)):
        source, rows = hf_data.load_hf_rows(path)
        path = Path(source)
    else:
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file or directory")
        if path.is_file() and (path.suffix.lower() == ".txt" or path.name == "seq.in"):
            return [line.strip() for line in _read_utf8(path).splitlines() if line.strip()]
        fmt = detect_format(path)
        if fmt == "snips":
            return list(_read_snips(path).texts)
        text = _read_utf8(path)
        rows = _jsonl_rows(path, text) if fmt == "jsonl" else _delimited_rows(path, text, "\t" if fmt == "tsv" else ",")
    if not rows:
        raise DataError(f"{path}: no data rows")
    columns = list(dict.fromkeys(k for _, record in rows for k in record))
    name = _pick(path, columns, text_col, TEXT_COLUMNS, "text")
    texts = [record[name].strip() for _, record in rows if isinstance(record.get(name), str) and record[name].strip()]
    if not texts:
        raise DataError(f"{path}: no texts in column {name!r}")
    return texts
