"""Atomic writes: a file or a whole directory appears complete, or not at all.

Checkpoints and bundles are directories of several files; a crash or Ctrl-C half-way must never
leave a directory that looks valid. Everything is written into a temporary sibling (same file
system, so the final rename is atomic) and renamed into place only when complete.

Replacing a directory deletes what was there, so every writer names the kind of directory it writes
(an ``OutputKind``): a non-empty directory that is not of that kind is never replaced, and one that is
is replaced only when the caller says so (``overwrite``, the CLI's ``--overwrite``).
``check_output_dir`` is the same check plus the location's (a file, under a file, not writable, the
current directory), run by the commands before any work.

A kill (``kill -9``, power loss) can land anywhere. The staging directory ``.NAME.TOKEN.partial`` and,
while an existing directory is swapped out, ``.NAME.TOKEN.old`` sit beside the target with a journal
``.NAME.TOKEN.journal`` naming the process (host, boot, pid and its start time). Where the kernel can
exchange two directories in one step (Linux ``renameat2``), the target is never missing; elsewhere the
swap is two renames. The next write to the same target (``recover_leftovers``) deletes the leftovers
of a journal whose process is provably gone, and puts the old directory back if the kill fell between
the two renames; it touches nothing else.

Everything published gets the usual modes under the process umask (0644/0755 under umask 022), whatever
wrote it (``mkstemp`` and safetensors alone make 0600 files, unreadable to anyone else).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from neurolite_sdk.errors import NeuroLiteError


class OutputError(NeuroLiteError):
    """An output location that cannot or must not be written; the message names the path."""


@dataclass(frozen=True)
class OutputKind:
    """A kind of directory the SDK writes: its name in messages, and how to recognise one on disk.

    ``into``: the command writes files into the directory (bench), rather than replacing it whole, so
    the directory itself must be writable.
    """

    noun: str
    recognise: Callable[[Path], bool]
    into: bool = False


def _has_files(*names: str) -> Callable[[Path], bool]:
    return lambda path: all((path / name).is_file() for name in names)


def _is_bundle(path: Path) -> bool:
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and {"schema_version", "format", "files"} <= set(manifest)


BENCH_ENTRIES = frozenset({"results.json", "report.md", "scaling.png", "bundles", "models", "devices"})


def _is_bench_directory(path: Path) -> bool:
    names = {p.name for p in path.iterdir() if not p.name.startswith(".")}
    return bool(names) and names <= BENCH_ENTRIES


CHECKPOINT_FILES = ("config.json", "model.safetensors", "labels.json", "featurizer.json")
CHECKPOINT = OutputKind("checkpoint", _has_files(*CHECKPOINT_FILES))
BUNDLE = OutputKind("bundle", _is_bundle)
BENCH_DIRECTORY = OutputKind("bench directory", _is_bench_directory, into=True)
BASELINE_MODEL = OutputKind("baseline model", lambda p: (p / "model.onnx").is_file() or (p / "model.pte").is_file())


# --------------------------------------------------------------------------------------------- checks
def check_output_location(path: str | Path, *, into: bool = False) -> None:
    """Refuse, before any work, a location a directory cannot be written at: an existing file, a path
    under a file, a directory this process cannot write in, the current directory or one above it, a
    name the file system refuses (too long, a NUL character)."""
    path = Path(path)
    if "\x00" in str(path):
        raise OutputError(f"{str(path)!r}: contains a NUL character, which no file name may")
    try:
        _check_location(path, into)
    except OSError as exc:
        raise OutputError(f"{path}: {exc.strerror or exc}") from exc


def _check_location(path: Path, into: bool) -> None:
    absolute = Path(os.path.abspath(path))
    if absolute.parent == absolute:
        raise OutputError(f"{path}: is the file system root; give a directory to create")
    try:
        resolved = path.resolve()
    except RuntimeError as exc:  # Python 3.11-3.12 raise it for a symlink loop (3.13: OSError)
        raise OutputError(f"{path}: cannot be resolved ({exc})") from exc
    except OSError as exc:
        raise OutputError(f"{path}: cannot be resolved ({exc.strerror or exc})") from exc
    with contextlib.suppress(OSError):
        cwd = Path.cwd().resolve()
        if resolved == cwd or resolved in cwd.parents:
            raise OutputError(f"{path}: is the current directory or contains it; give a new directory, "
                              f"e.g. {path / 'out'}")
    if os.path.lexists(path) and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory")
    existing = absolute.parent
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{path}: cannot be created: {existing} is a file, not a directory")
    _probe(path, existing)
    if into and path.is_dir():
        _probe(path, path)


def _probe(path: Path, directory: Path) -> None:
    """Create and remove a directory in ``directory``: what writing there will do, tried before any work."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".neurolite-probe-", dir=directory))
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {directory} ({exc.strerror or exc})") from exc


def check_output_dir(path: str | Path, kind: OutputKind, *, overwrite: bool = False) -> None:
    """Refuse ``path`` unless writing a ``kind`` there works and loses nothing the caller did not ask to
    replace: an absent or empty directory is fine; a non-empty one must be a ``kind`` and ``overwrite``
    set. Leftovers of an earlier write to ``path`` that was killed are cleaned up first."""
    path = _follow(Path(path))
    check_output_location(path, into=kind.into)
    recover_leftovers(path)
    try:
        empty = not path.is_dir() or not any(path.iterdir())
        ours = empty or kind.recognise(path)
    except OSError as exc:
        raise OutputError(f"{path}: {exc.strerror or exc}") from exc
    if empty:
        return
    if not ours:
        raise OutputError(f"{path}: not empty and not a NeuroLite {kind.noun}; refusing to replace it "
                          f"(give a new or empty directory)")
    if not overwrite:
        raise OutputError(f"{path}: already holds a NeuroLite {kind.noun}; pass --overwrite to replace it")


def _follow(path: Path) -> Path:
    """A symlink to a directory stands for that directory (replacing the link would strand its target)."""
    try:
        return path.resolve() if path.is_symlink() and path.is_dir() else path
    except (OSError, RuntimeError):
        return path  # a loop or an unreadable link: check_output_location names it


# --------------------------------------------------------------------------------------------- modes
def current_umask() -> int:
    """The process umask, read without changing it where /proc says it (os.umask alone must set it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------------------------- files
def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp's 0600 would hide the file from everyone else
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------------- directories
JOURNAL_FORMAT = "neurolite-atomic-directory/1"
_TOKEN = re.compile(r"^[0-9]+-[0-9a-f]{16}$")


@contextlib.contextmanager
def atomic_directory(path: str | Path, kind: OutputKind, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging directory; on success it replaces ``path`` in one step.

    ``path`` is checked (``check_output_dir``) before, and again just before the swap, so a directory
    that is not a ``kind`` is never replaced, and one that is only with ``overwrite``.
    """
    path = _follow(Path(path))
    check_output_dir(path, kind, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{secrets.token_hex(8)}"
    staging, retired, journal = _leftover_paths(path, token)
    atomic_write_text(journal, json.dumps({"format": JOURNAL_FORMAT, "target": path.name, **_process_identity()}))
    old = None
    try:
        os.mkdir(staging)  # 0777 under the umask, like any directory the user makes
        yield staging
        check_output_dir(path, kind, overwrite=overwrite)  # it may have appeared while we worked
        _finish_tree(staging)
        old = _publish(staging, path, retired)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(journal)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal)
    _fsync_directory(path.parent)


def _leftover_paths(path: Path, token: str) -> tuple[Path, Path, Path]:
    return tuple(path.parent / f".{path.name}.{token}.{suffix}" for suffix in ("partial", "old", "journal"))


def _publish(staging: Path, path: Path, retired: Path) -> Path | None:
    """Put ``staging`` at ``path``; returns where the replaced directory now is (to delete), if any."""
    if not os.path.lexists(path):
        os.rename(staging, path)
        return None
    if _exchange(staging, path):
        return staging  # the old directory now sits under the staging name
    os.rename(path, retired)
    try:
        os.rename(staging, path)
    except BaseException:
        os.rename(retired, path)
        raise
    return retired


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is unavailable."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # an old kernel, or a file system without exchange: two renames instead
    raise OSError(code, os.strerror(code), str(b))


def _finish_tree(root: Path) -> None:
    """Give every file and directory the mode the umask asks for (libraries such as safetensors create
    0600 files), then flush them, so a power loss after the rename cannot leave empty files."""
    umask = current_umask()
    for folder, _, files in os.walk(root):
        os.chmod(folder, 0o777 & ~umask)
        for name in files:
            file = os.path.join(folder, name)
            if os.path.islink(file):
                continue
            executable = os.stat(file).st_mode & 0o111
            os.chmod(file, (0o777 if executable else 0o666) & ~umask)
            with contextlib.suppress(OSError):
                fd = os.open(file, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_directory(Path(folder))


def _fsync_directory(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------- recovery
def _process_identity(pid: int | None = None) -> dict[str, object]:
    pid = os.getpid() if pid is None else pid
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "started": _start_ticks(pid)}


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): a reused pid differs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _gone(record: dict[str, object]) -> bool:
    """True only when the journal's process has provably exited (same host, and rebooted or pid not running
    or running a later process)."""
    if record.get("host") != socket.gethostname():
        return False  # another machine sharing the directory: cannot tell
    boot = _boot_id()
    if record.get("boot") is not None and boot is not None and record["boot"] != boot:
        return True
    pid = record.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # running, as another user
    started = record.get("started")
    return started is not None and _start_ticks(pid) not in (None, started)


def recover_leftovers(path: str | Path) -> list[Path]:
    """Remove what a killed write to ``path`` left beside it, restoring ``path`` if the kill fell inside the
    two-rename swap. Only leftovers named by a journal of this module whose process is gone; returns them."""
    path = Path(path)
    parent, name = path.parent, path.name
    try:
        entries = os.listdir(parent)
    except OSError:
        return []
    prefix, removed = f".{name}.", []
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(".journal")):
            continue
        token = entry[len(prefix): -len(".journal")]
        if not _TOKEN.match(token):
            continue
        journal = parent / entry
        try:
            record = json.loads(journal.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("format") != JOURNAL_FORMAT or record.get("target") != name:
            continue
        if not _gone(record):
            continue
        staging, retired, _ = _leftover_paths(path, token)
        if retired.is_dir() and not retired.is_symlink() and not os.path.lexists(path):
            os.rename(retired, path)  # killed between the two renames: the old directory goes back
        for leftover in (staging, retired):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(leftover)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(journal)
        removed.append(journal)
    return removed
