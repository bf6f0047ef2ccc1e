"""The generated Unicode 14.0.0 tables: what the committed script produces, correct against the UCD
(Python 3.11's unicodedata is 14.0.0), and the same tokens on every Python the project supports."""

from __future__ import annotations

import glob
import json
import os
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from neurolite_sdk import unicode14

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "golden" / "featurizer_v1.json").read_text(encoding="utf-8"))
UCD14 = unicodedata.unidata_version == unicode14.UNICODE_VERSION
needs_ucd14 = pytest.mark.skipif(not UCD14, reason=f"the oracle is Python's unicodedata, {unicodedata.unidata_version}"
                                                   f" here; the tables are {unicode14.UNICODE_VERSION}")


@needs_ucd14
def test_checked_in_tables_are_what_the_script_generates() -> None:
    """native/src/nl_unicode14.c and neurolite_sdk/_unicode14.py are regenerated only on purpose."""
    result = subprocess.run([sys.executable, str(ROOT / "native" / "tools" / "gen_unicode_tables.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


@needs_ucd14
def test_nfkc_of_every_code_point_matches_the_ucd() -> None:
    wrong = [cp for cp in range(0x110000) if unicode14.nfkc(chr(cp)) != unicodedata.normalize("NFKC", chr(cp))]
    assert wrong == []


@needs_ucd14
def test_normalization_of_random_strings_matches_the_ucd() -> None:
    """Strings dense in combining marks, decomposable and case-folding characters, Hangul jamo and
    syllables: the UAX #15 composition and ordering rules are where a table-driven NFKC goes wrong."""
    interesting = [cp for cp in range(0x110000) if unicodedata.combining(chr(cp)) or unicodedata.decomposition(chr(cp))
                   or chr(cp).casefold() != chr(cp)]
    interesting += [*range(0x1100, 0x1200), *range(0xAC00, 0xAC40), 0x61, 0x65, 0x20, 0x200D, 0xFE0F, 0xD800]
    rng = random.Random(14)
    for _ in range(20_000):
        text = "".join(chr(rng.choice(interesting)) if rng.random() < 0.85 else chr(rng.randrange(0x110000))
                       for _ in range(rng.randrange(1, 10)))
        assert unicode14.nfkc(text) == unicodedata.normalize("NFKC", text), [hex(ord(c)) for c in text]
        kept = "".join(c for c in text if unicodedata.category(c) != "Cf" and not is_variation_selector(ord(c)))
        reference = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", kept).casefold())
        assert unicode14.normalize(text) == reference, [hex(ord(c)) for c in text]


def is_variation_selector(cp: int) -> bool:
    return 0x180B <= cp <= 0x180D or cp == 0x180F or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def _golden_texts() -> list[str]:
    return [case["text"] for case in GOLDEN["cases"] if "text" in case]


def _other_pythons() -> list[str]:
    """Interpreters of the supported versions other than this one (pyenv or PATH), if installed."""
    found = []
    for version in ("3.10", "3.11", "3.12", "3.13"):
        if version == f"{sys.version_info.major}.{sys.version_info.minor}":
            continue
        candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python3")))
        candidates += [p for p in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}") if os.path.exists(p)]
        if candidates:
            found.append(candidates[-1])
    return found


OTHER_PYTHONS = _other_pythons()


@pytest.mark.skipif(not OTHER_PYTHONS, reason="no other Python 3.10-3.13 interpreter is installed here")
@pytest.mark.parametrize("python", OTHER_PYTHONS)
def test_every_supported_python_tokenizes_the_same(python: str, tmp_path: Path) -> None:
    """The Unicode part of the featurizer (stdlib only) on another interpreter, whose own unicodedata is
    another Unicode version: the golden texts (characters changed after 14.0 included) and random text
    from every plane give the same tokens as here. Hashing is integer arithmetic on UTF-8 bytes."""
    rng = random.Random(3)
    texts = _golden_texts() + ["".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(1, 30)))
                               for _ in range(3000)]
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); from neurolite_sdk import unicode14; "
              "texts = json.load(open(sys.argv[2], encoding='utf-8')); "
              "json.dump([unicode14.tokenize(t) for t in texts], open(sys.argv[3], 'w'))")
    out = tmp_path / "tokens.json"
    result = subprocess.run([python, "-c", script, str(ROOT), str(tmp_path / "texts.json"), str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    theirs = json.loads(out.read_text())
    ours = [unicode14.tokenize(t) for t in texts]
    mismatched = [(t, a, b) for t, a, b in zip(texts, ours, theirs, strict=True) if a != b]
    assert mismatched == []
