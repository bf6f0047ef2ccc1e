"""A third-party package adds a format through the ``neurolite_sdk.exporters`` entry points (issue 15, item 2): a
real distribution (dist-info with entry_points.txt) put on sys.path, found by importlib.metadata."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from neurolite_sdk.exporters import ExportError, exporter_formats, get_exporter
from neurolite_sdk.exporters.base import _EXPORTERS, ENTRY_POINT_GROUP

PLUGIN = '''
from neurolite_sdk.exporters.base import ExportArtifact, Exporter


class PlainExporter(Exporter):
    extra = "plain"

    def export(self, job, out_dir):
        (out_dir / "model.plain").write_text("weights", encoding="utf-8")
        return ExportArtifact(entry="model.plain", signatures=())
'''


def _distribution(root: Path, name: str, entry: str) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry}\n", encoding="utf-8")


def test_a_plugin_format_is_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _distribution(tmp_path, "nl_plain_plugin", "plainfmt = nl_plain_plugin:PlainExporter")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "plainfmt" in exporter_formats() and {"onnx", "tflite"} <= set(exporter_formats())
        exporter = get_exporter("plainfmt")
        assert type(exporter).__name__ == "PlainExporter" and exporter.format == "plainfmt"
    finally:
        _EXPORTERS.pop("plainfmt", None)
        sys.modules.pop("nl_plain_plugin", None)


def test_a_broken_plugin_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _distribution(tmp_path, "nl_broken_plugin", "brokenfmt = nl_broken_plugin:NoSuchClass")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ExportError, match=r"^exporter plugin 'brokenfmt' \(nl_broken_plugin:NoSuchClass\): "
                                              r"cannot be loaded \(AttributeError"):
            exporter_formats()
    finally:
        sys.modules.pop("nl_broken_plugin", None)
