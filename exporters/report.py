"""How an export is reported, in one place: the table's columns and cells, and the notes under it."""

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
    """Format details worth a line under the table (delegation for ExecuTorch, structure for Core ML,
    what a quantized export stored and how)."""
    details = result.details
    lines = []
    for method, delegation in details.get("methods", {}).items():
        portable = ", ".join(f"{op} x{n}" for op, n in delegation["portable_ops"].items()) or "none"
        lines.append(f"{result.format} {method}: {delegation['delegated_ops']} ops delegated to XNNPACK in "
                     f"{delegation['delegate_subgraphs']} subgraph(s); portable kernels: {portable}")
    if "allowed_portable" in details:
        allowed = ", ".join(details["allowed_portable"]) or "none"
        lines.append(f"{result.format}: ops allowed on portable kernels: {allowed}")
    if "structure" in details:
        structure = details["structure"]
        lines.append(f"{result.format}: structure {structure['status']}: inputs "
                     f"{', '.join(structure['inputs'])}, outputs {', '.join(structure['outputs'])}, "
                     f"{sum(structure['ops'].values())} ops, {details['compute_precision']} compute")
    if "opset" in details:
        lines.append(f"{result.format}: opset {details['opset']}, {details['nodes']} nodes, "
                     f"weights in one file")
    if "signatures" in details:
        lines.append(f"{result.format}: static signatures {', '.join(details['signatures'])}")
    quantization = result.quantization
    if quantization is not None:
        coded = quantization["coded_tensors"]
        line = (f"{result.format}: --quantize {quantization['scheme']}: {coded} tensors coded, "
                f"{quantization['float_tensors']} kept float (policy: >= {quantization['policy']['min_elements']} "
                f"elements, rank >= 2)")
        if quantization["scheme"] == "orbital8":
            line += (f"; weight SQNR {quantization['mean_sqnr_db']} dB mean vs per-channel int8 "
                     f"{quantization['mean_int8_sqnr_db']} dB")
        lines.append(line)
    stored = details.get("orbital8", {})
    codes = stored.get("uint8_bytes", stored.get("uint8_bytes_per_method"))
    if codes is not None:  # the exporter's own check that the codes reached the file as 8-bit data
        lines.append(f"{result.format}: orbital8 codes kept as 8-bit data in the file ({stored.get('coded_tensors')} "
                     f"tensors, {codes:,} bytes), decoded in the graph")
    if "recipe" in details.get("int8", {}):
        lines.append(f"{result.format}: int8 recipe: {details['int8']['recipe']}")
    return lines
