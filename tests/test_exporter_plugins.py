"""A third-party package adds a format through the ``neurolite_sdk.exporters`` entry points (issue 15, item 2): a
real distribution (dist-info with entry_points.txt) put on sys.path, found by importlib.metadata."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from neurolite_sdk.exporters import ExportError, ExportJob, exporter_formats, get_exporter
from neurolite_sdk.exporters.base import _EXPORTERS, ENTRY_POINT_GROUP, Exporter, register_exporter

PLUGIN = '''
from neurolite_sdk.exporters.base import ExportDetails, Exporter


class PlainExporter(Exporter):
    entry = "model.plain"
    extra = "plain"
    requires = ()

    def signatures(self, job):
        return ()

    def export_fp32(self, job, signatures):
        return b"weights"

    def write(self, job, signatures, draft, out_dir):
        (out_dir / self.entry).write_bytes(draft)
        return ExportDetails()
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
        # the plugin implements the steps; Exporter.export runs them
        out = tmp_path / "staging"
        out.mkdir()
        artifact = exporter.export(ExportJob(model=None, labels=["a", "b"], metadata={}), out)  # type: ignore[arg-type]
        assert artifact.entry == "model.plain" and (out / "model.plain").read_bytes() == b"weights"
        assert artifact.details.to_dict() == {}
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


def test_a_format_claiming_a_scheme_it_cannot_lower_is_refused() -> None:
    class Claims(Exporter):
        entry, extra, requires, quantizations = "model.x", "x", (), ("none", "orbital8")

        def signatures(self, job):  # type: ignore[no-untyped-def]
            return ()

        def export_fp32(self, job, signatures):  # type: ignore[no-untyped-def]
            return b""

        def write(self, job, signatures, draft, out_dir):  # type: ignore[no-untyped-def]
            raise AssertionError("never reached")

    with pytest.raises(ExportError, match=r"'claims' \(Claims\): quantizations \['none', 'orbital8'\] need "
                                          r"check_codes, lower_orbital8"):
        register_exporter("claims")(Claims)
    assert "claims" not in _EXPORTERS
