"""Keep native libraries' chatter (progress bars, C++ logs on fds 1 and 2) off the terminal.

Converters and runtimes print from C++ straight to the process's file descriptors, past Python's
``sys.stdout``: ExecuTorch logs CPU probing, LiteRT announces its XNNPACK delegate, coremltools and
litert-torch draw progress bars. The CLI wraps their calls in ``native_output_captured`` so that its
own output stays readable; when the wrapped code fails, the captured tail is replayed to stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

REPLAYED_LINES = 40


@contextlib.contextmanager
def native_output_captured() -> Iterator[None]:
    """Redirect fds 1 and 2 to a temporary file for the duration; replay its tail if the body raises."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    failed = False
    with tempfile.TemporaryFile() as log:
        try:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, original in zip((1, 2), saved, strict=True):
                os.dup2(original, fd)
                os.close(original)
            if failed:
                log.seek(0)
                tail = log.read().decode("utf-8", "replace").splitlines()[-REPLAYED_LINES:]
                sys.stderr.write("".join(line + "\n" for line in tail))
