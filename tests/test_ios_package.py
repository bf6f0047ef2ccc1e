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
