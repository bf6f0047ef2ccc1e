"""Model instances shared by threads: how a backend is safe to call from many threads at once.

Runtimes differ. onnxruntime documents ``InferenceSession.run`` as safe to call concurrently on one
session, so an ONNX backend shares one session. LiteRT's interpreter is not: a signature runner
resizes, fills, invokes and reads one set of tensors, and two threads interleaving those steps read
each other's tensors (measured: hundreds of wrong probabilities per 3,200 calls from 16 threads, some
labels flipped). An ExecuTorch method owns its planned memory, and Core ML's Python bindings promise
nothing either way. Those backends take an instance from an ``InstancePool``: each call has an
instance to itself for its whole duration.

The pool opens instances lazily, up to ``size``: one thread never opens a second one, and a thread
finding them all busy waits for one. The first instance is opened at construction, so a bundle that
does not load fails in ``load()``, not in the first call. ``benchmarks/thread_safety.py`` measures the
choice (one instance behind a lock, a pool, one per thread) at 1, 4 and 16 threads; docs/bundle.md
("Threads and processes") records the figures and what is guaranteed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def default_pool_size() -> int:
    """Instances a pool may open by default: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


class InstancePool(Generic[T]):
    """Up to ``size`` instances from ``open_instance``, each lent to one caller at a time.

    ``shared=True`` is for runtimes whose instance is documented safe to call concurrently: one
    instance, lent to every caller at once (``size`` is then 1).
    """

    def __init__(self, open_instance: Callable[[], T], size: int, shared: bool = False) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size: must be a positive integer, got {size!r}")
        self._open = open_instance
        self.shared = shared
        self.size = 1 if shared else size
        self._idle: list[T] = [open_instance()]
        self._opened = 1
        self._available = threading.Condition(threading.Lock())

    @property
    def opened(self) -> int:
        """How many instances exist (idle or lent)."""
        return self._opened

    @contextlib.contextmanager
    def instance(self) -> Iterator[T]:
        """An instance for the caller alone (or the shared one), returned to the pool on exit."""
        if self.shared:
            yield self._idle[0]
            return
        with self._available:
            while not self._idle and self._opened >= self.size:
                self._available.wait()
            if self._idle:
                instance: T | None = self._idle.pop()  # the most recently used: its memory is warm
            else:
                instance = None
                self._opened += 1  # reserved before opening, outside the lock, so nobody overshoots
        if instance is None:
            try:
                instance = self._open()
            except BaseException:
                with self._available:
                    self._opened -= 1
                    self._available.notify()
                raise
        try:
            yield instance
        finally:
            with self._available:
                self._idle.append(instance)
                self._available.notify()
