"""The wheel's ``neurolite_sdk.benchmarks`` holds the bench harness and nothing else.

setup.py's build_py installs only the modules named in ``BENCHMARK_HARNESS``; the other files in
benchmarks/ are standalone measurement scripts run from a checkout. This pins both sides: every
``neurolite_sdk.benchmarks.X`` that installed code imports is in the harness (a wheel without it would
break ``neurolite bench``), and the scripts with top-level torch imports are not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = ["neurolite_sdk", "runtime", "exporters", "quantization"]


def harness() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "BENCHMARK_HARNESS" for t in node.targets):
            return set(ast.literal_eval(node.value.args[0]))
    raise AssertionError("setup.py defines no BENCHMARK_HARNESS")


def imported_benchmark_modules(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"neurolite_sdk\.benchmarks\.([a-z_0-9]+)", text))
        names |= {n.strip() for group in re.findall(r"from neurolite_sdk\.benchmarks import ([a-z_0-9, ]+)", text)
                  for n in group.split(",")}
    return names


def test_every_benchmark_module_the_package_imports_is_installed() -> None:
    keep = harness()
    assert all((ROOT / "benchmarks" / f"{name}.py").is_file() for name in keep), keep
    sources = [p for folder in INSTALLED for p in (ROOT / folder).rglob("*.py")]
    sources += [ROOT / "benchmarks" / f"{name}.py" for name in keep]
    needed = imported_benchmark_modules(sources)
    assert needed and needed <= keep, f"imported but left out of the wheel: {sorted(needed - keep)}"


def test_standalone_scripts_with_heavy_imports_stay_out() -> None:
    keep = harness()
    heavy = re.compile(r"^(import torch|from torch|from neurolite_sdk\.(training|modeling|exporters))", re.M)
    scripts = [p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem not in keep]
    assert scripts, "benchmarks/ has no standalone scripts left to check"
    for name in ("continual_snips", "expert_utilization", "postprocess_bench", "compare_linear"):
        text = (ROOT / "benchmarks" / f"{name}.py").read_text(encoding="utf-8")
        assert heavy.search(text) and name not in keep, name  # the case this guards against
