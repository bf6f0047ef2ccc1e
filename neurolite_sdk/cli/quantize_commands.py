"""``neurolite quantize-report``: sizes, accuracy, agreement, SQNR and latency per format and scheme."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

from neurolite_sdk.atomic import BUNDLE, check_output_dir
from neurolite_sdk.cli.common import configure_threads, console, echo_json, user_errors
from neurolite_sdk.cli.options import CommaList, joined
from neurolite_sdk.cli.policy_options import policy_options, quant_policy
from neurolite_sdk.runtime.backends import backend_formats

if TYPE_CHECKING:
    from neurolite_sdk.benchmarks.quantize_report import ReportRow

# exporters.quantize.QUANTIZE_CHOICES, spelled out so that the CLI starts without importing torch
# (tests/test_quant_export.py checks the two agree).
SCHEMES = ("none", "int8", "palette8", "orbital8")
COLUMNS = ("format", "scheme", "bytes", "vs fp32", "accuracy", "fp32 top-1", "SQNR dB", "int8 ref dB", "load ms",
           "latency ms", "parity / status")


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--format", "formats", multiple=True, type=CommaList(backend_formats(), allow_all=True),
              help="Formats to measure, comma-separated or repeated (default: all).")
@click.option("--formats", "old_formats", multiple=True, type=CommaList(backend_formats()), hidden=True)
@click.option("--quantize", "schemes", multiple=True, type=CommaList(SCHEMES),
              help="Schemes to measure, comma-separated or repeated (default: all); fp32 (none) is always measured, "
                   "as the baseline.")
@click.option("--schemes", "old_schemes", multiple=True, type=CommaList(SCHEMES), hidden=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Keep the bundles in OUT/<format>-<scheme>/ (default: a temporary directory, removed).")
@click.option("--overwrite", is_flag=True,
              help="Replace existing bundles at OUT/<format>-<scheme>/ (a directory of anything else is never "
                   "replaced).")
@click.option("--eval", "eval_path", type=click.Path(path_type=Path),
              help="Labelled data for the accuracy column (default: the checkpoint's eval data).")
@click.option("--text-col", default=None, help="Text column of the eval data (default: the one training used).")
@click.option("--label-col", default=None, help="Label column of the eval data (default: the one training used).")
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="Threads for every runtime and PyTorch (default: every core this process may use).")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(min=1),
              help="Batch-1 calls timed per bundle (single eval texts); the median is reported.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@policy_options
def quantize_report_command(checkpoint: Path, formats: tuple[str, ...], schemes: tuple[str, ...],
                            out_dir: Path | None, eval_path: Path | None, threads: int | None, runs: int,
                            as_json: bool, overwrite: bool, text_col: str | None = None,
                            label_col: str | None = None, old_formats: tuple[tuple[str, ...], ...] = (),
                            old_schemes: tuple[tuple[str, ...], ...] = (), keep_float: tuple[str, ...] = (),
                            min_elements: int | None = None) -> None:
    """Export CHECKPOINT under each quantization scheme to each format and measure every file."""
    formats, schemes = joined(formats, old_formats), joined(schemes, old_schemes)
    with user_errors():
        chosen_formats = list(formats) or backend_formats()
        chosen_schemes = list(dict.fromkeys(schemes)) or list(SCHEMES)
        if out_dir is not None:  # every destination before any work ("none" is always exported: the baseline)
            for fmt in chosen_formats:
                for scheme in dict.fromkeys(["none", *chosen_schemes]):
                    check_output_dir(out_dir / f"{fmt}-{scheme}", BUNDLE, overwrite=overwrite)
        count = configure_threads(threads)
        import numpy as np

        from neurolite_sdk.benchmarks.quantize_report import EvalSet, quantize_report, summary
        from neurolite_sdk.errors import NeuroLiteError
        from neurolite_sdk.exporters import parity_texts
        from neurolite_sdk.training.checkpoint import load_checkpoint
        from neurolite_sdk.training.data import encode_labels, load_like_training

        ckpt = load_checkpoint(checkpoint)
        policy = quant_policy(ckpt, checkpoint, keep_float, min_elements)
        source = eval_path or ckpt.training.get("eval_path")
        if not source:
            raise NeuroLiteError(f"{checkpoint}: training.json names no eval data; pass --eval FILE")
        data = load_like_training(ckpt.training, eval_path, text_col, label_col)
        eval_set = EvalSet(list(data.texts), np.asarray(encode_labels(data, ckpt.labels)), str(source))
        progress = (lambda message: None) if as_json else console.print
        with tempfile.TemporaryDirectory(prefix="neurolite-quantize-report-") as scratch:
            rows = quantize_report(ckpt, chosen_formats, chosen_schemes, out_dir or Path(scratch), eval_set,
                                   parity_texts(ckpt), threads=count, runs=runs, progress=progress,
                                   overwrite=overwrite, policy=policy)
    header = {"checkpoint": str(checkpoint), "eval": eval_set.source, "eval_rows": len(eval_set.texts),
              "threads": count, "runs": runs, "batch": 1}
    failed = [f"{row.format}/{row.scheme}" for row in rows if row.status == "failed"]
    if as_json:
        echo_json({**header, "rows": [row.to_dict() for row in rows], "summary": summary(rows)})
    else:
        _print_table(rows, header)
    if failed:
        raise click.ClickException(f"{len(failed)} export(s) failed: {', '.join(failed)}")


def _print_table(rows: list[ReportRow], header: dict[str, Any]) -> None:
    table = Table(title=f"{header['checkpoint']}: accuracy on {header['eval']} ({header['eval_rows']} rows); "
                        f"latency: median of {header['runs']} batch-1 calls, {header['threads']} thread(s), "
                        f"featurizer excluded")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("format", "scheme", "parity / status") else "right")
    for row in rows:
        status = row.parity if row.status == "ok" else f"{row.status}: {row.reason}"
        if row.status == "skipped":
            status = f"{row.parity}; predictions skipped: {row.reason}"
        table.add_row(row.format, row.scheme, _cell(row.bytes, "{:,}"), _cell(row.ratio_to_fp32, "{:.3f}"),
                      _cell(row.accuracy, "{:.2%}"), _cell(row.fp32_top1_agreement, "{:.2%}"),
                      _cell(row.sqnr_db, "{:.2f}"), _cell(row.int8_sqnr_db, "{:.2f}"), _cell(row.load_ms, "{:.0f}"),
                      _cell(row.latency_ms, "{:.3f}"), escape(status or ""))
    console.print(table)


def _cell(value: float | int | None, spec: str) -> str:
    return "-" if value is None else spec.format(value)
