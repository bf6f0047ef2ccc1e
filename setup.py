"""The optional C extension ``neurolite_sdk._featurizer_native`` (everything else is in pyproject.toml).

It compiles the portable featurizer core (native/src/*.c, API native/include/neurolite_featurizer.h)
together with its CPython binding (neurolite_sdk/_native/featurizer_module.c). The build is optional:
without a C compiler, with NEUROLITE_BUILD_NATIVE=0, or when compiling fails, the install still
succeeds, one warning says why, and the SDK uses its pure-Python featurizer (same results, slower).
The reason is also written to neurolite_sdk/_featurizer_native.unavailable.txt, which
``neurolite info`` and ``featurizer_implementation()`` report.
"""

from __future__ import annotations

import os
import sys
from glob import glob
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
EXT_NAME = "neurolite_sdk._featurizer_native"
NOTE = "_featurizer_native.unavailable.txt"
BINDING = "neurolite_sdk/_native/featurizer_module.c"
# What `neurolite bench`, `report` and `quantize-report` import from benchmarks/ (installed as
# neurolite_sdk.benchmarks). The other files there are standalone measurement scripts run from a checkout
# (`python benchmarks/NAME.py`), several with top-level torch imports: they stay out of the wheel.
BENCHMARK_HARNESS = frozenset({"__init__", "baselines", "device", "quantize_report", "report", "schema", "suite",
                               "teacher_row", "worker"})
CORE_SOURCES = sorted(Path(p).relative_to(HERE).as_posix() for p in glob(str(HERE / "native" / "src" / "*.c")))


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed or impossible build into one warning instead of a failed install."""

    def run(self) -> None:
        # setuptools clears `inplace` while building (it copies into the source tree afterwards)
        self._to_source = bool(self.inplace or getattr(self, "editable_mode", False))
        self._gave_up = False
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 (no compiler found: DistutilsPlatformError and others)
            if not self._gave_up:
                self._give_up(f"{type(exc).__name__}: {exc}")

    def build_extension(self, ext: Extension) -> None:
        if os.environ.get("NEUROLITE_BUILD_NATIVE", "1").strip().lower() in ("0", "no", "false", "off"):
            self._give_up("NEUROLITE_BUILD_NATIVE=0 at install time")
            return
        missing = [s for s in ext.sources if not (HERE / s).is_file()]
        if missing or not CORE_SOURCES:
            self._give_up(f"missing sources {', '.join(missing) or 'native/src/*.c'}")
            return
        if self.compiler.compiler_type in ("unix", "mingw32", "cygwin"):
            ext.extra_compile_args = ["-fvisibility=hidden"]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 (CompileError, LinkError, ExecError, OSError, ...)
            self._give_up(f"the C build failed: {type(exc).__name__}: {exc}")
            return
        for folder in self._note_folders():
            (folder / NOTE).unlink(missing_ok=True)

    def _note_folders(self) -> list[Path]:
        """Where the package lands: the source tree (editable / in place) and the build folder."""
        folders = [Path(self.build_lib) / "neurolite_sdk"]
        if getattr(self, "_to_source", False):
            folders.append(HERE / "neurolite_sdk")
        return folders

    def _give_up(self, reason: str) -> None:
        self._gave_up = True
        reason = " ".join(reason.split()).rstrip(". ")
        bar = "=" * 100
        print(f"\n{bar}\nWARNING (neurolite-sdk): the native featurizer core was not built: {reason}.\nNeuroLite "
              f"uses its pure-Python featurizer (same results, slower). To get the native core, reinstall with a C "
              f"compiler (and without NEUROLITE_BUILD_NATIVE=0).\n{bar}\n", file=sys.stderr)
        for folder in self._note_folders():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / NOTE).write_text(reason + "\n", encoding="utf-8")
                if folder == HERE / "neurolite_sdk":  # a stale module from an earlier build would shadow this
                    for stale in [*folder.glob("_featurizer_native.*.so"), *folder.glob("_featurizer_native.*.pyd")]:
                        stale.unlink()
            except OSError:
                pass

    def copy_file(self, infile: str, outfile: str, *args: Any, **kwargs: Any) -> Any:
        """Replace a built module in the source tree by a new file, never by rewriting it in place: a
        running process that has the old one loaded keeps its (unlinked) copy instead of crashing."""
        if outfile.endswith((".so", ".pyd")) and os.path.exists(outfile):
            try:
                os.unlink(outfile)
            except OSError:
                pass  # Windows keeps a loaded .pyd: the copy reports it
        return super().copy_file(infile, outfile, *args, **kwargs)

    def get_outputs(self) -> list[str]:
        """Only what exists: a module that was not built is not an output (editable installs map them)."""
        return [path for path in super().get_outputs() if os.path.exists(path)]


class HarnessOnlyBuildPy(build_py):
    """build_py that installs only the benchmark harness of ``neurolite_sdk.benchmarks``."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        if package != "neurolite_sdk.benchmarks":
            return modules
        return [entry for entry in modules if entry[1] in BENCHMARK_HARNESS]


setup(
    ext_modules=[Extension(EXT_NAME, sources=[BINDING, *CORE_SOURCES],
                           include_dirs=["native/include", "native/src"], optional=True)],
    cmdclass={"build_ext": OptionalBuildExt, "build_py": HarnessOnlyBuildPy},
)
