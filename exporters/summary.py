"""The export summary the ``export`` command prints: the table's columns and cells, and the notes under it."""

from __future__ import annotations

from neurolite_sdk.exporters.pipeline import ExportResult

COLUMNS = ("format", "scheme", "files", "bytes", "MB", "vs fp32", "max |Δlogit|", "top-1", "fp32 top-1", "parity",
           "export s")


def result_row(result: ExportResult, scheme: str = "none") -> list[str]:
    """One exported bundle. ``vs fp32`` (quantized exports) is the bundle's bytes over the model's fp32
    weight bytes (4 bytes a parameter); ``quantize-report`` compares with the same format's fp32 file."""
    parity = result.parity
    status = parity["status"] if parity["status"] != "skipped" else f"skipped: {parity['reason']}"
    entries = sorted({name.split("/")[0] for name in result.files})
    files = ", ".join(entries) + (f" ({len(result.files)} files)" if len(result.files) > len(entries) else "")
    worst, agreement = parity["max_abs_logit"], parity["top1_agreement"]
    fp32_agreement = parity.get("fp32_top1_agreement")
    weights = sum(row["bytes_fp32"] for row in result.quantization["layers"]) if result.quantization else None
    return [result.format, scheme, files, f"{result.total_bytes:,}", f"{result.total_bytes / 1e6:.2f}",
            "-" if not weights else f"{result.total_bytes / weights:.3f}",
            "-" if worst is None else f"{worst:.2e}", "-" if agreement is None else f"{agreement:.2%}",
            "-" if fp32_agreement is None else f"{fp32_agreement:.2%}", status, f"{result.seconds:.1f}"]


def failure_row(fmt: str, message: str, scheme: str = "none") -> list[str]:
    return [fmt, scheme, "-", "-", "-", "-", "-", "-", "-", f"FAILED: {message}", "-"]


def notes(result: ExportResult) -> list[str]:
    """Lines under the table: what the format says about its file (``ExportDetails.notes``: delegation for
    ExecuTorch, structure for Core ML, ...), then what a quantized export stored and how."""
    details, fmt = result.details, result.format
    lines = details.notes(fmt)
    quantization = result.quantization
    if quantization is not None:
        policy = quantization["policy"]
        patterns = f", names not matching {', '.join(policy['keep_float'])}" if policy["keep_float"] else ""
        line = (f"{fmt}: --quantize {quantization['scheme']}: {quantization['coded_tensors']} tensors coded, "
                f"{quantization['float_tensors']} kept float (policy: >= {policy['min_elements']} "
                f"elements, rank >= 2{patterns})")
        if quantization["scheme"] == "orbital8":
            line += (f"; weight SQNR {quantization['mean_sqnr_db']} dB mean vs per-channel int8 "
                     f"{quantization['mean_int8_sqnr_db']} dB")
        lines.append(line)
    if details.orbital8 is not None:  # the exporter's own check that the codes reached the file as 8-bit data
        check = details.orbital8
        kept = f"; kept float: {', '.join(check.float_tensors)}" if check.float_tensors else ""
        at_load = (quantization or {}).get("decode") == "load"
        how = "decoded once at load into the format's fp32 weights" if at_load else "decoded in the graph"
        lines.append(f"{fmt}: orbital8 codes kept as 8-bit data in the file ({check.stored_tensors} tensors, "
                     f"{check.code_bytes:,} bytes), {how}{kept}")
    if details.native is not None:
        native = details.native
        calibrated = f", calibrated on {native.calibration_texts} texts" if native.calibration_texts else ""
        coded = f"; {native.coded_tensors} weights in 8 bits" if native.coded_tensors is not None else ""
        lines.append(f"{fmt}: {native.scheme} recipe: {native.recipe}{calibrated}{coded}")
    return lines
