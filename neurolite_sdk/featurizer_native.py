"""The featurizer on the portable C core (``native/``): same spec, same results, several times faster.

``NativeBloomFeaturizer`` has the call interface of ``neurolite_sdk.featurizer.BloomFeaturizer`` and
gives bit-identical outputs (docs/featurizer.md; both are checked against the same golden vectors and
against each other on random text from every Unicode plane). It runs the C core through the optional
extension ``neurolite_sdk._featurizer_native``, built by ``pip install`` when a C compiler is present;
without it the pure-Python featurizer is the one in use, and nothing else changes.

    create_featurizer(config)                 native when built, else Python (what the SDK itself calls)
    create_featurizer(config, implementation="python" | "native")
    NEUROLITE_FEATURIZER=python | native      replaces the "auto" default (an explicit argument wins)
    featurizer_implementation()               "native C core 1.0.0 (spec 1.0, Unicode 14.0.0)", or why not

Differences from the Python class, none of which changes an output:
- texts may also be ``bytes`` (UTF-8; invalid sequences become U+FFFD as ``bytes.decode("utf-8",
  "replace")`` makes them);
- the token cache is the core's direct-mapped cache, one per scratch (``cache_size`` slots, capped at
  ``CACHE_BUDGET_BYTES`` per scratch), so there is no ``cache_info()``;
- featurizing releases the GIL: threads sharing one featurizer run in parallel, each on a scratch
  (working memory and cache) taken from a small pool.
"""

from __future__ import annotations

import numbers
import os
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from neurolite_sdk.featurizer import (
    FEATURIZER_VERSION,
    UNICODE_VERSION,
    BloomFeaturizer,
    FeatureBatch,
    FeaturizerConfig,
    FeaturizerError,
)

ENV_VAR = "NEUROLITE_FEATURIZER"
IMPLEMENTATIONS = ("auto", "native", "python")
DEFAULT_CACHE_SIZE = 200_000  # the Python featurizer's default
CACHE_BUDGET_BYTES = 32 << 20  # most token-cache memory per scratch (a slot is about K * 4 + 48 bytes)
SLOT_BYTES = 48  # the core's per-slot overhead besides the K buckets (native/include/neurolite_featurizer.h)
BUILD_NOTE = "_featurizer_native.unavailable.txt"  # written by setup.py when the extension was not built
_MAX_LENGTH = 2**31 - 1  # the core's largest max_length; every text has fewer tokens than this
_SURROGATE = re.compile("([\ud800-\udfff])")  # captured: split() keeps each surrogate between pieces

Featurizer = Union[BloomFeaturizer, "NativeBloomFeaturizer"]


def _load_core() -> tuple[Any, str | None]:
    """(the extension module, None) or (None, why it cannot be used)."""
    try:
        from neurolite_sdk import _featurizer_native as core
    except ImportError as exc:
        note = Path(__file__).with_name(BUILD_NOTE)
        if note.is_file():
            return None, f"not built at install: {note.read_text(encoding='utf-8', errors='replace').strip()}"
        return None, (f"the C extension neurolite_sdk._featurizer_native is not installed ({exc}); it is built by "
                      f"`pip install` when a C compiler is present (`pip install -v -e .` shows why it was not)")
    if core.SPEC_VERSION != FEATURIZER_VERSION or core.UNICODE_VERSION != UNICODE_VERSION:
        return None, (f"the built native core implements spec {core.SPEC_VERSION} on Unicode {core.UNICODE_VERSION}, "
                      f"this SDK spec {FEATURIZER_VERSION} on Unicode {UNICODE_VERSION}: rebuild it (pip install -e .)")
    core.set_error_class(FeaturizerError)
    _warn_if_stale(Path(core.__file__))
    return core, None


def _warn_if_stale(module: Path) -> None:
    """In a source checkout (an editable install), warn when native/ or the binding changed after the
    extension was built: ``pip install -e .`` rebuilds it, nothing else does."""
    root = Path(__file__).resolve().parents[1]
    if module.resolve().parent != Path(__file__).resolve().parent or not (root / "native" / "src").is_dir():
        return
    sources = [*(root / "native" / "src").glob("*.[ch]"), *(root / "native" / "include").glob("*.h"),
               *(root / "neurolite_sdk" / "_native").glob("*.c")]
    try:
        newer = [p for p in sources if p.stat().st_mtime > module.stat().st_mtime]
    except OSError:
        return
    if newer:
        warnings.warn(f"{module.name} is older than {newer[0].relative_to(root)} (and {len(newer) - 1} other "
                      f"sources): rebuild the native featurizer with `pip install -e .`", stacklevel=3)


_core, _UNAVAILABLE = _load_core()


def native_available() -> bool:
    """True when the native core is built and implements this SDK's spec and Unicode version."""
    return _core is not None


def native_unavailable_reason() -> str | None:
    """Why the native core cannot be used, or None when it can."""
    return _UNAVAILABLE


def _native_description() -> str:
    version = _core.version()  # "neurolite-featurizer 1.0.0 (spec 1.0, Unicode 14.0.0)"
    return "native C core " + version.split(" ", 1)[1] if version.startswith("neurolite-featurizer ") else version


def _resolve(implementation: str) -> tuple[str, str | None]:
    """("native" | "python", the environment setting that chose it or None)."""
    if implementation not in IMPLEMENTATIONS:
        raise FeaturizerError(f"implementation: expected one of {', '.join(IMPLEMENTATIONS)}, got {implementation!r}")
    if implementation != "auto":
        return implementation, None
    raw = os.environ.get(ENV_VAR, "")
    forced = raw.strip().lower()
    if forced in ("", "auto"):
        return ("native" if _core is not None else "python"), None
    if forced not in ("native", "python"):
        raise FeaturizerError(f"{ENV_VAR}: expected python, native or auto, got {raw!r}")
    return forced, f"{ENV_VAR}={forced}"


def create_featurizer(config: FeaturizerConfig | None = None, cache_size: int = DEFAULT_CACHE_SIZE,
                      implementation: str = "auto") -> Featurizer:
    """A featurizer for ``config``: the native core when built ("auto"), or the one asked for.

    ``NEUROLITE_FEATURIZER=python|native`` in the environment replaces "auto". Asking for the native core
    when it is not built raises FeaturizerError saying why; results never depend on the choice.
    """
    choice, forced_by = _resolve(implementation)
    if choice == "python":
        return BloomFeaturizer(config, cache_size)
    if _core is None:
        asked = forced_by or f"implementation={implementation!r}"
        raise FeaturizerError(f"{asked}: the native featurizer core is not available: {_UNAVAILABLE}")
    return NativeBloomFeaturizer(config, cache_size)


def featurizer_implementation(implementation: str = "auto") -> str:
    """One line naming the implementation ``create_featurizer(..., implementation)`` uses, and why.

    Never raises: a bad setting is described instead (``create_featurizer`` is what refuses it).
    """
    try:
        choice, forced_by = _resolve(implementation)
    except FeaturizerError as exc:
        return f"none: {exc}"
    if choice == "native":
        if _core is None:
            return f"none: {forced_by or 'native'} asked for the native core, which is not available: {_UNAVAILABLE}"
        return _native_description() + (f" ({forced_by})" if forced_by else "")
    if forced_by or implementation == "python":
        also = f"; {_native_description()} is available" if _core is not None else f"; native core: {_UNAVAILABLE}"
        return f"pure Python ({forced_by or 'implementation=python'}{also})"
    return f"pure Python (native core unavailable: {_UNAVAILABLE})"


class NativeBloomFeaturizer:
    """``BloomFeaturizer``'s interface on the C core. Thread-safe; pickles as (config, cache_size).

    Texts are ``str`` or ``bytes``. A lone surrogate in a ``str`` is a separator (as in the spec),
    and ``normalize`` keeps it in place as the Python featurizer does.
    """

    implementation = "native"

    def __init__(self, config: FeaturizerConfig | None = None, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        config = FeaturizerConfig() if config is None else config
        if not isinstance(config, FeaturizerConfig):
            raise FeaturizerError(f"config: expected a FeaturizerConfig, got {type(config).__name__}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, numbers.Integral) or cache_size < 0:
            raise FeaturizerError(f"cache_size: must be an integer >= 0, got {cache_size!r}")
        if _core is None:
            raise FeaturizerError(f"NativeBloomFeaturizer: the native featurizer core is not available: {_UNAVAILABLE}")
        self.config = config
        self.cache_size = int(cache_size)
        self._core = _core.Core(config.canonical_json())
        if self._core.digest() != config.digest():
            raise FeaturizerError(f"config: the native core computes digest {self._core.digest()}, the SDK "
                                  f"{config.digest()}; the core does not implement this SDK's spec")
        self._cache_entries = min(self.cache_size, CACHE_BUDGET_BYTES // (4 * config.num_hashes + SLOT_BYTES))
        # Idle scratches, most recently used last: one thread at a time uses one; list.pop() and
        # append() are atomic, so no lock is needed. At most _keep stay idle (the others are freed).
        self._pool: list[Any] = []
        self._keep = max(2, os.cpu_count() or 2)

    def __repr__(self) -> str:
        return f"NativeBloomFeaturizer({self.config!r}, cache_size={self.cache_size})"

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "cache_size": self.cache_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"], state["cache_size"])  # type: ignore[misc]

    @property
    def description(self) -> str:
        """The core's version line, e.g. "native C core 1.0.0 (spec 1.0, Unicode 14.0.0)"."""
        return _native_description()

    # ------------------------------------------------------------------------------------------- scratch
    def _take(self) -> Any:
        try:
            return self._pool.pop()
        except IndexError:
            return _core.Scratch(self._core, self._cache_entries)

    def _give(self, scratch: Any) -> None:
        if len(self._pool) < self._keep:
            self._pool.append(scratch)

    # ------------------------------------------------------------------------------------------- API
    def normalize(self, text: str | bytes) -> str:
        """Spec section 2 (bytes: decoded as UTF-8 with U+FFFD for invalid sequences first)."""
        if isinstance(text, str) and _SURROGATE.search(text):
            # A surrogate is a starter that composes with nothing, so normalization never crosses it:
            # normalize the pieces between surrogates and keep the surrogates, as the Python path does.
            return "".join(piece if i % 2 else self.normalize(piece)
                           for i, piece in enumerate(_SURROGATE.split(text)))
        scratch = self._take()
        try:
            return scratch.normalize(text)
        finally:
            self._give(scratch)

    def tokenize(self, text: str | bytes) -> list[str]:
        """Spec sections 2-3: every normalized token of ``text``, not truncated."""
        scratch = self._take()
        try:
            return scratch.tokenize(text)
        finally:
            self._give(scratch)

    def token_buckets(self, token: str) -> np.ndarray:
        """int32 [K] buckets of one *normalized* token (as ``tokenize`` returns it), hashed as given."""
        if not isinstance(token, str):
            raise FeaturizerError(f"token: expected str, got {type(token).__name__}")
        try:
            encoded = token.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FeaturizerError(f"token: not encodable as UTF-8 ({exc.reason} at {exc.start})") from exc
        return np.frombuffer(bytearray(self._core.token_buckets(encoded)), np.int32)

    def __call__(self, texts: Sequence[str | bytes], max_length: int | None = None,
                 pad_to: int | None = None) -> FeatureBatch:
        """Featurize a batch. L = ``pad_to`` if given, else max(1, longest kept length).

        ``max_length`` overrides ``config.max_length`` for truncation (the first tokens are kept).
        A text without tokens gives an all-zero mask row.
        """
        if isinstance(texts, (str, bytes)):
            raise FeaturizerError(f"texts: expected a sequence of str, got a single {type(texts).__name__}; "
                                  f"wrap it in a list")
        texts = list(texts)  # our own list: nobody can change it while the GIL is released
        limit = self.config.max_length if max_length is None else max_length
        if type(limit) is not int or limit < 1:  # (the common case first: a plain int)
            if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
                _check_items(texts)  # the Python featurizer names a bad text before a bad max_length
                raise FeaturizerError(f"max_length: must be an integer >= 1, got {max_length!r}")
            limit = int(limit)
        if pad_to is None:
            pad = 0
        elif isinstance(pad_to, bool) or not isinstance(pad_to, numbers.Integral) or pad_to < 1:
            pad = -1  # invalid: featurize only to name the longest kept text in the message
        else:
            pad = int(pad_to)
        count, k = len(texts), self.config.num_hashes
        if not count:
            if pad == -1:
                raise FeaturizerError(f"pad_to: must be an integer >= the longest kept text (1 tokens), got {pad_to!r}")
            width = pad or 1
            return FeatureBatch(np.zeros((0, width, k), np.int32), np.zeros((0, width), np.float32),
                                np.zeros(0, np.int32), np.zeros(0, bool))
        if pad > sys.maxsize // (4 * k * count):
            raise MemoryError(f"pad_to: {pad_to} rows of {count} x {k} int32 do not fit in memory")
        pool = self._pool  # (inlined _take and _give: this is the per-call path)
        try:
            scratch = pool.pop()
        except IndexError:
            scratch = _core.Scratch(self._core, self._cache_entries)
        try:
            features, mask, lengths, truncated, width = scratch.featurize(
                texts, limit if limit < _MAX_LENGTH else _MAX_LENGTH, pad)
        finally:
            if len(pool) < self._keep:
                pool.append(scratch)
        if features is None:
            raise FeaturizerError(f"pad_to: must be an integer >= the longest kept text ({width} tokens), "
                                  f"got {pad_to!r}")
        return FeatureBatch(np.frombuffer(features, np.int32).reshape(count, width, k),
                            np.frombuffer(mask, np.float32).reshape(count, width),
                            np.frombuffer(lengths, np.int32), np.frombuffer(truncated, np.bool_))


def _check_items(texts: list[Any]) -> None:
    for i, text in enumerate(texts):
        if not isinstance(text, (str, bytes)):
            raise FeaturizerError(f"texts[{i}]: expected str (or UTF-8 bytes), got {type(text).__name__}")

