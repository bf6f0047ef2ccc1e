"""``neurolite bench`` (measure a checkpoint or bundle against transformer baselines) and ``neurolite report``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from neurolite_sdk.atomic import BENCH_DIRECTORY, check_output_dir, check_output_location
from neurolite_sdk.cli.common import console, echo_json, user_errors
from neurolite_sdk.cli.options import CommaList, joined
from neurolite_sdk.cli.quantize_commands import SCHEMES
from neurolite_sdk.runtime.backends import backend_formats

BASELINE_NAMES = ("bert-base", "distilbert", "mobilebert")


def _csv(choices: tuple[str, ...]) -> click.ParamType:
    class CommaSeparated(click.ParamType):
        name = ",".join(choices)

        def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
            if isinstance(value, tuple):
                return value
            items = tuple(v.strip() for v in str(value).split(",") if v.strip())
            unknown = [v for v in items if v not in choices]
            if unknown:
                self.fail(f"{', '.join(unknown)}: not one of {', '.join(choices)}", param, ctx)
            return items

    return CommaSeparated()


@click.command()
@click.argument("source", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Directory for results.json, the exported bundles and the baseline models (reused).")
@click.option("--from-device", "from_device", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A results JSON written by the Android or iOS benchmark (docs/mobile.md): checked against the "
                   "results schema and kept in OUT/devices/, so that `neurolite report OUT` shows its rows beside "
                   "the host's. Repeatable; works with or without SOURCE.")
@click.option("--overwrite", is_flag=True,
              help="Reuse an existing bench directory at --out, replacing its results (its baseline models are "
                   "reused); a directory of anything else is never written into.")
@click.option("--threads", default=2, show_default=True, type=click.IntRange(min=1),
              help="Threads for every runtime and the GEMM peak (fixed, recorded).")
@click.option("--length", default=256, show_default=True, type=click.IntRange(min=2),
              help="Sequence length of the comparison with the baselines.")
@click.option("--format", "formats", multiple=True, type=CommaList(backend_formats(), allow_all=True),
              help="Formats, comma-separated or repeated (default: every exporter).")
@click.option("--quantize", multiple=True, type=CommaList(SCHEMES),
              help="Quantizations of the checkpoint rows, comma-separated or repeated (default: none); a format "
                   "that cannot hold one gives a skipped row with the exporter's reason.")
@click.option("--baselines", default=",".join(BASELINE_NAMES), show_default=True, type=_csv(BASELINE_NAMES),
              help="Comma-separated transformer baselines (random weights, no download).")
@click.option("--teacher/--no-teacher", "teacher", default=True, show_default=True,
              help="A row for the transformer teacher the checkpoint was distilled from (--teacher minilm): its "
                   "fine-tuned weights exported to ONNX, measured and scored on the same eval data.")
@click.option("--runs", default=50, show_default=True, type=click.IntRange(min=5), help="Timed runs per case.")
@click.option("--eval", "eval_path", type=click.Path(path_type=Path),
              help="Texts and labels for accuracy and the benchmark texts (default: the checkpoint's eval data): a "
                   "file, a SNIPS folder, hf:REPO:SPLIT or a save_to_disk folder.")
@click.option("--text-col", default=None, help="Text column of the eval data (default: the one training used).")
@click.option("--label-col", default=None, help="Label column of the eval data (default: the one training used).")
@click.option("--json", "as_json", is_flag=True, help="Print the results document (results.json) as JSON.")
@click.option("--quick", is_flag=True,
              help="About a minute: ONNX only, the checkpoint's length, DistilBERT only, short scaling.")
def bench_command(source: Path | None, out_dir: Path, threads: int, length: int, formats: tuple[tuple[str, ...], ...],
                  quantize: tuple[tuple[str, ...], ...], baselines: tuple[str, ...], runs: int, eval_path: Path | None,
                  quick: bool, overwrite: bool, from_device: tuple[Path, ...], text_col: str | None = None,
                  label_col: str | None = None, as_json: bool = False, teacher: bool = True) -> None:
    """Measure SOURCE (a checkpoint or a bundle) and transformer baselines; writes OUT/results.json.

    With --from-device, also (or only) import results measured on phones into OUT/devices/.
    """
    if source is None and not from_device:
        raise click.UsageError("give SOURCE (a checkpoint or bundle to measure here), --from-device FILE, or both")
    with user_errors():
        from neurolite_sdk.benchmarks.device import import_device_results, read_device_results

        for path in from_device:  # a bad file fails now, not after a long host run
            read_device_results(path)
        if source is None:
            # Adding device files replaces nothing: an empty directory or a bench directory is fine.
            check_output_dir(out_dir, BENCH_DIRECTORY, overwrite=True)
            _import_devices(import_device_results(list(from_device), out_dir, overwrite=overwrite), out_dir)
            return
        check_output_dir(out_dir, BENCH_DIRECTORY, overwrite=overwrite)
        from neurolite_sdk.benchmarks.suite import Suite, SuiteOptions, write_results

        command = "neurolite " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        quantizations = joined(quantize) or ("none",)
        options = SuiteOptions(source=source, out=out_dir, threads=threads, length=length, quantize=quantizations,
                               baselines=baselines, runs=runs, eval_path=eval_path, command=command,
                               text_col=text_col, label_col=label_col, teacher=teacher,
                               formats=list(joined(formats)) or None)
        if quick:
            options.quicken()
            options.length = _checkpoint_length(source)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=False, disable=as_json) as progress:
            task = progress.add_task("planning", total=None)

            def advance(description: str, done: int, total: int) -> None:
                progress.update(task, description=escape(description), completed=done, total=total)

            suite = Suite(options, advance)
            results = suite.run()
        path = write_results(results, out_dir)
        imported = import_device_results(list(from_device), out_dir, overwrite=overwrite) if from_device else []
    if as_json:
        echo_json({**results, "results_path": str(path),
                   "devices": [str(device_path) for device_path, _ in imported]})
        return
    skipped = [r for r in results["rows"] if r["status"] != "ok"]
    for row in skipped:
        console.print(f"{row['status']}: {escape(row['id'])}: {escape(str(row['reason']))}")
    console.print(f"{len(results['rows']) - len(skipped)} of {len(results['rows'])} cases measured in "
                  f"{results['wall_s']:.0f} s; results in {path}; next: neurolite report {out_dir}")
    if imported:
        _import_devices(imported, out_dir)


def _import_devices(imported: list[tuple[Path, dict]], out_dir: Path) -> None:
    for path, document in imported:
        rows = document["rows"]
        counts = ", ".join(f"{sum(r['status'] == s for r in rows)} {s}" for s in ("ok", "skipped", "failed"))
        console.print(f"device {escape(document['device']['name'])}: {len(rows)} rows ({counts}) -> {path}")
    console.print(f"next: neurolite report {out_dir}")


def _checkpoint_length(source: Path) -> int:
    """The model's own ``max_length`` (quick mode compares there, so no second export is needed)."""
    import json

    for name in ("config.json", "manifest.json"):
        if (source / name).is_file():
            document = json.loads((source / name).read_text(encoding="utf-8"))
            return int(document.get("config", document)["max_length"])
    return 256


@click.command()
@click.argument("results", type=click.Path(exists=True, path_type=Path))
@click.option("--compare", "compare", type=click.Path(exists=True, path_type=Path),
              help="An earlier results.json (or its directory) to compare medians with.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where report.md and scaling.png go (default: beside the results).")
@click.option("--json", "as_json", is_flag=True, help="Print the paths written as JSON.")
def report_command(results: Path, compare: Path | None, out_dir: Path | None, as_json: bool = False) -> None:
    """Write report.md and scaling.png from RESULTS (a results.json or the bench --out directory)."""
    with user_errors():
        if out_dir is not None:
            check_output_location(out_dir, into=True)
        from neurolite_sdk.benchmarks.report import write_report

        report, plot = write_report(results, compare=compare, out_dir=out_dir)
    if as_json:
        echo_json({"report": str(report), "plot": str(plot) if plot else None})
        return
    console.print(f"wrote {report}" + (f" and {plot}" if plot else ""))
