"""What of ios_demo/ can be checked without a Swift toolchain (none is reachable here; docs/mobile.md).

The Swift package's C target is the repository's C core through symbolic links, so these tests check that
the links resolve to native/, that the C target compiles as SwiftPM lays it out (its ``include`` directory
as the only header path), and that every C function the Swift sources call is declared by the header they
import. The Swift code itself is compiled and its golden test run by ``swift test`` on a Mac.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IOS = ROOT / "ios_demo"
C_TARGET = IOS / "Sources" / "CNeuroLiteFeaturizer"
HEADER = ROOT / "native" / "include" / "neurolite_featurizer.h"


def test_c_target_links_resolve_to_the_core() -> None:
    assert (C_TARGET / "src").is_symlink() and (C_TARGET / "src").resolve() == (ROOT / "native" / "src").resolve()
    header = C_TARGET / "include" / "neurolite_featurizer.h"
    assert header.is_symlink() and header.resolve() == HEADER.resolve()
    linked = sorted(p.name for p in (C_TARGET / "src").glob("*.c"))
    assert linked and linked == sorted(p.name for p in (ROOT / "native" / "src").glob("*.c"))
    assert 'header "neurolite_featurizer.h"' in (C_TARGET / "include" / "module.modulemap").read_text(encoding="utf-8")
    golden = IOS / "Tests" / "NeuroLiteTests" / "golden"
    assert golden.is_symlink() and (golden / "featurizer_v1.json").is_file()
    # The links are relative, so they hold in any checkout; git stores them as links.
    assert not os.path.isabs(os.readlink(C_TARGET / "src"))


def test_c_target_compiles_as_swiftpm_lays_it_out(tmp_path: Path) -> None:
    compiler = shutil.which("clang") or shutil.which("clang-14") or shutil.which("gcc")
    if compiler is None:
        if os.environ.get("CI"):
            pytest.fail("no C compiler: apt-get install -y gcc")
        pytest.skip("no C compiler (apt-get install -y gcc)")
    sources = sorted((C_TARGET / "src").glob("*.c"))
    done = subprocess.run([compiler, "-std=c99", "-Wall", "-Wextra", "-Werror", "-DNDEBUG", "-c",
                           f"-I{C_TARGET / 'include'}", *map(str, sources)], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list(tmp_path.glob("*.o"))) == len(sources)


def test_swift_calls_only_declared_c_functions() -> None:
    declared = set(re.findall(r"\b(nl_[a-z0-9_]+)\b", HEADER.read_text(encoding="utf-8")))  # functions and types
    swift = "\n".join(p.read_text(encoding="utf-8") for p in IOS.rglob("*.swift"))
    called = set(re.findall(r"\b(nl_[a-z0-9_]+)\s*\(", swift))
    assert called and called <= declared, sorted(called - declared)


def test_package_manifest_names_its_targets() -> None:
    text = (IOS / "Package.swift").read_text(encoding="utf-8")
    for target in ("CNeuroLiteFeaturizer", "NeuroLite", "NeuroLiteExecuTorch", "NeuroLiteTests"):
        assert f'name: "{target}"' in text
        assert (IOS / ("Tests" if target.endswith("Tests") else "Sources") / target).is_dir()
    assert "unsafeFlags" not in text  # a package with unsafe flags cannot be depended on


SWIFT = IOS / "Sources" / "NeuroLite"
WEIGHTS_PY = ROOT / "runtime" / "weights.py"
# The refusals of runtime/weights.py (and bundle.py's schema check) that every app reader words the same way, so
# that a user sees one message for one fault whichever library read the bundle.
WEIGHTS_MESSAGES = ("is not among the bundle's files", "would be rebuilt over a file the bundle lists",
                    "is not a coded tensor of", "overlaps the one before it", "its regions do not fit the file's",
                    "does not decompress", "bytes or more, the manifest's", "size and regions leave",
                    "rebuilt from its shell and codes, it differs from the file the manifest",
                    "the codes or the regions were modified after export",
                    "bytes must be >= 0 and sha256 64 hex digits",
                    "expected a finite number or null", "transpose: expected true or false", "a path appears twice")


def test_swift_reader_takes_the_schema_version_of_the_python_runtime() -> None:
    from neurolite_sdk.runtime.bundle import SCHEMA_VERSION, WEIGHTS_SCHEMA_VERSION

    text = (SWIFT / "Bundle.swift").read_text(encoding="utf-8")
    assert re.search(r"static let schemaVersion = (\d+)\b", text).group(1) == str(SCHEMA_VERSION)
    assert re.search(r"static let weightsSchemaVersion = (\d+)\b", text).group(1) == str(WEIGHTS_SCHEMA_VERSION)
    assert "needs schema_version" in text and "try Weights.restore(" in text and "case weights" in (
        SWIFT / "Errors.swift").read_text(encoding="utf-8")


def test_swift_weights_reader_reads_the_fields_runtime_weights_defines() -> None:
    """Weights.swift (orbital8 decoded at load, compiled only on a Mac) against runtime/weights.py: it reads
    every field of the manifest's `weights` section and of the codes file's metadata that the Python reader
    reads, refuses with the same words, and decodes with the platform's zlib (raw DEFLATE: the zlib header and
    Adler-32 trailer handled by hand) and CryptoKit's SHA-256."""
    python = WEIGHTS_PY.read_text(encoding="utf-8")
    swift = (SWIFT / "Weights.swift").read_text(encoding="utf-8")
    fields = set(re.findall(r'_get\((?:doc|entry|region), "(\w+)"', python)) | {"decode", "scale", "transpose"}
    assert fields >= {"codes", "files", "compression", "bytes", "sha256", "regions", "offset", "tensor", "rows", "path",
                      "shell"}
    for name in sorted(fields):
        assert f'"{name}"' in swift, name
    for dtype in re.findall(r'"(\w+)": np\.', python.split("_SAFETENSORS_DTYPES")[1].split("\n")[0]):
        assert f'"{dtype}"' in swift, dtype
    for key in ('"__metadata__"', '"data_offsets"', '"neurolite.quantization"', '"neurolite-quant/1"', '".codes"',
                '".scale"', '".offset"', '".tables"', '"orbital8"', '"int8"'):
        assert key in swift, key
    for words in WEIGHTS_MESSAGES:
        assert words in python, words  # still the Python runtime's words
        assert words in swift, words
    assert "COMPRESSION_ZLIB" in swift and "compression_decode_buffer(" in swift and "adler32(" in swift
    assert "import CryptoKit" in swift and "SHA256.hash(" in swift
    # T[code]·scale (+ offset) in Float, then the region's transpose and scale: the decode_arc order
    assert "table[Int(code)] * scale" in swift and "value + $0[c]" in swift and "value *= factor" in swift
