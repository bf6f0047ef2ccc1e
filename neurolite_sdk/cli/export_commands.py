"""``neurolite export``: checkpoint -> verified phone bundles (``neurolite run`` is in ``run_commands.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from neurolite_sdk.atomic import BUNDLE, check_output_dir
from neurolite_sdk.cli.common import console, read_lines, user_errors
from neurolite_sdk.cli.options import CommaList, joined
from neurolite_sdk.cli.policy_options import policy_options, quant_policy
from neurolite_sdk.cli.quantize_commands import SCHEMES
from neurolite_sdk.cli.run_commands import print_prediction, run_command  # noqa: F401 (their earlier home)
from neurolite_sdk.runtime.backends import backend_formats

if TYPE_CHECKING:
    from neurolite_sdk.training.checkpoint import Checkpoint

ALL = "all"


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, multiple=True, type=CommaList(backend_formats(), allow_all=True),
              help="Formats to export, comma-separated or repeated, or all (each to OUT/<format>/).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Directory that receives one bundle directory per format.")
@click.option("--overwrite", is_flag=True,
              help="Replace existing bundles at OUT/<format>/ (a directory of anything else is never replaced).")
@click.option("--texts", "texts_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Parity texts, one per line (at least 64); default: the checkpoint's eval data (128).")
@click.option("--text-col", default=None,
              help="Text column of the checkpoint's eval data, for the parity texts (default: the one training used).")
@click.option("--items", "items_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Multimodal checkpoints: parity items, a JSON Lines file (one object of modalities per line, "
                   "docs/multimodal.md; at least 64); default: 128 generated items covering every subset of "
                   "the modalities.")
@click.option("--json", "as_json", is_flag=True, help="Print the bundles written (and any failures) as JSON.")
@click.option("--no-verify", is_flag=True, help="Skip the parity check (recorded in the manifest).")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default="fp32", show_default=True,
              help="Compute precision; fp16 only for coreml.")
@click.option("--allow-portable", "allow_portable", multiple=True, metavar="OP",
              help="ExecuTorch: an op allowed on portable kernels (repeatable; replaces the default list).")
@click.option("--quantize", type=click.Choice(SCHEMES), default="none", show_default=True,
              help="Weights: float, the format's native int8 recipe, Core ML's 8-bit palettization, or the "
                   "Orbital 8-bit codec (docs/orbital8.md). A format that cannot hold it fails, saying why.")
@click.option("--orbital8-decode", "orbital8_decode", type=click.Choice(["load", "graph"]), default="load",
              show_default=True,
              help="orbital8: 'load' ships the codes beside the format's fp32 file minus its weights, and the "
                   "runtime decodes them once at load (fp32 speed, fp32 memory); 'graph' stores the codes in the "
                   "model file, decoded by the format's own ops (a self-contained file; slower per call in "
                   "ExecuTorch and LiteRT). docs/orbital8.md says which suits whom.")
@policy_options
def export_command(checkpoint: Path, fmt: str, out_dir: Path, texts_path: Path | None, no_verify: bool,
                   precision: str, allow_portable: tuple[str, ...], quantize: str, overwrite: bool,
                   text_col: str | None = None, as_json: bool = False, orbital8_decode: str = "load",
                   items_path: Path | None = None, keep_float: tuple[str, ...] = (),
                   min_elements: int | None = None) -> None:
    """Export CHECKPOINT to phone formats, verify each against PyTorch, and print a table."""
    with user_errors():
        formats = list(joined(fmt))
        from neurolite_sdk.errors import NeuroLiteError
        from neurolite_sdk.exporters import export_bundle, get_exporter, parity_texts
        from neurolite_sdk.exporters.summary import COLUMNS, failure_row, notes, result_row
        from neurolite_sdk.training.checkpoint import load_checkpoint

        if (keep_float or min_elements is not None) and quantize == "none":
            raise click.UsageError("--keep-float / --min-elements: they choose which weights --quantize codes; "
                                   "give --quantize too")
        unsupported = [f for f in formats if precision not in get_exporter(f).precisions]
        if unsupported:
            raise click.UsageError(f"--precision {precision}: not supported by {', '.join(unsupported)}; "
                                   f"export the formats that support it on their own")
        for name in formats:  # every destination before any work: nothing to lose, nothing refused late
            check_output_dir(out_dir / name, BUNDLE, overwrite=overwrite)
        ckpt = load_checkpoint(checkpoint)
        if ckpt.model.config.use_multimodal_input:
            _refuse_for_multimodal(texts_path=texts_path, text_col=text_col, no_verify=no_verify,
                                   precision=precision, quantize=quantize, allow_portable=allow_portable)
            _export_multimodal(ckpt, checkpoint, formats, out_dir, items_path, overwrite, as_json)
            return
        if items_path is not None:
            raise click.UsageError(f"--items: {checkpoint} takes text only (use --texts for its parity texts)")
        policy = quant_policy(ckpt, checkpoint, keep_float, min_elements)
        texts = None
        if not no_verify:
            given = read_lines(texts_path) if texts_path is not None else None
            texts = parity_texts(ckpt, given, source=str(texts_path), text_col=text_col)
        checked = f"parity on {texts.source}" if texts else "parity not checked (--no-verify)"
        table = Table(title=f"{checkpoint} -> {out_dir}; --quantize {quantize}; {checked}")
        for column in COLUMNS:
            table.add_column(column, justify="left" if column in ("format", "scheme", "files", "parity") else "right")
        lines, failed, written = [], [], {}
        for name in formats:
            if not as_json:
                console.print(f"exporting {name} ...")
            try:
                result = export_bundle(ckpt, name, out_dir / name, texts=texts, verify=not no_verify,
                                       precision=precision, allow_portable=allow_portable or None,
                                       quantize=quantize, overwrite=overwrite, orbital8_decode=orbital8_decode,
                                       policy=policy)
            except NeuroLiteError as exc:
                failed.append(name)
                written[name] = {"format": name, "status": "failed", "reason": str(exc)}
                table.add_row(*failure_row(name, escape(str(exc)), quantize))
                continue
            written[name] = {"format": name, "status": "ok", "bundle": str(result.bundle), "files": result.files,
                             "bytes": result.total_bytes, "seconds": result.seconds, "parity": result.parity,
                             "quantization": result.quantization}
            table.add_row(*result_row(result, quantize))
            lines.extend(notes(result))
    if as_json:
        from neurolite_sdk.cli.common import echo_json

        echo_json({"checkpoint": str(checkpoint), "out": str(out_dir), "quantize": quantize,
                   "bundles": list(written.values())})
    else:
        console.print(table)
        for line in lines:
            console.print(line)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(formats)} exports failed ({', '.join(failed)}); "
                                   f"nothing was written for them")


def _refuse_for_multimodal(*, texts_path: Path | None, text_col: str | None, no_verify: bool, precision: str,
                           quantize: str, allow_portable: tuple[str, ...]) -> None:
    """Options a multimodal export does not take: one line each, before any work."""
    refused = [("--texts", texts_path is not None, "its parity data are items (--items)"),
               ("--text-col", text_col is not None, "its parity data are items (--items)"),
               ("--no-verify", no_verify, "a multimodal export always checks parity"),
               (f"--precision {precision}", precision != "fp32", "multimodal exports are fp32"),
               (f"--quantize {quantize}", quantize != "none", "multimodal exports are not quantized yet"),
               ("--allow-portable", bool(allow_portable), "not taken by multimodal exports")]
    for option, given, why in refused:
        if given:
            raise click.UsageError(f"{option}: the checkpoint is multimodal; {why}")


def _export_multimodal(ckpt: Checkpoint, checkpoint: Path, formats: list[str], out_dir: Path, items_path: Path | None,
                       overwrite: bool, as_json: bool) -> None:
    """Each format through ``exporters.multimodal.export_multimodal_bundle``, parity on the items."""
    from neurolite_sdk.errors import NeuroLiteError
    from neurolite_sdk.exporters.multimodal import export_multimodal_bundle
    from neurolite_sdk.multimodal_items import generated_items, read_items

    spec = ckpt.model.neurolite.multimodal.spec
    items = read_items(items_path, spec) if items_path is not None else generated_items(spec)
    count = len(next(iter(items.values())))
    source = f"{items_path} ({count} items)" if items_path is not None else \
        f"{count} generated items (every subset of {', '.join(spec.modalities)})"
    table = Table(title=f"{checkpoint} -> {out_dir}; multimodal; parity on {source}")
    for column in ("format", "bytes", "signatures", "max |Δlogit|", "top-1", "parity"):
        table.add_column(column, justify="left" if column in ("format", "signatures", "parity") else "right")
    failed, written = [], {}
    for name in formats:
        if not as_json:
            console.print(f"exporting {name} ...")
        try:
            manifest = export_multimodal_bundle(ckpt.model, list(ckpt.labels), name, out_dir / name, items,
                                                overwrite=overwrite)
        except NeuroLiteError as exc:
            failed.append(name)
            written[name] = {"format": name, "status": "failed", "reason": str(exc)}
            table.add_row(name, "-", "-", "-", "-", f"failed: {escape(str(exc))}")
            continue
        parity = manifest["parity"]
        size = sum(entry["bytes"] for entry in manifest["files"].values())
        written[name] = {"format": name, "status": "ok", "bundle": str(out_dir / name), "bytes": size,
                         "parity": parity}
        measured = parity["status"] == "passed"
        table.add_row(name, f"{size:,}", ", ".join(sorted(parity.get("signatures") or [])),
                      f"{parity['max_abs_logit']:.2g}" if measured else "-",
                      f"{parity['top1_agreement']:.2%}" if measured else "-",
                      parity["status"] + (f": {escape(str(parity['reason']))}" if parity.get("reason") else ""))
    if as_json:
        from neurolite_sdk.cli.common import echo_json

        echo_json({"checkpoint": str(checkpoint), "out": str(out_dir), "quantize": "none", "parity_items": source,
                   "bundles": list(written.values())})
    else:
        console.print(table)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(formats)} exports failed ({', '.join(failed)}); "
                                   f"nothing was written for them")
