"""How an export is reported, in one place: the table's columns and cells, and the notes under it."""

from __future__ import annotations

from neurolite_sdk.exporters.pipeline import ExportResult

COLUMNS = ("format", "files", "bytes", "MB", "max |Δlogit|", "top-1", "parity", "export s")


def result_row(result: ExportResult) -> list[str]:
    parity = result.parity
    status = parity["status"] if parity["status"] != "skipped" else f"skipped: {parity['reason']}"
    entries = sorted({name.split("/")[0] for name in result.files})
    files = ", ".join(entries) + (f" ({len(result.files)} files)" if len(result.files) > len(entries) else "")
    worst, agreement = parity["max_abs_logit"], parity["top1_agreement"]
    return [result.format, files, f"{result.total_bytes:,}", f"{result.total_bytes / 1e6:.2f}",
            "-" if worst is None else f"{worst:.2e}", "-" if agreement is None else f"{agreement:.2%}",
            status, f"{result.seconds:.1f}"]


def failure_row(fmt: str, message: str) -> list[str]:
    return [fmt, "-", "-", "-", "-", "-", f"FAILED: {message}", "-"]


def notes(result: ExportResult) -> list[str]:
    """Format details worth a line under the table (delegation for ExecuTorch, structure for Core ML)."""
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
    return lines
