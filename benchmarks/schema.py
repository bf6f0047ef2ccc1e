"""The results file's JSON Schema, and a validator for the subset of JSON Schema it uses.

``results.json`` is what ``neurolite report`` and ``--compare`` read, possibly months later and from
another version, so its shape is pinned here. The validator covers ``type`` (one or a list),
``required``, ``properties``, ``items``, ``enum`` and ``minimum``: enough
for this schema without adding ``jsonschema`` as a dependency; a published JSON Schema validator
accepts the same document.
"""

from __future__ import annotations

from typing import Any

from neurolite_sdk.errors import NeuroLiteError

NUMBER = {"type": "number", "minimum": 0}
OPT_NUMBER = {"type": ["number", "null"], "minimum": 0}
LATENCY = {"type": "object", "required": ["median_ms", "p10_ms", "p90_ms", "runs", "busy"],
           "properties": {"median_ms": NUMBER, "p10_ms": NUMBER, "p90_ms": NUMBER, "mean_ms": NUMBER,
                          "min_ms": NUMBER, "runs": {"type": "integer", "minimum": 1},
                          "spread": OPT_NUMBER, "busy": {"type": "boolean"}}}
MEASUREMENT = {
    "type": ["object", "null"],
    "required": ["status", "threads", "load_s", "latency", "memory", "versions"],
    "properties": {
        "status": {"enum": ["ok"]}, "threads": {"type": "integer", "minimum": 1}, "load_s": NUMBER,
        "import_s": NUMBER, "latency": LATENCY, "end_to_end": LATENCY, "signature": {"type": "string"},
        "throughput": {"type": "object", "required": ["batch", "median_ms", "items_per_s"],
                       "properties": {"batch": {"type": "integer", "minimum": 2}, "median_ms": NUMBER,
                                      "items_per_s": NUMBER}},
        "scaling": {"type": "array", "items": {"type": "object", "required": ["length", "latency"],
                                               "properties": {"length": {"type": "integer", "minimum": 1},
                                                              "latency": LATENCY}}},
        "memory": {"type": "object", "required": ["peak_increase_mb", "method"],
                   "properties": {"peak_increase_mb": OPT_NUMBER, "method": {"type": "string"}}},
        "accuracy": {"type": "object", "required": ["eval_path", "rows", "accuracy"],
                     "properties": {"rows": {"type": "integer", "minimum": 1}, "accuracy": NUMBER}},
        "versions": {"type": "object"}}}
ROW = {
    "type": "object",
    "required": ["id", "group", "model", "family", "backbone", "format", "quantize", "length", "weights", "params",
                 "flops", "size_bytes", "status", "reason", "measurement"],
    "properties": {
        "id": {"type": "string"}, "group": {"enum": ["checkpoint", "comparison", "scaling"]},
        "model": {"type": "string"}, "family": {"enum": ["neurolite", "baseline", "teacher"]},
        "backbone": {"type": "string"}, "format": {"type": "string"}, "quantize": {"type": "string"},
        "length": {"type": "integer", "minimum": 1}, "weights": {"enum": ["trained", "random"]},
        "params": {"type": ["integer", "null"], "minimum": 1}, "flops": {"type": ["integer", "null"], "minimum": 0},
        "size_bytes": {"type": ["integer", "null"], "minimum": 1},
        "status": {"enum": ["ok", "skipped", "failed"]}, "reason": {"type": ["string", "null"]},
        "measurement": MEASUREMENT}}
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["schema", "created", "command", "machine", "settings", "gemm", "rows", "wall_s"],
    "properties": {
        "schema": {"enum": ["neurolite-bench/1"]}, "created": {"type": "string"}, "command": {"type": "string"},
        "machine": {"type": "object", "required": ["cpu", "threads", "versions", "load_average"],
                    "properties": {"cpu": {"type": "string"}, "threads": {"type": "integer", "minimum": 1},
                                   "versions": {"type": "object"}, "load_average": {"type": "array"}}},
        "settings": {"type": "object", "required": ["threads", "length", "runs", "quick"]},
        "gemm": {"type": "object", "required": ["status"]},
        "rows": {"type": "array", "items": ROW},
        "wall_s": NUMBER}}

_TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
                                       "integer": (int,), "number": (int, float), "null": (type(None),)}


class SchemaError(NeuroLiteError):
    """A results document that does not match the schema; the message names the JSON path."""


def validate(document: Any, schema: dict[str, Any] = RESULTS_SCHEMA, path: str = "$") -> None:
    """Raise ``SchemaError`` naming the first place where ``document`` breaks ``schema``."""
    if "enum" in schema and document not in schema["enum"]:
        raise SchemaError(f"{path}: {document!r} is not one of {schema['enum']}")
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(document, name) for name in names):
            raise SchemaError(f"{path}: expected {' or '.join(names)}, got {type(document).__name__}")
    if document is None:
        return
    if "minimum" in schema and isinstance(document, (int, float)) and document < schema["minimum"]:
        raise SchemaError(f"{path}: {document} is below the minimum {schema['minimum']}")
    if isinstance(document, dict):
        for key in schema.get("required", []):
            if key not in document:
                raise SchemaError(f"{path}: missing field {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in document:
                validate(document[key], sub, f"{path}.{key}")
    if isinstance(document, list) and "items" in schema:
        for i, item in enumerate(document):
            validate(item, schema["items"], f"{path}[{i}]")


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])
