"""Bundle writing, in one place for every format: the metadata embedded in model files and the manifest.

The manifest's layout is documented in ``docs/bundle.md`` and read back by ``runtime/bundle.py``,
whose types (``Signature``, ``file_record``) this module reuses so that writer and reader cannot
drift apart. The bundle directory itself is staged and renamed into place by the export pipeline.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurolite_sdk import __version__
from neurolite_sdk.atomic import atomic_write_text
from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.exporters.base import ExportArtifact, Exporter
from neurolite_sdk.reasoning.model_facts import NETWORK_FILE, RULES_FILE
from neurolite_sdk.runtime.backends import backend_class
from neurolite_sdk.runtime.bundle import MANIFEST_NAME, WRITTEN_SCHEMA_VERSION, bundle_files


def embedded_metadata(config: NeuroLiteConfig, labels: list[str]) -> dict[str, str]:
    """Featurizer spec and digest, labels and config as strings, for the model file's own metadata."""
    featurizer = config.featurizer_config()
    return {"neurolite_featurizer": featurizer.canonical_json(),
            "neurolite_featurizer_digest": featurizer.digest(),
            "neurolite_labels": json.dumps(labels, ensure_ascii=False),
            "neurolite_config": json.dumps(config.to_dict(), sort_keys=True),
            "neurolite_sdk_version": __version__}


def build_manifest(exporter: Exporter, artifact: ExportArtifact, bundle_dir: Path, config: NeuroLiteConfig,
                   labels: list[str], export_info: dict[str, Any], parity: dict[str, Any]) -> dict[str, Any]:
    featurizer = config.featurizer_config()
    runtime = backend_class(exporter.format)
    return {
        "schema_version": WRITTEN_SCHEMA_VERSION,
        "format": exporter.format,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "entry": artifact.entry,
        "files": bundle_files(bundle_dir),
        "signatures": [signature.to_dict() for signature in artifact.signatures],
        "labels": labels,
        "featurizer": {"spec": featurizer.to_dict(), "digest": featurizer.digest(),
                       "version": featurizer.version},
        "config": config.to_dict(),
        "export": {**export_info, "details": artifact.details.to_dict()},
        "parity": parity,
        "tools": {"neurolite-sdk": __version__, "torch": torch.__version__, "numpy": np.__version__,
                  "python": platform.python_version(), "exporter": exporter.versions(),
                  "runtime": {runtime.distribution: _version(runtime.distribution)}},
    }


def write_reasoning(bundle_dir: Path, reasoning: dict[str, Any]) -> dict[str, str]:
    """Write the checkpoint's rules and network documents into the bundle; the manifest's ``reasoning``.

    Written before the manifest, so ``files`` lists them with their SHA-256 like the model file.
    """
    written = {}
    for key, name in (("rules", RULES_FILE), ("network", NETWORK_FILE)):
        if name in reasoning:
            atomic_write_text(bundle_dir / name, json.dumps(reasoning[name], indent=2, ensure_ascii=False) + "\n")
            written[key] = name
    return written


def write_manifest(bundle_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(bundle_dir / MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
