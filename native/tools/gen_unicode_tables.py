#!/usr/bin/env python3
"""Generate the featurizer's Unicode 14.0.0 tables for the C core and the Python reference.

    python3.11 native/tools/gen_unicode_tables.py            # rewrite both files
    python3.11 native/tools/gen_unicode_tables.py --check    # exit 1 if a checked-in file differs

Writes
  native/src/nl_unicode14.c      two-stage lookup tables + the accessors declared in nl_unicode.h
  neurolite_sdk/_unicode14.py    the same data for the pure-Python reference (neurolite_sdk/unicode14.py)

Both files are checked in and only regenerated on purpose (a new spec version with a new Unicode
version); normal builds compile or import them as they are, so the featurizer's output depends on no
OS, ICU, phone or Python version. The source of truth is the Unicode Character Database 14.0.0 as
compiled into CPython 3.11's ``unicodedata`` (and ``str.casefold``, which applies CaseFolding.txt
statuses C and F): the script refuses any other Unicode version.

What is derived, per code point:
  general category            unicodedata.category
  canonical combining class   unicodedata.combining
  decomposition               NFKD of the single code point (full compatibility decomposition,
                              recursively expanded and canonically ordered); Hangul syllables are
                              left to the algorithm (UAX #15 / Unicode 3.12)
  composition pairs           canonical two-code-point decompositions (a, b) -> c whose NFC is c,
                              i.e. primary composites: composition exclusions and singletons drop out
  case folding                str.casefold of the single code point, when it differs
  token class                 spec section 3 (SEP, MARK, WORD, IDEO, OTHER) and DELETE (Cf and
                              variation selectors, spec section 2 step 1)
  stable                      the code point is left alone by the whole normalization in any context:
                              ccc 0, NFKC of it is itself, it never follows a starter in a composition
                              pair (not NFKC_QC=Maybe, Hangul V/T jamo included), it folds to itself,
                              and it is not deleted
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path

UNICODE_VERSION = "14.0.0"
ROOT = Path(__file__).resolve().parents[2]
C_OUT = ROOT / "native" / "src" / "nl_unicode14.c"
PY_OUT = ROOT / "neurolite_sdk" / "_unicode14.py"

MAX_CP = 0x110000
BLOCK = 128  # two-stage tables: stage1[cp >> 7] -> block, stage2[block * 128 + (cp & 127)] -> value

CATEGORIES = ("Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
              "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co")
SEP, MARK, WORD, IDEO, OTHER, DELETE = range(6)
CLASS_NAMES = ("SEP", "MARK", "WORD", "IDEO", "OTHER", "DELETE")
# Spec section 3: letters and digits in these ranges are one token each (Han, kana).
IDEOGRAPHIC_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF),
                      (0x3040, 0x309F), (0x30A0, 0x30FF), (0x31F0, 0x31FF), (0x1AFF0, 0x1B16F))
# Spec section 2 step 1: deleted together with the format characters (Cf).
VARIATION_SELECTORS = ((0x180B, 0x180D), (0x180F, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
HANGUL_S_BASE, HANGUL_S_COUNT = 0xAC00, 11172
HANGUL_V = (0x1161, 0x1175)  # the second element of an LV composition
HANGUL_T = (0x11A8, 0x11C2)  # the second element of an LVT composition


def _in(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= cp <= high for low, high in ranges)


def token_class(cp: int, category: str) -> int:
    if category == "Cf" or _in(cp, VARIATION_SELECTORS):
        return DELETE
    if category[0] == "M":
        return MARK
    if category[0] in "LN":
        return IDEO if _in(cp, IDEOGRAPHIC_RANGES) else WORD
    if category[0] in "PS":
        return OTHER
    return SEP  # Cc, Cs, Co, Cn, Zs, Zl, Zp


def derive() -> dict:
    """Every table, as plain Python data, from this interpreter's Unicode database."""
    if unicodedata.unidata_version != UNICODE_VERSION:
        sys.exit(f"gen_unicode_tables.py: needs Unicode {UNICODE_VERSION} (Python 3.11's unicodedata); this "
                 f"Python {sys.version.split()[0]} has {unicodedata.unidata_version}")
    category, ccc, tclass = [], [], []
    decomp: dict[int, tuple[int, ...]] = {}
    casefold: dict[int, tuple[int, ...]] = {}
    compose: dict[tuple[int, int], int] = {}
    for cp in range(MAX_CP):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        category.append(CATEGORIES.index(cat))
        ccc.append(unicodedata.combining(ch))
        tclass.append(token_class(cp, cat))
        if not HANGUL_S_BASE <= cp < HANGUL_S_BASE + HANGUL_S_COUNT:
            nfkd = unicodedata.normalize("NFKD", ch)
            if nfkd != ch:
                decomp[cp] = tuple(map(ord, nfkd))
            mapping = unicodedata.decomposition(ch)
            if mapping and not mapping.startswith("<"):
                parts = [int(p, 16) for p in mapping.split()]
                if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == ch:
                    compose[(parts[0], parts[1])] = cp
        folded = ch.casefold()
        if folded != ch:
            casefold[cp] = tuple(map(ord, folded))
    seconds = {b for (_, b) in compose} | set(range(HANGUL_V[0], HANGUL_V[1] + 1)) \
        | set(range(HANGUL_T[0], HANGUL_T[1] + 1))
    stable = [int(ccc[cp] == 0 and tclass[cp] != DELETE and cp not in casefold and cp not in seconds
                  and (cp not in decomp or unicodedata.normalize("NFKC", chr(cp)) == chr(cp)))
              for cp in range(MAX_CP)]
    return {"category": category, "ccc": ccc, "class": tclass, "stable": stable, "decomp": decomp,
            "casefold": casefold, "compose": compose}


# --------------------------------------------------------------------------------------------------- C
def two_stage(values: list[int]) -> tuple[list[int], list[int]]:
    """(stage1, stage2) with identical blocks shared: values[cp] == stage2[stage1[cp >> 7] * 128 + (cp & 127)]."""
    blocks: dict[tuple[int, ...], int] = {}
    stage1, stage2 = [], []
    for start in range(0, MAX_CP, BLOCK):
        block = tuple(values[start:start + BLOCK])
        if block not in blocks:
            blocks[block] = len(blocks)
            stage2.extend(block)
        stage1.append(blocks[block])
    return stage1, stage2


def c_array(ctype: str, name: str, values: list[int], per_line: int = 16) -> str:
    width = max(len(str(v)) for v in values)
    lines = [", ".join(str(v).rjust(width) for v in values[i:i + per_line]) for i in range(0, len(values), per_line)]
    return f"static const {ctype} {name}[{len(values)}] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


def c_type(values: list[int]) -> str:
    top = max(values)
    return "uint8_t" if top < 1 << 8 else "uint16_t" if top < 1 << 16 else "uint32_t"


def sequences(mapping: dict[int, tuple[int, ...]]) -> tuple[list[int], list[int], list[int]]:
    """Per code point an index into (offsets, pool); index 0 means no mapping."""
    index = [0] * MAX_CP
    offsets, pool = [0], []
    for cp in sorted(mapping):
        index[cp] = len(offsets)
        pool.extend(mapping[cp])
        offsets.append(len(pool))
    return index, offsets, pool


def render_c(data: dict) -> str:
    # One record per distinct (category, class, ccc, stable): a few hundred, so a one-byte index per code point.
    keys = list(zip(data["category"], data["class"], data["ccc"], data["stable"], strict=True))
    records = sorted(set(keys))
    assert len(records) <= 256, "record indices are uint8_t"
    record_of = {key: i for i, key in enumerate(records)}
    record_index = [record_of[key] for key in keys]
    decomp_index, decomp_offsets, decomp_pool = sequences(data["decomp"])
    fold_index, fold_offsets, fold_pool = sequences(data["casefold"])
    pairs = sorted(data["compose"].items())
    out = [f"""/* GENERATED by native/tools/gen_unicode_tables.py from the Unicode Character Database {UNICODE_VERSION}
 * (Python {sys.version.split()[0]} unicodedata). Do not edit: rerun the script. Accessors: nl_unicode.h. */
#include "nl_unicode.h"

#include <stddef.h>

#define NL_UCD_BLOCK_SHIFT 7
#define NL_UCD_BLOCK_MASK {BLOCK - 1}
#define NL_UCD_MAX_CP 0x110000u
#define NL_HANGUL_S_BASE 0x{HANGUL_S_BASE:X}u
#define NL_HANGUL_S_COUNT {HANGUL_S_COUNT}u
"""]
    tables = {}
    for name, values in (("record", record_index), ("decomp", decomp_index), ("fold", fold_index)):
        stage1, stage2 = two_stage(values)
        tables[name] = (c_type(stage1), c_type(stage2))
        out.append(c_array(c_type(stage1), f"{name}_stage1", stage1))
        out.append(c_array(c_type(stage2), f"{name}_stage2", stage2))
    assert decomp_offsets[-1] < 1 << 16 and fold_offsets[-1] < 1 << 16, "offset tables are uint16_t"
    out.append("/* records: category | token class << 5, canonical combining class, stable */\n")
    out.append(c_array("uint8_t", "record_props", [c | (k << 5) for c, k, _, _ in records]))
    out.append(c_array("uint8_t", "record_ccc", [c for _, _, c, _ in records]))
    out.append(c_array("uint8_t", "record_stable", [s for _, _, _, s in records]))
    out.append(c_array("uint16_t", "decomp_offsets", decomp_offsets))
    out.append(c_array("uint32_t", "decomp_pool", decomp_pool, 8))
    out.append(c_array("uint16_t", "fold_offsets", fold_offsets))
    out.append(c_array("uint32_t", "fold_pool", fold_pool, 8))
    out.append(f"/* {len(pairs)} primary composites, sorted by (first << 21 | second) for binary search */\n")
    out.append(c_array("uint64_t", "compose_keys", [(a << 21) | b for (a, b), _ in pairs], 6))
    out.append(c_array("uint32_t", "compose_values", [c for _, c in pairs], 8))
    out.append("""
#define NL_LOOKUP(name, cp) \\
    ((cp) < NL_UCD_MAX_CP \\
         ? name##_stage2[((size_t)name##_stage1[(cp) >> NL_UCD_BLOCK_SHIFT] << NL_UCD_BLOCK_SHIFT) \\
                         | ((cp) & NL_UCD_BLOCK_MASK)] \\
         : 0)

uint8_t nl_ucd_category(uint32_t cp) { return (uint8_t)(record_props[NL_LOOKUP(record, cp)] & 31u); }

uint8_t nl_ucd_token_class(uint32_t cp) { return (uint8_t)(record_props[NL_LOOKUP(record, cp)] >> 5); }

uint8_t nl_ucd_ccc(uint32_t cp) { return record_ccc[NL_LOOKUP(record, cp)]; }

int nl_ucd_is_stable(uint32_t cp) { return (int)record_stable[NL_LOOKUP(record, cp)]; }

int nl_ucd_decompose(uint32_t cp, const uint32_t **out) {
    size_t i = NL_LOOKUP(decomp, cp);
    if (i == 0) return 0;
    *out = decomp_pool + decomp_offsets[i - 1];
    return (int)(decomp_offsets[i] - decomp_offsets[i - 1]);
}

int nl_ucd_casefold(uint32_t cp, const uint32_t **out) {
    size_t i = NL_LOOKUP(fold, cp);
    if (i == 0) return 0;
    *out = fold_pool + fold_offsets[i - 1];
    return (int)(fold_offsets[i] - fold_offsets[i - 1]);
}

uint32_t nl_ucd_compose(uint32_t first, uint32_t second) {
    size_t low = 0, high = sizeof compose_keys / sizeof compose_keys[0];
    uint64_t key;
    if (first >= NL_UCD_MAX_CP || second >= NL_UCD_MAX_CP) return 0;
    key = ((uint64_t)first << 21) | second;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (compose_keys[mid] < key) low = mid + 1;
        else high = mid;
    }
    return (low < sizeof compose_keys / sizeof compose_keys[0] && compose_keys[low] == key) ? compose_values[low] : 0;
}
""")
    return "".join(out)


# ---------------------------------------------------------------------------------------------- Python
def ranges_of(values: list[int]) -> list[tuple[int, int, int]]:
    """Maximal runs (first, last, value) over all code points."""
    runs, start = [], 0
    for cp in range(1, MAX_CP + 1):
        if cp == MAX_CP or values[cp] != values[start]:
            runs.append((start, cp - 1, values[start]))
            start = cp
    return runs


def py_sequences(name: str, mapping: dict[int, tuple[int, ...]]) -> str:
    """A dict literal {code point: str}, compact: hex keys, escaped values."""
    items = [f"0x{cp:X}: {''.join(map(chr, seq))!a}" for cp, seq in sorted(mapping.items())]
    return f"{name} = {{\n" + "".join(f"    {', '.join(items[i:i + 6])},\n" for i in range(0, len(items), 6)) + "}\n"


def render_py(data: dict) -> str:
    class_runs = ranges_of(data["class"])
    unstable = [1 - s for s in data["stable"]]
    unstable_runs = [(a, b) for a, b, v in ranges_of(unstable) if v]
    ccc = {cp: c for cp, c in enumerate(data["ccc"]) if c}
    out = [f'''"""GENERATED by native/tools/gen_unicode_tables.py from the Unicode Character Database {UNICODE_VERSION}
(Python {sys.version.split()[0]} unicodedata). Do not edit: rerun the script. Used by neurolite_sdk/unicode14.py;
the C core compiles the same data from native/src/nl_unicode14.c.
"""

UNICODE_VERSION = {UNICODE_VERSION!r}
CLASS_NAMES = {CLASS_NAMES!r}

# (first, last, token class) runs covering U+0000..U+10FFFF; classes index CLASS_NAMES
TOKEN_CLASS_RUNS = (
''']
    out += [f"    {', '.join(f'(0x{a:X}, 0x{b:X}, {v})' for a, b, v in class_runs[i:i + 5])},\n"
            for i in range(0, len(class_runs), 5)]
    out.append(")\n\n# (first, last) runs of the code points that are not stable (see the generator's docstring)\n"
               "UNSTABLE_RUNS = (\n")
    out += [f"    {', '.join(f'(0x{a:X}, 0x{b:X})' for a, b in unstable_runs[i:i + 6])},\n"
            for i in range(0, len(unstable_runs), 6)]
    out.append(")\n\n# canonical combining classes other than 0\nCCC = {\n")
    items = [f"0x{cp:X}: {c}" for cp, c in sorted(ccc.items())]
    out += [f"    {', '.join(items[i:i + 8])},\n" for i in range(0, len(items), 8)]
    out.append("}\n\n# full compatibility decompositions (Hangul syllables excluded: algorithmic)\n")
    out.append(py_sequences("DECOMPOSITION", data["decomp"]))
    out.append("\n# full case folding (CaseFolding.txt statuses C and F)\n")
    out.append(py_sequences("CASEFOLD", data["casefold"]))
    out.append("\n# primary composites: (first, second) -> composite (Hangul excluded: algorithmic)\nCOMPOSITION = {\n")
    pairs = [f"(0x{a:X}, 0x{b:X}): 0x{c:X}" for (a, b), c in sorted(data["compose"].items())]
    out += [f"    {', '.join(pairs[i:i + 4])},\n" for i in range(0, len(pairs), 4)]
    out.append("}\n")
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the checked-in files, write nothing")
    args = parser.parse_args()
    data = derive()
    outputs = {C_OUT: render_c(data), PY_OUT: render_py(data)}
    stale = [path for path, text in outputs.items() if not path.exists() or path.read_text("utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: differs from what gen_unicode_tables.py generates", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        path.write_text(text, "utf-8")
        print(f"wrote {path.relative_to(ROOT)} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
