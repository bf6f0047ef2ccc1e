"""Reliability of the CLI, training and reasoning side (issue 14): nothing on disk is lost, output locations
are checked before any work, and bad input is one line naming the file, field or line.

Every test drives the real ``neurolite`` command (click's CliRunner or a subprocess) on tiny real data: a
few SST-2 rows and a model of a few thousand parameters, so each training run takes about a second.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from neurolite_sdk.atomic import BUNDLE, CHECKPOINT, OutputError, atomic_directory, check_output_dir
from neurolite_sdk.cli import main

# A model of a few thousand parameters: training on 80 rows takes about a second.
TINY = dict(num_buckets=256, embedding_dim=16, hidden_size=16, num_mixer_layers=1, max_length=16,
            token_mixing_dim=8, channel_mixing_dim=32)
TINY_SET = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory, sst2_small: tuple[Path, Path]) -> tuple[Path, Path]:
    """80 SST-2 training rows and 80 dev rows (parity needs 64), with the header."""
    folder = tmp_path_factory.mktemp("tiny-data")
    for source, name, rows in ((sst2_small[0], "train.tsv", 80), (sst2_small[1], "dev.tsv", 80)):
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / name).write_text("".join(lines[: rows + 1]), encoding="utf-8")
    return folder / "train.tsv", folder / "dev.tsv"


def train_args(tiny_data: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    return ["train", "--train", str(tiny_data[0]), "--eval", str(tiny_data[1]), "--out", str(out), "--epochs", "1",
            "--no-distill", "--threads", "1", *TINY_SET, *extra]


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def one_line_error(result: Result) -> str:
    """The command failed with exactly one line, ``Error: ...``, and no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_data: tuple[Path, Path]) -> Path:
    out = tmp_path_factory.mktemp("reliability") / "ckpt"
    result = invoke(train_args(tiny_data, out))
    assert result.exit_code == 0, result.output
    return out


# ------------------------------------------------------------------------------------------------ defect 1
def test_train_refuses_a_directory_that_is_not_a_checkpoint(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    out = tmp_path / "photos"
    (out / "2024").mkdir(parents=True)
    (out / "2024" / "beach.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    before = snapshot(out)
    for extra in ((), ("--overwrite",)):  # --overwrite replaces checkpoints only, never anything else
        line = one_line_error(invoke(train_args(tiny_data, out, *extra)))
        assert line == f"Error: {out}: not empty and not a NeuroLite checkpoint; refusing to replace it " \
                       "(give a new or empty directory)"
        assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]  # no staging left beside it


def test_the_out_check_runs_before_any_work(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "file").write_text("x", encoding="utf-8")
    # The training file does not exist: the output check must be the one that answers, before reading data.
    args = ["train", "--train", str(tmp_path / "missing.tsv"), "--eval", str(tiny_data[1]), "--out", str(out)]
    assert f"{out}: not empty and not a NeuroLite checkpoint" in one_line_error(invoke(args))


def test_an_existing_checkpoint_is_replaced_only_with_overwrite(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    out = tmp_path / "ckpt"
    assert invoke(train_args(tiny_data, out, "--seed", "1")).exit_code == 0
    before = snapshot(out)
    line = one_line_error(invoke(train_args(tiny_data, out, "--seed", "2")))
    assert line == f"Error: {out}: already holds a NeuroLite checkpoint; pass --overwrite to replace it"
    assert snapshot(out) == before
    result = invoke(train_args(tiny_data, out, "--seed", "2", "--overwrite"))
    assert result.exit_code == 0, result.output
    after = snapshot(out)
    assert sorted(after) == sorted(before) and after["model.safetensors"] != before["model.safetensors"]
    assert json.loads(after["training.json"])["settings"]["seed"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_an_empty_directory_is_written(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert invoke(train_args(tiny_data, out)).exit_code == 0
    assert (out / "model.safetensors").is_file()


def test_export_refuses_foreign_and_existing_bundles(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "app"
    (out / "onnx").mkdir(parents=True)
    (out / "onnx" / "model.onnx").write_bytes(b"the app's own model")  # a directory, but no bundle manifest
    before = snapshot(out)
    export = ["export", str(checkpoint), "--format", "onnx", "--out", str(out), "--no-verify"]
    for extra in ((), ("--overwrite",)):
        line = one_line_error(invoke([*export, *extra]))
        assert line.startswith(f"Error: {out / 'onnx'}: not empty and not a NeuroLite bundle")
        assert snapshot(out) == before
    fresh = tmp_path / "bundles"
    assert invoke(["export", str(checkpoint), "--format", "onnx", "--out", str(fresh), "--no-verify"]).exit_code == 0
    bundle = snapshot(fresh / "onnx")
    line = one_line_error(invoke(["export", str(checkpoint), "--format", "onnx", "--out", str(fresh)]))
    assert line == f"Error: {fresh / 'onnx'}: already holds a NeuroLite bundle; pass --overwrite to replace it"
    assert snapshot(fresh / "onnx") == bundle
    replaced = invoke(["export", str(checkpoint), "--format", "onnx", "--out", str(fresh), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((fresh / "onnx" / "manifest.json").read_text(encoding="utf-8"))["parity"]["verify"] is True


def test_export_all_checks_every_destination_first(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "tflite").mkdir(parents=True)
    (out / "tflite" / "keep.txt").write_text("x", encoding="utf-8")
    line = one_line_error(invoke(["export", str(checkpoint), "--format", "all", "--out", str(out), "--no-verify"]))
    assert f"{out / 'tflite'}: not empty and not a NeuroLite bundle" in line
    assert sorted(p.name for p in out.iterdir()) == ["tflite"]  # not one format exported before the refusal


def test_bench_and_quantize_report_refuse_foreign_directories(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "work"
    out.mkdir()
    (out / "thesis.tex").write_text("x", encoding="utf-8")
    line = one_line_error(invoke(["bench", str(checkpoint), "--out", str(out), "--quick", "--overwrite"]))
    assert line.startswith(f"Error: {out}: not empty and not a NeuroLite bench directory")
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "results.json").write_text("{}", encoding="utf-8")
    line = one_line_error(invoke(["bench", str(checkpoint), "--out", str(bench), "--quick"]))
    assert line == f"Error: {bench}: already holds a NeuroLite bench directory; pass --overwrite to replace it"
    (out / "onnx-none").mkdir()
    (out / "onnx-none" / "a.txt").write_text("x", encoding="utf-8")
    line = one_line_error(invoke(["quantize-report", str(checkpoint), "--formats", "onnx", "--schemes", "none",
                                  "--out", str(out), "--overwrite"]))
    assert line.startswith(f"Error: {out / 'onnx-none'}: not empty and not a NeuroLite bundle")
    assert sorted(p.name for p in out.iterdir()) == ["onnx-none", "thesis.tex"]


def test_the_library_refuses_too(checkpoint: Path, tmp_path: Path) -> None:
    from neurolite_sdk.training.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(checkpoint)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("1,2\n", encoding="utf-8")
    with pytest.raises(OutputError, match="not empty and not a NeuroLite checkpoint"):
        save_checkpoint(foreign, ckpt.model, ckpt.labels, overwrite=True)
    assert snapshot(foreign) == {"data.csv": b"1,2\n"}
    with pytest.raises(OutputError, match="already holds a NeuroLite checkpoint"):
        save_checkpoint(checkpoint, ckpt.model, ckpt.labels)
    check_output_dir(checkpoint, CHECKPOINT, overwrite=True)
    with pytest.raises(OutputError, match="not empty and not a NeuroLite bundle"):
        check_output_dir(checkpoint, BUNDLE, overwrite=True)  # a checkpoint is not a bundle


def test_a_directory_that_appears_during_the_work_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(OutputError, match="not empty and not a NeuroLite checkpoint"):
        with atomic_directory(target, CHECKPOINT, overwrite=True) as staging:
            (staging / "config.json").write_text("{}", encoding="utf-8")
            target.mkdir()  # someone else wrote here meanwhile
            (target / "theirs.txt").write_text("theirs", encoding="utf-8")
    assert snapshot(target) == {"theirs.txt": b"theirs"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# ------------------------------------------------------------------------------------------------ defect 4
def refused_before_work(tmp_path: Path, tiny_data: tuple[Path, Path], out: Path | str) -> str:
    """``train`` with a training file that does not exist: only a check that runs first can answer."""
    args = ["train", "--train", str(tmp_path / "missing.tsv"), "--eval", str(tiny_data[1]), "--out", str(out)]
    line = one_line_error(invoke(args))
    assert "missing.tsv" not in line
    return line


def test_out_that_is_a_file_or_under_a_file(tmp_path: Path, tiny_data: tuple[Path, Path],
                                            checkpoint: Path) -> None:
    file = tmp_path / "model.bin"
    file.write_bytes(b"precious")
    assert refused_before_work(tmp_path, tiny_data, file) == f"Error: {file}: exists and is not a directory"
    under = file / "deeper" / "ckpt"
    assert refused_before_work(tmp_path, tiny_data, under) == \
        f"Error: {under}: cannot be created: {file} is a file, not a directory"
    line = one_line_error(invoke(["export", str(checkpoint), "--format", "onnx", "--out", str(under), "--no-verify"]))
    assert line == f"Error: {under / 'onnx'}: cannot be created: {file} is a file, not a directory"
    line = one_line_error(invoke(["bench", str(checkpoint), "--out", str(under), "--quick"]))
    assert line == f"Error: {under}: cannot be created: {file} is a file, not a directory"
    for command in (["export", str(checkpoint), "--format", "onnx"], ["bench", str(checkpoint)]):
        usage = invoke([*command, "--out", str(file)])  # click's own check of --out (a directory) answers
        assert usage.exit_code == 2 and f"'{file}' is a file" in usage.output
    assert file.read_bytes() == b"precious"


def test_out_the_file_system_refuses(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    """Found by benchmarks/fuzz_parsers.py: a name over the file system's limit raised OSError (a traceback)."""
    long = tmp_path / ("n" * 300) / "ckpt"
    assert refused_before_work(tmp_path, tiny_data, long) == f"Error: {long}: File name too long"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert refused_before_work(tmp_path, tiny_data, loop / "ckpt").startswith(f"Error: {loop / 'ckpt'}: cannot be "
                                                                              f"resolved")


def test_os_errors_about_a_path_are_one_line(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    """A --train name over the file system's limit raised OSError (ENAMETOOLONG) from inside the reader."""
    long = tmp_path / ("n" * 300 + ".tsv")
    line = one_line_error(invoke(["train", "--train", str(long), "--eval", str(tiny_data[1]), "--out",
                                  str(tmp_path / "out")]))
    assert line == f"Error: {long}: File name too long"


def test_out_that_is_the_current_directory(tmp_path: Path, tiny_data: tuple[Path, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)  # empty apart from sub/: "not empty" would not be the reason
    monkeypatch.chdir(work / "sub")
    for out in (".", "..", str(work)):
        line = refused_before_work(tmp_path, tiny_data, out)
        assert line.startswith(f"Error: {out}: is the current directory or contains it; give a new directory")
    assert sorted(p.name for p in work.rglob("*")) == ["sub"]


def test_out_that_cannot_be_written(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    """A read-only parent, refused before any work. Root may write anywhere, so as root the command runs
    as the unprivileged user ``nobody`` (setpriv), in directories that user can read."""
    import os
    import shutil
    import stat
    import subprocess
    import sys

    work = Path(tempfile_dir())
    try:
        readonly = work / "readonly"
        readonly.mkdir()
        data = work / "dev.tsv"
        shutil.copyfile(tiny_data[1], data)
        for p in (work, data):
            p.chmod(p.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        readonly.chmod(0o555)
        command = [sys.executable, "-c", "from neurolite_sdk.cli import main; main()", "train", "--train",
                   str(work / "missing.tsv"), "--eval", str(data), "--out", str(readonly / "ckpt")]
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv: a read-only directory cannot be made")
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=work)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr  # (a warning of another module may come before the error line)
        assert result.stderr.strip().splitlines()[-1] == \
            f"Error: {readonly / 'ckpt'}: cannot write in {readonly} (Permission denied)"
        assert list(readonly.iterdir()) == []
    finally:
        (work / "readonly").chmod(0o755)
        shutil.rmtree(work)


def tempfile_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="neurolite-readonly-", dir="/tmp")


def test_leftovers_of_a_killed_save_are_cleaned_only_when_provably_ours(tmp_path: Path,
                                                                        tiny_data: tuple[Path, Path]) -> None:
    """A journal whose process is gone: its staging goes; a look-alike without a journal, a journal of a
    live process and another target's leftovers stay."""
    import os
    import subprocess
    import sys

    from neurolite_sdk.atomic import JOURNAL_FORMAT, _process_identity, recover_leftovers

    out = tmp_path / "ckpt"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = _process_identity(dead.pid)  # read while it runs: pid, start time, boot, host
    dead.wait()
    token = f"{dead.pid}-{'a' * 16}"
    (tmp_path / f".ckpt.{token}.partial").mkdir()
    (tmp_path / f".ckpt.{token}.partial" / "model.safetensors").write_bytes(b"half")
    (tmp_path / f".ckpt.{token}.journal").write_text(json.dumps({"format": JOURNAL_FORMAT, "target": "ckpt",
                                                                 **identity}), encoding="utf-8")
    alive = f"{os.getpid()}-{'b' * 16}"
    (tmp_path / f".ckpt.{alive}.partial").mkdir()
    (tmp_path / f".ckpt.{alive}.journal").write_text(json.dumps({"format": JOURNAL_FORMAT, "target": "ckpt",
                                                                 **_process_identity()}), encoding="utf-8")
    (tmp_path / f".ckpt.{dead.pid}-{'c' * 16}.partial").mkdir()  # no journal: not provably ours
    (tmp_path / f".other.{token}.partial").mkdir()
    assert invoke(train_args(tiny_data, out)).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        "ckpt", f".ckpt.{alive}.partial", f".ckpt.{alive}.journal", f".ckpt.{dead.pid}-{'c' * 16}.partial",
        f".other.{token}.partial"])
    assert recover_leftovers(out) == []


# ------------------------------------------------------------------------------------------------ defect 10
@pytest.mark.parametrize("umask", [0o002, 0o077])  # 0600 files fail both; 0o077 must not widen
def test_checkpoints_and_bundles_follow_the_umask(umask: int, tmp_path: Path, tiny_data: tuple[Path, Path],
                                                  checkpoint: Path) -> None:
    import os

    previous = os.umask(umask)
    try:
        assert invoke(train_args(tiny_data, tmp_path / "ckpt")).exit_code == 0
        exported = invoke(["export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "b"), "--no-verify"])
        assert exported.exit_code == 0, exported.output
    finally:
        os.umask(previous)
    for root in (tmp_path / "ckpt", tmp_path / "b"):
        for p in (root, *root.rglob("*")):
            expected = (0o777 if p.is_dir() else 0o666) & ~umask
            assert p.stat().st_mode & 0o777 == expected, (p, oct(p.stat().st_mode & 0o777), oct(expected))


# ------------------------------------------------------------------------------------------------ crash safety
SAVE_KILLER = r"""
import os, signal, sys
import torch
torch.set_num_threads(1)  # no thread pool in the parent: the children below are forked
from neurolite_sdk import atomic
from neurolite_sdk.training import checkpoint as ckpt_module

source, target = sys.argv[1], sys.argv[2]
loaded = ckpt_module.load_checkpoint(source)
with torch.no_grad():
    for p in loaded.model.parameters():
        p.add_(1.0)  # the new checkpoint differs from the one on disk in every weight


def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)


def then_die(function):
    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        die()
        return result
    return wrapped


def patch(point):
    if point == "writing":          # model.safetensors written, the other files not yet
        ckpt_module.save_file = then_die(ckpt_module.save_file)
    elif point == "before-swap":    # staging complete and flushed, nothing renamed yet
        atomic._publish = die
    elif point == "after-exchange": # swapped in one step; the old directory still under the staging name
        atomic._exchange = then_die(atomic._exchange)
    elif point == "between-renames":  # no exchange (another OS, file system): killed between the two renames
        atomic._exchange = lambda a, b: False
        rename = os.rename
        def rename_then_die(src, dst):
            rename(src, dst)
            if str(dst).endswith(".old"):
                die()
        atomic.os.rename = rename_then_die
    elif point == "after-publish":  # published, old one deleted, the journal not yet
        unlink = os.unlink
        def unlink_journal(path, *args, **kwargs):
            if str(path).endswith(".journal"):
                die()
            return unlink(path, *args, **kwargs)
        atomic.os.unlink = unlink_journal


for point in sys.argv[3:]:
    pid = os.fork()
    if pid == 0:
        patch(point)
        ckpt_module.save_checkpoint(target, loaded.model, loaded.labels, {"point": point}, overwrite=True)
        os._exit(0)  # not reached: the patch kills the child
    _, status = os.waitpid(pid, 0)
    print(point, os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, flush=True)
"""


def hidden_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_kill_during_the_checkpoint_save_keeps_the_previous_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    """SIGKILL at five points of ``save_checkpoint``: the target is always the old checkpoint or the complete
    new one, never missing or half-written; the next write removes the leftovers (and puts the old one back
    when the kill fell between two renames)."""
    import shutil
    import subprocess
    import sys

    from neurolite_sdk.atomic import recover_leftovers
    from neurolite_sdk.training.checkpoint import load_checkpoint

    expected_after = {"writing": "old", "before-swap": "old", "after-exchange": "new", "between-renames": "old",
                      "after-publish": "new"}
    targets = {}
    for point in expected_after:
        targets[point] = tmp_path / point / "ckpt"
        shutil.copytree(checkpoint, targets[point])
    old = snapshot(checkpoint)
    for point, target in targets.items():
        result = subprocess.run([sys.executable, "-c", SAVE_KILLER, str(checkpoint), str(target), point],
                                capture_output=True, text=True, timeout=300)
        assert result.stdout.split() == [point, "True"], result.stderr[-2000:]
        assert hidden_entries(target.parent), f"{point}: the kill left nothing to clean up; the test is not testing"
        if expected_after[point] == "old" and point != "between-renames":
            assert snapshot(target) == old, point  # untouched, even before any recovery
        if point == "between-renames":
            assert not target.exists()  # the one window without renameat2: recovery must put it back
        recover_leftovers(target)
        assert hidden_entries(target.parent) == [], point
        if expected_after[point] == "old":
            assert snapshot(target) == old, point
        else:
            assert json.loads((target / "training.json").read_text(encoding="utf-8")) == {"point": point}
            load_checkpoint(target)  # complete and loadable


def run_and_kill(command: list[str], marker: str, delay: float | None) -> tuple[int, float]:
    """Start ``command``; SIGKILL it ``delay`` seconds after it prints a line with ``marker`` (never, with
    None). Returns the exit status and the seconds from the marker to the exit."""
    import os
    import signal
    import subprocess
    import time

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            break
    else:
        raise AssertionError(f"{marker!r} never printed: {''.join(seen)[-2000:]}")
    marked = time.perf_counter()
    if delay is not None:
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    output = process.communicate(timeout=300)[0]
    assert delay is not None or process.returncode == 0, output[-2000:]
    return process.returncode, time.perf_counter() - marked


def check_killed_runs(out: Path, command: Callable[[int], list[str]], marker: str, kills: int, seed: int,
                      complete: Callable[[Path, int], bool]) -> int:
    """One clean run (it times the window after ``marker``), then ``kills`` runs killed at seeded random
    moments of that window. After each, the directory ``out`` is the previous one, byte for byte, or the
    complete new one (``complete``); the killed run's leftovers sit beside it, hidden, until the next run.
    Returns how many kills landed after the swap."""
    import random

    _, window = run_and_kill(command(0), marker, None)
    assert complete(out, 0)
    rng = random.Random(seed)
    replaced = 0
    for run in range(1, kills + 1):
        before = snapshot(out)
        returncode, _ = run_and_kill(command(run), marker, rng.uniform(0.0, window))
        if snapshot(out) == before:
            assert returncode == -9
        else:  # the kill came after the swap: the new directory, complete
            assert complete(out, run), f"run {run}: {out} changed but is not the complete new one"
            replaced += 1
    return replaced


def test_kill_9_during_train_and_export(checkpoint: Path, tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    """``neurolite train --overwrite`` (2 kills) and ``neurolite export --overwrite`` (2 kills) killed at seeded
    random moments after they start work: the previous checkpoint or bundle is intact or completely replaced,
    and the next run works and leaves no hidden leftovers."""
    import shutil
    import sys

    from neurolite_sdk.runtime import load
    from neurolite_sdk.training.checkpoint import load_checkpoint

    neurolite = [sys.executable, "-c", "from neurolite_sdk.cli import main; main()"]
    out = tmp_path / "train" / "ckpt"
    out.parent.mkdir()
    shutil.copytree(checkpoint, out)

    def trained(path: Path, run: int) -> bool:
        load_checkpoint(path)
        return json.loads((path / "training.json").read_text(encoding="utf-8"))["settings"]["seed"] == 100 + run

    check_killed_runs(out, lambda run: [*neurolite, *train_args(tiny_data, out, "--seed", str(100 + run),
                                                                "--overwrite")], "model:", 2, 14, trained)
    result = invoke(train_args(tiny_data, out, "--seed", "108", "--overwrite"))
    assert result.exit_code == 0, result.output
    assert trained(out, 8) and hidden_entries(out.parent) == []

    bundles = tmp_path / "bundles"
    ckpts = {run: tmp_path / f"ckpt-{run}" for run in range(3)}  # a different checkpoint per run: visible
    for run, path in ckpts.items():
        assert invoke(train_args(tiny_data, path, "--seed", str(200 + run))).exit_code == 0

    def exported(path: Path, run: int) -> bool:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        load(path)  # complete: the runtime's own checks pass
        return manifest["export"]["checkpoint"] == str(ckpts[run])

    check_killed_runs(bundles / "onnx", lambda run: [*neurolite, "export", str(ckpts[run]), "--format", "onnx",
                                                     "--out", str(bundles), "--no-verify", "--overwrite"],
                      "exporting onnx", 2, 15, exported)
    result = invoke(["export", str(ckpts[0]), "--format", "onnx", "--out", str(bundles), "--no-verify", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert exported(bundles / "onnx", 0) and hidden_entries(bundles) == []


# ------------------------------------------------------------------------------------------------ defect 7
# Characters str.splitlines breaks at, though they are ordinary characters inside a line of text (and valid
# unescaped inside a JSON string): a lone carriage return, vertical tab, form feed, the information
# separators, NEL, and the Unicode line and paragraph separators.
INLINE_BREAKS = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def test_file_inputs_split_at_newline_only(checkpoint: Path, tmp_path: Path) -> None:
    texts = [f"a{ch}witty movie" for ch in INLINE_BREAKS[:5]] + [f"dull{ch} plot" for ch in INLINE_BREAKS[5:]]
    lines = tmp_path / "texts.txt"
    # CRLF endings, a blank and a whitespace-only line (skipped), no newline at the end.
    lines.write_bytes(("\ufeff" + "\r\n".join(texts[:3]) + "\r\n\r\n   \n" + "\n".join(texts[3:])).encode("utf-8"))
    result = invoke(["predict", str(checkpoint), "--file", str(lines), "--json"])
    assert result.exit_code == 0, result.output
    assert [row["text"] for row in json.loads(result.output)] == texts


def test_data_readers_split_at_newline_only(tmp_path: Path) -> None:
    from neurolite_sdk.training.data import load_dataset

    texts = [f"text{ch}{i}" for i, ch in enumerate(INLINE_BREAKS)]
    labels = ["pos" if i % 2 else "neg" for i in range(len(texts))]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t, "label": lb}, ensure_ascii=False)
                               for t, lb in zip(texts, labels, strict=True)) + "\n\n", encoding="utf-8")
    raw = tmp_path / "raw.jsonl"  # U+2028 and friends unescaped inside a JSON string: valid JSON Lines
    raw.write_text('{"text": "a\u2028b\u0085c", "label": "x"}\r\n\n{"text": "d", "label": "y"}', encoding="utf-8")
    tsv = tmp_path / "d.tsv"
    tsv.write_text("sentence\tlabel\r\n" + "".join(f"{t}\t{lb}\r\n" for t, lb in zip(texts, labels, strict=True)),
                   encoding="utf-8", newline="")
    snips = tmp_path / "snips"
    snips.mkdir()
    (snips / "seq.in").write_text("\n".join(texts) + "\n", encoding="utf-8", newline="")
    (snips / "label").write_text("\n".join(labels) + "\n", encoding="utf-8", newline="")
    for path in (jsonl, tsv, snips):
        data = load_dataset(path)
        # The texts keep their inner characters (stripped at the ends only, like every text).
        assert (data.texts, data.labels) == ([t.strip() for t in texts], labels), path
    assert (load_dataset(raw).texts, load_dataset(raw).lines) == (["a\u2028b\u0085c", "d"], [1, 3])


def test_long_fields_are_read(tmp_path: Path) -> None:
    """Python's csv module stops at 131,072 characters a field unless told otherwise."""
    from neurolite_sdk.training.data import load_dataset

    long = "word " * 60_000  # 300,000 characters
    for name, sep, head in (("long.tsv", "\t", "sentence\tlabel"), ("long.csv", ",", "text,label")):
        path = tmp_path / name
        path.write_text(f"{head}\n{long}{sep}1\nshort{sep}0\n", encoding="utf-8")
        assert [len(t) for t in load_dataset(path).texts] == [len(long.strip()), 5]
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(f'text,label\n"{long}, with a comma\nand a line break",1\n', encoding="utf-8")
    assert load_dataset(quoted).texts[0].endswith("a comma\nand a line break")


def test_jsonl_values_must_be_text(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    from neurolite_sdk.training.data import DataError, load_dataset

    cases = {'{"text": null, "label": "a"}': "field 'text' must be a string, got null",
             '{"text": 12345, "label": "a"}': "field 'text' must be a string, got the number 12345",
             '{"text": ["x"], "label": "a"}': "field 'text' must be a string, got an array",
             '{"text": "x", "label": null}': "field 'label' must be a string or an integer, got null",
             '{"text": "x", "label": 1.5}': "field 'label' must be a string or an integer, got the number 1.5",
             '{"text": "x", "label": true}': "field 'label' must be a string or an integer, got true (a boolean)",
             '{"text": "x", "label": ' + "9" * 5000 + "}": "invalid JSON (ValueError: Exceeds the limit"}
    for record, message in cases.items():
        path = tmp_path / "d.jsonl"
        path.write_text('{"text": "fine", "label": "a"}\n' + record + "\n", encoding="utf-8")
        with pytest.raises(DataError) as caught:
            load_dataset(path)
        assert str(caught.value).startswith(f"{path}: line 2: {message}"), str(caught.value)
    path = tmp_path / "ints.jsonl"
    path.write_text('{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n', encoding="utf-8")
    assert load_dataset(path).labels == ["1", "0"]
    line = one_line_error(invoke(["train", "--train", str(tmp_path / "d.jsonl"), "--eval", str(tiny_data[1]),
                                  "--out", str(tmp_path / "never")]))
    assert line.startswith(f"Error: {tmp_path / 'd.jsonl'}: line 2: invalid JSON")
    assert not (tmp_path / "never").exists()


# ------------------------------------------------------------------------------------------------ defect 8
def strict_json(text: str) -> object:
    """JSON as the standard defines it: NaN and Infinity (which Python's json accepts) are refused."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(("setting", "message"), [
    ("layer_norm_eps=NaN", "layer_norm_eps: must be a finite number, got nan"),
    ("layer_norm_eps=Infinity", "layer_norm_eps: must be a finite number, got inf"),
    ("dropout=-Infinity", "dropout: must be a finite number, got -inf"),
    ("bayesian_network_structure=5", "bayesian_network_structure: must be a list of [parent, child] pairs, got 5"),
    ("bayesian_network_structure=[[0,1],5]", "bayesian_network_structure[1]: must be a [parent, child] pair"),
    ("num_buckets=1000000000", "config: the model would hold about 128,"),
    ("hidden_size=100000000", "config: the model would hold about"),
    ("max_length=2000000000", "max_length: must be <= 16,384, got 2,000,000,000"),
    ("use_symbolic_module=yes", "use_symbolic_module: must be true or false, got 'yes'"),
    ("num_hashes=true", "num_hashes: must be an integer, got True"),
    ("featurizer_seed=1.5", "featurizer_seed: must be an integer, got 1.5"),
    ("featurizer_seed=-1", "featurizer_seed: must be >= 0, got -1"),
    ("symbolic_predicates=\"intent\"", "symbolic_predicates: must be a list of strings, got 'intent'"),
])
def test_config_values_are_checked_before_any_work(setting: str, message: str, tmp_path: Path,
                                                   tiny_data: tuple[Path, Path]) -> None:
    line = one_line_error(invoke(["train", "--train", str(tmp_path / "missing.tsv"), "--eval", str(tiny_data[1]),
                                  "--out", str(tmp_path / "out"), "--set", setting]))
    assert line.startswith(f"Error: {message}"), line
    assert not (tmp_path / "out").exists()


def test_config_file_values_are_checked(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"layer_norm_eps": NaN}', encoding="utf-8")  # Python's json reads NaN; the check refuses it
    line = one_line_error(invoke(["train", "--train", str(tiny_data[0]), "--eval", str(tiny_data[1]), "--out",
                                  str(tmp_path / "out"), "--config", str(config)]))
    assert line == f"Error: {config}: layer_norm_eps: must be a finite number, got nan"


@pytest.mark.parametrize("option", ["--lr", "--weight-decay", "--token-dropout"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_float_options_must_be_finite(option: str, value: str, tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    result = invoke([*train_args(tiny_data, tmp_path / "out"), option, value])
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, result.output
    assert f"'{value}' is not a finite number" in result.output or "is not in the range" in result.output


def test_non_finite_weights_are_never_saved_or_served(checkpoint: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from neurolite_sdk.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(checkpoint)
    with torch.no_grad():
        ckpt.model.head[-1].bias[0] = float("nan")
    with pytest.raises(CheckpointError, match=r"not written: weight 'head\.5\.bias' holds NaN or Infinity"):
        save_checkpoint(tmp_path / "diverged", ckpt.model, ckpt.labels)
    assert not (tmp_path / "diverged").exists() and list(tmp_path.iterdir()) == []
    damaged = tmp_path / "damaged"
    import shutil

    shutil.copytree(checkpoint, damaged)
    state = load_file(damaged / "model.safetensors")
    state["head.5.bias"][0] = float("inf")
    save_file(state, damaged / "model.safetensors", metadata={"format": "pt"})
    for command in (["predict", str(damaged), "good", "--json"], ["export", str(damaged), "--format", "onnx",
                                                                   "--out", str(tmp_path / "b"), "--no-verify"]):
        line = one_line_error(invoke(command))
        assert line == f"Error: {damaged / 'model.safetensors'}: weight 'head.5.bias' holds NaN or Infinity; the " \
                       "model cannot give meaningful scores (retrain it)"


def test_every_json_output_is_strict_json(checkpoint: Path, tiny_data: tuple[Path, Path]) -> None:
    root = Path(__file__).resolve().parents[1]
    commands = [["predict", str(checkpoint), "good", "", "   ", "--json"],
                ["eval", str(checkpoint), "--data", str(tiny_data[1]), "--json"],
                ["info", str(checkpoint), "--json"],
                ["reason", str(root / "examples" / "rules" / "snips_followups.json"), "--facts",
                 "intent(u1, GetWeather)", "--json"],
                ["infer", str(root / "examples" / "networks" / "asia.json"), "--evidence", "smoke=yes", "--json"]]
    for command in commands:
        result = invoke(command)
        assert result.exit_code == 0, (command, result.output)
        strict_json(result.output)


# ------------------------------------------------------------------------------------------------ defect 11
@pytest.fixture(scope="module")
def bundle(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reliability-bundle")
    result = invoke(["export", str(checkpoint), "--format", "onnx", "--out", str(out), "--no-verify"])
    assert result.exit_code == 0, result.output
    return out / "onnx"


def test_empty_texts_are_flagged(checkpoint: Path, bundle: Path) -> None:
    texts = ["", "   \t ", "a gorgeous , witty movie"]
    for command in (["predict", str(checkpoint)], ["run", str(bundle)]):
        result = invoke([*command, *texts, "--json"])
        assert result.exit_code == 0, result.output
        rows = strict_json(result.output)
        assert [row["empty"] for row in rows] == [True, True, False], command
        plain = invoke([*command, *texts])
        assert plain.exit_code == 0 and plain.output.count("(empty: no tokens, the label means nothing)") == 2


def test_text_output_escapes_controls_bidi_and_markup(checkpoint: Path, bundle: Path, tmp_path: Path) -> None:
    hostile = "ok \x1b[31mred\u202eevil [bold]x[/bold] [/nope]"
    for command in (["predict", str(checkpoint), hostile], ["run", str(bundle), hostile]):
        result = invoke(command)
        assert result.exit_code == 0, result.output  # "[/nope]" used to be a rich MarkupError
        assert "\x1b" not in result.output and "\u202e" not in result.output
        assert "\\x1b[31mred\\u202eevil [bold]x[/bold] [/nope]" in result.output
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"premises": ["said(?u, ?x)"], "conclusion": "echo(?u, ?x)"}]}),
                     encoding="utf-8")
    fact = 'said(u1, "\u202e\x1b[2Jgone\x07")'
    result = invoke(["reason", str(rules), "--facts", fact])
    assert result.exit_code == 0, result.output
    assert not any(ch in result.output for ch in "\u202e\x1b\x07")
    assert '"\\u202e\\x1b[2Jgone\\x07"' in result.output
    strict = strict_json(invoke(["reason", str(rules), "--facts", fact, "--json"]).output)
    assert strict["derived"][0]["fact"] == 'echo(u1, "\u202e\x1b[2Jgone\x07")'  # JSON keeps the exact text


def chain_rules(tmp_path: Path, length: int) -> Path:
    rules = tmp_path / "chain.json"
    rules.write_text(json.dumps({"facts": [f"edge(n{i}, n{i + 1})" for i in range(length)],
                                 "rules": [{"premises": ["edge(?a, ?b)"], "conclusion": "path(?a, ?b)"},
                                           {"premises": ["path(?a, ?b)", "edge(?b, ?c)"],
                                            "conclusion": "path(?a, ?c)"}]}), encoding="utf-8")
    return rules


def test_reason_max_iterations(tmp_path: Path) -> None:
    rules = chain_rules(tmp_path, 12)  # the closure of a 12-edge chain: paths of length k in round k, then one more
    line = one_line_error(invoke(["reason", str(rules), "--max-iterations", "5"]))
    assert line.startswith(f"Error: {rules}: no fixpoint after max_iterations=5 rounds")
    assert line.endswith("(--max-iterations, --max-derived-facts)")
    result = invoke(["reason", str(rules), "--max-iterations", "13", "--json"])
    assert result.exit_code == 0, result.output
    assert len(strict_json(result.output)["derived"]) == 12 * 13 // 2
    line = one_line_error(invoke(["reason", str(rules), "--max-derived-facts", "20"]))
    assert "more than max_derived_facts=20 facts derived" in line
    assert invoke(["reason", str(rules), "--max-iterations", "0"]).exit_code == 2


def test_reason_warns_about_undefined_predicates(tmp_path: Path) -> None:
    rules = tmp_path / "typo.json"
    rules.write_text(json.dumps({"facts": ["user(u1)"], "rules": [
        {"premises": ["user(?u)", "intnet(?u, ?i)"], "conclusion": "known(?u, ?i)"},
        {"premises": ["user(?u)", "NOT intnet(?u, GetWeather)", "NOT banned(?u)"], "conclusion": "ok(?u)"}]}),
        encoding="utf-8")
    result = CliRunner().invoke(main, ["reason", str(rules), "--facts", "intent(u1, GetWeather)"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: {rules}: predicate 'intnet' (rules[0], rules[1]) is defined by no fact, rule or model template: "
        "a premise on it never holds (NOT on it always holds)",
        f"warning: {rules}: predicate 'banned' (rules[1]) is defined by no fact, rule or model template: "
        "a premise on it never holds (NOT on it always holds)"]
    given = CliRunner().invoke(main, ["reason", str(rules), "--facts", "intnet(u1, X)", "--facts", "banned(u2)"])
    assert given.exit_code == 0 and given.stderr == ""  # defined by the transient facts: no warning
    shipped = Path(__file__).resolve().parents[1] / "examples" / "rules" / "snips_followups.json"
    quiet = CliRunner().invoke(main, ["reason", str(shipped), "--facts", "intent(u1, GetWeather)"])
    assert quiet.exit_code == 0 and quiet.stderr == ""  # its model section defines what the rules read


# ------------------------------------------------------------------------------------------------ fuzz finds
def test_json_python_cannot_read_is_one_line(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    """Found by benchmarks/fuzz_parsers.py: json.loads raises ValueError for a number of over 4,300 digits and
    RecursionError for deep nesting, neither a JSONDecodeError; a --config file that is not UTF-8 or not an
    object failed with a traceback too."""
    start = ["train", "--train", str(tiny_data[0]), "--eval", str(tiny_data[1]), "--out", str(tmp_path / "out")]
    line = one_line_error(invoke([*start, "--set", "hidden_size=" + "9" * 5000]))
    assert line.startswith("Error: --set hidden_size: invalid JSON: Exceeds the limit (4300 digits)")
    config = tmp_path / "config.json"
    for content, message in ((b"\xff\xfe{}", "not valid UTF-8"), (b"[1, 2]", "expected a JSON object of config "
                                                                             "fields, got list"),
                             (b"[" * 100_000, "invalid JSON: nested too deeply to read")):
        config.write_bytes(content)
        assert one_line_error(invoke([*start, "--config", str(config)])).startswith(f"Error: {config}: {message}")
    rules = tmp_path / "rules.json"
    rules.write_text('{"facts": [' * 50_000, encoding="utf-8")
    assert one_line_error(invoke(["reason", str(rules)])) == f"Error: {rules}: invalid JSON: nested too deeply to read"
    assert not (tmp_path / "out").exists()
