"""(Re)write ``featurizer_v1.json``: the golden vectors that pin featurizer spec 1.0 (docs/featurizer.md).

    python tests/golden/make_golden.py

Run this ONLY together with a featurizer spec version bump (then write a new ``featurizer_vN.json``
and keep the old file until its spec is retired): the goldens are the contract a Kotlin or Swift port
is tested against, so regenerating them to make a failing test pass would hide a breaking change.
The file stores, per case, the input text (or a recipe for the long ones), all its tokens and the
exact features / mask / length / truncated flag of featurizing it alone, plus intermediate values
(MurmurHash3 outputs, mixing constants, per-token n-grams and MinHash values) to debug a port with.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import mmh3
import numpy as np

from neurolite_sdk.featurizer import (
    BOW,
    EOW,
    FEATURIZER_VERSION,
    MAX_NGRAM_CHARS,
    UNICODE_VERSION,
    BloomFeaturizer,
    FeaturizerConfig,
    mix_params,
)

OUT = Path(__file__).resolve().parent / "featurizer_v1.json"

CONFIGS = {
    "default": FeaturizerConfig(),
    # Odd F (range reduction is not a bit mask), the largest seed, n-grams from 2 to 4, short L.
    "alt": FeaturizerConfig(num_buckets=1000, num_hashes=6, word_hashes=2, ngram_min=2, ngram_max=4,
                            max_length=16, seed=4294967295),
    # MinHash only, unigrams included (the boundary markers become n-grams of their own), largest F.
    "ngram_only": FeaturizerConfig(num_buckets=2**31, num_hashes=3, word_hashes=0, ngram_min=1, ngram_max=2,
                                   max_length=8, seed=42),
    # Whole-token hashes only.
    "word_only": FeaturizerConfig(num_buckets=97, num_hashes=2, word_hashes=2, max_length=32, seed=7),
}

LONG_PHRASE = "The quick brown fox jumps over the lazy dog; café naïve 東京 😀 مرحبا 123. "

# (name, text). A text given as {"repeat": s, "length": n} is s repeated and cut to n code points.
CASES: list[tuple[str, Any]] = [
    # ASCII English
    ("ascii_word", "hello"),
    ("ascii_greeting", "Hello, World!"),
    ("ascii_pangram", "The quick brown fox jumps over the lazy dog."),
    ("ascii_review", "it's a wonderful, charming film -- don't miss it"),
    ("ascii_shouting", "I LOVE IT!!!"),
    ("ascii_underscore", "snake_case and camelCase identifiers"),
    ("ascii_single_letters", "a b c d e"),
    ("ascii_hashtag_mention", "#NLProc @user_name"),
    # Accents and compatibility forms
    ("accent_precomposed", "café"),
    ("accent_decomposed", "cafe\u0301"),
    ("accent_spanish", "Ñandú y niño"),
    ("accent_german_sharp_s", "Über die Straße, STRASSE, ẞ"),
    ("accent_upper", "ÉCOLE Élève"),
    ("ligatures", "ﬁnal ﬂow ﬀ"),
    ("dotted_capital_i", "İstanbul"),
    ("angstrom_sign", "Ångström \u212b \u2126"),
    ("fullwidth", "ＡＢＣ１２３ｘｙｚ"),
    ("superscripts_fractions", "x² ½ ① ㎏"),
    ("greek_final_sigma", "Ὀδυσσεύς ΣΊΣΥΦΟΣ"),
    ("cyrillic", "Привет, мир!"),
    ("vietnamese", "Tiếng Việt có dấu"),
    ("j_caron_casefold", "ǰ J\u030c"),
    ("devanagari", "नमस्ते दुनिया"),
    ("thai_no_spaces", "สวัสดีครับ"),
    # CJK
    ("chinese_simplified", "我爱自然语言处理。"),
    ("chinese_traditional", "今天天氣很好，我們去公園吧！"),
    ("japanese_mixed", "東京は日本の首都です。"),
    ("katakana_long_vowel", "コンピューター"),
    ("halfwidth_katakana", "ｺﾝﾋﾟｭｰﾀｰ"),
    ("hiragana_combining_dakuten", "か\u3099き\u309a"),
    ("korean", "안녕하세요 세계"),
    ("hangul_jamo_decomposed", "\u1100\u1161\u11a8 \u1112\u1161\u11ab"),
    ("cjk_extension_b", "𠀀𠀁 𪚥"),
    ("cjk_iteration_mark", "人々 時々"),
    # Emoji
    ("emoji_variation_selector", "I ❤️ NY, I ❤ NY"),
    ("emoji_skin_tone", "👍🏽👍 👋🏿"),
    ("emoji_zwj_family", "👨\u200d👩\u200d👧\u200d👦"),
    ("emoji_flags", "🇫🇷🇯🇵"),
    ("emoji_keycaps", "1️⃣ #️⃣"),
    ("emoji_repeated", "😂😂😂 lol"),
    ("emoji_tag_sequence", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"),
    # Right-to-left
    ("arabic", "مرحبا بالعالم"),
    ("arabic_harakat", "السَّلَامُ عَلَيْكُمْ"),
    ("hebrew_niqqud", "שָׁלוֹם עוֹלָם"),
    ("arabic_indic_digits", "١٢٣ ٤٥٦"),
    ("bidi_marks", "\u200fשלום\u200e hello \u202bembedded\u202c"),
    ("persian_zwnj", "می\u200cخواهم"),
    # Mixed scripts
    ("mixed_scripts", "Привет world 你好 مرحبا"),
    ("mixed_korean_japanese_latin", "NeuroLite는 東京에서 works"),
    ("mixed_script_word", "abcабв"),
    # Numbers, symbols
    ("numbers", "3.14159 1,000,000 -42 +7 1e-10"),
    ("date_time", "2024-01-31 12:30"),
    ("currency", "$19.99 €5 ¥100 £3"),
    ("math_symbols", "∑x² ≤ ∞ → ∀ε>0"),
    # URLs and e-mail
    ("url", "https://www.example.com/path?q=1&r=two#frag"),
    ("email", "contact: first.last+tag@example.co.uk"),
    # Punctuation
    ("punctuation_run", "?!?!... --- ***"),
    ("quotes", "«quotes» “curly” ‘single’ don’t can't"),
    ("brackets", "(a) [b] {c} <d>"),
    ("lone_combining_marks", "\u0301abc !\u0301 x"),
    # Empty and whitespace
    ("empty", ""),
    ("spaces_only", "   "),
    ("tabs_newlines_only", "\t\n\r\n  \t"),
    ("tabs_newlines_between", "line one\nline two\tcol\r\nend"),
    ("unicode_spaces", "\u00a0nbsp\u3000ideographic\u2003em\u202fnarrow"),
    # Zero-width, format and control characters
    ("zero_width", "zero\u200bwidth\u200djoiner\ufeffbom\u2060wj"),
    ("soft_hyphen", "soft\u00adhyphen"),
    ("control_chars", "ctrl\x00\x07\x1b[0mchars\x7f\x85end"),
    ("line_paragraph_separators", "a\u2028b\u2029c"),
    ("private_use", "\ue000x\U000f0000y"),
    ("unassigned", "a\u0378b \U000e0000c"),
    # Length edges
    ("word_32_chars", "abcdefghijklmnopqrstuvwxyzabcdef"),
    ("word_33_chars", "abcdefghijklmnopqrstuvwxyzabcdefg"),
    ("word_34_chars_supercali", "supercalifragilisticexpialidocious"),
    ("truncated_100_words", " ".join(f"word{i}" for i in range(100))),
    ("long_10000_chars", {"repeat": LONG_PHRASE, "length": 10_000}),
    ("long_10000_char_word", {"repeat": "abcdefghij", "length": 10_000}),
    ("single_ideograph", "中"),
    ("single_punctuation", "!"),
    # Added within spec 1.0 (new inputs only; no earlier output changed). Characters whose Unicode
    # properties changed after 14.0.0: a port that uses its platform's (newer or older) tables fails these.
    ("unicode15_pink_heart", "I \U0001FA77 this"),  # U+1FA77: unassigned (SEP) in 14.0, a symbol in 15.0
    ("unicode15_new_symbols", "wireless \U0001F6DC ok \U0001FA75\U0001FA76 \u2FFC\u31EF"),
    ("unicode15_new_letters", "kannada \u0CB8\u0CF3 kawi \U00011F04\U00011F05 cyr \U0001E030\U0001E031x"),
    ("unicode15_cjk_ext_h", "han \U00031350\U00031351 \U0002B739 kana \U0001B132\U0001B155"),
    ("unicode15_egyptian_format", "hiero\U00013439glyph"),  # Cf (deleted) in 15.0, unassigned (SEP) in 14.0
    ("unicode14_new_in_14", "\uA7C0\uA7C1 \u2C2F\u2C5F \u0890x\u0891y \u9FFD\u9FFE\u9FFF \u1734"),
    # Lone surrogates (only possible in a malformed string): separators; UTF-16 bindings pass them as U+0020.
    ("lone_surrogates", "a\ud800b \udfffc d\ud83d e\ude00"),
    ("surrogate_between_marks", "e\ud800\u0301x \udc00\u0308"),
]

# A subset featurized under every other config.
ALT_CASES = ("ascii_greeting", "ascii_review", "accent_decomposed", "japanese_mixed", "korean",
             "emoji_zwj_family", "arabic_harakat", "url", "empty", "control_chars", "word_34_chars_supercali",
             "truncated_100_words", "long_10000_chars")

BATCHES = [
    ("batch_padding", "default", ["Hello, World!", "", "東京は日本の首都です。", "a"], None, None),
    ("batch_pad_to", "default", ["short text", "👍🏽"], None, 6),
    ("batch_max_length_override", "alt", ["one two three four five", "uno dos", "   "], 3, None),
]

# UTF-8 byte inputs (spec section 0): each maximal invalid subsequence becomes one U+FFFD (WHATWG).
BYTES_CASES = [
    ("invalid_lone_continuation", b"caf\x80e ok"),
    ("invalid_overlong", b"over\xc0\xaflong \xe0\x80\x80x"),
    ("invalid_surrogate_encoding", b"a\xed\xa0\x80b"),
    ("invalid_truncated_4byte", b"emoji \xf0\x9f\x98 end"),
    ("invalid_truncated_at_end", b"ends with \xe6\x9d"),
    ("invalid_high_bytes", b"\xf5\xff\xfe x \xf4\x90\x80\x80 y"),
    ("valid_mixed", "naïve 東京 😀".encode()),
    ("nul_bytes", b"nul\x00inside\x00\x00text"),
]

HASH_INPUTS = ["", "a", "hello", "café", "東京", "😀", "\x02he", "lo\x03", "\x02a\x03",
               "The quick brown fox jumps over the lazy dog"]
DETAIL_TOKENS = ["hello", "a", "café", "東", "😀", "supercalifragilisticexpialidocious"]


def make_text(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    repeat, length = spec["repeat"], spec["length"]
    return (repeat * (length // len(repeat) + 1))[:length]


def sha256_features(features: np.ndarray) -> str:
    """SHA-256 of int32 little-endian, row-major bytes (spec: golden vectors)."""
    return hashlib.sha256(np.ascontiguousarray(features, dtype="<i4").tobytes()).hexdigest()


def featurize_case(name: str, config_name: str, text_spec: Any) -> dict[str, Any]:
    featurizer = BloomFeaturizer(CONFIGS[config_name])
    text = make_text(text_spec)
    tokens = featurizer.tokenize(text)
    batch = featurizer([text])
    full = featurizer([text], max_length=max(1, len(tokens)))
    case: dict[str, Any] = {"name": name, "config": config_name}
    case["text" if isinstance(text_spec, str) else "text_recipe"] = text_spec
    case.update(tokens=tokens, num_tokens=len(tokens), length=int(batch.lengths[0]),
                truncated=bool(batch.truncated[0]), mask=batch.mask[0].tolist(),
                features=batch.features[0].tolist(),
                all_features_sha256=sha256_features(full.features[0, :len(tokens)]))
    return case


def featurize_bytes_case(name: str, config_name: str, data: bytes) -> dict[str, Any]:
    case = featurize_case(name, config_name, data.decode("utf-8", "replace"))
    del case["text"]
    return {"name": name, "config": config_name, "hex": data.hex(), **case}


def token_detail(config_name: str, token: str) -> dict[str, Any]:
    config = CONFIGS[config_name]
    a, b = (x.tolist() for x in mix_params(config.seed, config.num_hashes))
    w = config.word_hashes
    wrapped = BOW + token[:MAX_NGRAM_CHARS] + EOW
    if len(wrapped) < config.ngram_min:
        grams = [wrapped]
    else:
        grams = [wrapped[i:i + n] for n in range(config.ngram_min, min(config.ngram_max, len(wrapped)) + 1)
                 for i in range(len(wrapped) - n + 1)]
    word_hash = mmh3.hash(token.encode("utf-8"), config.seed, signed=False)
    gram_hashes = [mmh3.hash(g.encode("utf-8"), config.seed, signed=False) for g in grams]
    mix = [lambda x, k=k: ((a[k] * x + b[k]) % 2**64) >> 32 for k in range(config.num_hashes)]
    values = [mix[k](word_hash) for k in range(w)]
    values += [min(mix[k](h) for h in gram_hashes) for k in range(w, config.num_hashes)]
    buckets = [v % config.num_buckets for v in values]
    assert buckets == BloomFeaturizer(config).token_buckets(token).tolist(), token
    return {"config": config_name, "token": token, "wrapped": wrapped, "ngrams": grams,
            "word_hash": word_hash, "ngram_hashes": gram_hashes, "values": values, "buckets": buckets}


def build() -> dict[str, Any]:
    doc: dict[str, Any] = {
        "spec_version": FEATURIZER_VERSION,
        "unicode_version": UNICODE_VERSION,
        "generated_by": "tests/golden/make_golden.py (regenerate only with a spec version bump)",
        "conventions": {
            "text_recipe": "text = repeat concatenated with itself and cut to the first `length` code points",
            "features": "featurize the text alone (B = 1) with the case's config: rows [L][K], "
                        "L = max(1, length)",
            "all_features_sha256": "sha256 of the int32 little-endian row-major [num_tokens, K] features of "
                                   "all tokens (max_length = num_tokens, no truncation); empty bytes if none",
            "hex": "mix constants are 64-bit unsigned integers written as 16-digit hex strings",
            "bytes_cases": "input given as UTF-8 bytes (hex), possibly invalid: decode each maximal invalid "
                           "subsequence to one U+FFFD (WHATWG), then as `cases`",
            "lone_surrogates": "a lone surrogate in a text is a separator; UTF-8/UTF-16 bindings pass it as U+0020",
        },
        "configs": {name: {**c.to_dict(), "canonical_json": c.canonical_json(), "digest": c.digest()}
                    for name, c in CONFIGS.items()},
        "mix_params": {name: {"a": [f"{x:016x}" for x in mix_params(c.seed, c.num_hashes)[0].tolist()],
                              "b": [f"{x:016x}" for x in mix_params(c.seed, c.num_hashes)[1].tolist()]}
                       for name, c in CONFIGS.items()},
        "murmur3_x86_32": [{"input": s, "seed": seed,
                            "hash": mmh3.hash(s.encode("utf-8"), seed, signed=False)}
                           for seed in (0, 42, 4294967295) for s in HASH_INPUTS],
        "token_details": [token_detail(c, t) for c in CONFIGS for t in DETAIL_TOKENS],
        "cases": [featurize_case(name, "default", text) for name, text in CASES],
    }
    by_name = dict(CASES)
    for config_name in CONFIGS:
        if config_name != "default":
            doc["cases"] += [featurize_case(name, config_name, by_name[name]) for name in ALT_CASES]
    doc["bytes_cases"] = [featurize_bytes_case(name, "default", data) for name, data in BYTES_CASES]
    doc["batches"] = []
    for name, config_name, texts, max_length, pad_to in BATCHES:
        batch = BloomFeaturizer(CONFIGS[config_name])(texts, max_length=max_length, pad_to=pad_to)
        doc["batches"].append({"name": name, "config": config_name, "texts": texts, "max_length": max_length,
                               "pad_to": pad_to, "features": batch.features.tolist(),
                               "mask": batch.mask.tolist(), "lengths": batch.lengths.tolist(),
                               "truncated": batch.truncated.tolist()})
    return doc


def dumps(value: Any, indent: str = "") -> str:
    """JSON with one case field per line and number arrays kept on one line (diffable, not huge)."""
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in value) + "\n" + indent + "]"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=True)


def main() -> None:
    doc = build()
    OUT.write_text(dumps(doc) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(doc['cases'])} cases, {len(doc['batches'])} batches)")


if __name__ == "__main__":
    main()
