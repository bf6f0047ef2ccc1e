"""docs/design.md holds every decision the code cites (issue 15, item 2): no citation of the absent DESIGN.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("neurolite_sdk", "runtime", "exporters", "quantization", "benchmarks", "docs", "examples")
           for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md") and p.name != "design.md"]


def test_citations_point_at_decisions_that_exist() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    written = {int(n) for n in re.findall(r"^## (\d+)\. ", design, flags=re.M)}
    cited: set[int] = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"DESIGN(\.md)? decision|DESIGN\.md", text), \
            f"{path}: cites DESIGN.md, which is not in the repository (docs/design.md)"
        cited.update(int(n) for n in re.findall(r"docs/design\.md, decision (\d+)", text))
    assert cited and cited <= written, f"cited but not written in docs/design.md: {sorted(cited - written)}"
