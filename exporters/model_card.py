"""The model card every bundle carries (``model_card.json`` + ``model_card.md``) and the standard descriptive
fields each format's own metadata gets (ONNX ``doc_string``/``model_author``/``model_license``, Core ML
author/licence/version/descriptions, TFLite Model Metadata).

The card says what a reader of a bundle needs before using it: the training data and its licence, the
accuracy on the evaluation data, the size, a latency measured on the exporting machine through the
runtime that serves the bundle, the quantization, and the intended use and limits. Both files are
written before the manifest's final file list, so ``manifest.json`` lists them with their SHA-256.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurolite_sdk import __version__
from neurolite_sdk.atomic import atomic_write_text

CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
CARD_FILES = (CARD_JSON, CARD_MD)
CARD_SCHEMA = "neurolite-model-card/1"
LATENCY_RUNS = 30

# The public sets the project reads (their READMEs in the data folder): name, citation, licence terms.
KNOWN_DATA = {
    "sst2": ("SST-2 (GLUE)", "Socher et al. 2013; Wang et al. 2018",
             "no explicit licence from the SST authors (the Hugging Face card says unknown); GLUE redistributes "
             "it for research use; cite Socher et al. 2013 and Wang et al. 2018"),
    "snips": ("SNIPS", "Coucke et al. 2018; split of Goo et al. 2018",
              "no LICENSE file in the Snips/Sonos nlu-benchmark repository; treat it as research data and cite "
              "Coucke et al. 2018 and Goo et al. 2018"),
}
UNKNOWN_LICENCE = "not recorded: the user's own data, under its owner's terms"
INTENDED_USE = ("Short-text classification into the labels below, on device or on a server, for text like the "
                "training data (language, domain, length).")
LIMITS = ("A small bag-of-hashed-n-grams model: it has no pretrained knowledge of language beyond its training "
          "data, reads at most max_length tokens (longer texts are truncated and flagged), gives labels that "
          "mean nothing for texts without tokens (flagged empty), and its scores are not calibrated "
          "probabilities. Accuracy was measured on the evaluation data named here only; check it on your own "
          "data before relying on it, and do not use it for decisions about people without human review.")


@dataclass
class Description:
    """The descriptive fields a format's standard metadata carries."""

    name: str
    description: str
    version: str
    author: str
    license: str
    labels: list[str]
    input_description: dict[str, str]
    output_description: dict[str, str]


def data_info(path: str | None) -> dict[str, Any]:
    """Name, citation and licence of a training or evaluation source, when it is one of the known public sets."""
    if not path:
        return {"source": None, "name": None, "citation": None, "licence": UNKNOWN_LICENCE}
    lowered = str(path).lower().replace("-", "")
    for key, (name, citation, licence) in KNOWN_DATA.items():
        if key in lowered:
            return {"source": str(path), "name": name, "citation": citation, "licence": licence}
    return {"source": str(path), "name": None, "citation": None, "licence": UNKNOWN_LICENCE}


def describe(training: dict[str, Any], labels: list[str], max_length: int, num_hashes: int) -> Description:
    """The standard fields from the checkpoint's training report."""
    data = data_info(training.get("train_path"))
    trained_on = data["name"] or (training.get("train_path") or "unrecorded data")
    accuracy = training.get("best_eval_accuracy")
    scored = f"; eval accuracy {accuracy * 100:.2f}% on {training.get('eval_path')}" if accuracy is not None else ""
    return Description(
        name=f"neurolite-{training.get('preset', 'custom')}-classifier",
        description=f"NeuroLite text classifier ({', '.join(labels)}) trained on {trained_on}{scored}.",
        version=__version__, author=f"trained with NeuroLite SDK {__version__}",
        license=f"model weights follow the training data's terms: {data['licence']}", labels=list(labels),
        input_description={
            "features": f"int32 [batch, length <= {max_length}, {num_hashes}]: bucket ids of each token's "
                        f"MinHash signature (the bundle's featurizer spec makes them from text)",
            "mask": "float32 [batch, length]: 1 for a real token, 0 for padding"},
        output_description={"logits": f"float32 [batch, {len(labels)}]: one score per label, in the order "
                                      f"{', '.join(labels)} (softmax gives probabilities)"})


def measure_latency(bundle_dir: Path, text: str) -> dict[str, Any]:
    """Median and p95 of one-text ``predict`` calls through the runtime, or why it was not measured."""
    from neurolite_sdk.runtime import load
    from neurolite_sdk.runtime.errors import PlatformUnsupportedError

    try:
        predictor = load(bundle_dir, threads=1)
    except PlatformUnsupportedError as exc:
        return {"measured": False, "reason": exc.reason}
    predictor.predict([text])  # warm-up
    times = []
    for _ in range(LATENCY_RUNS):
        started = time.perf_counter()
        predictor.predict([text])
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"measured": True, "median_ms": round(statistics.median(times), 4),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 4), "runs": LATENCY_RUNS, "threads": 1,
            "batch": 1, "tokens": len(text.split()), "machine": f"{platform.machine()} {platform.system()}, "
                                                                f"{os.cpu_count()} CPUs (the exporting machine)"}


def build_card(manifest: dict[str, Any], training: dict[str, Any], parameters: int, entry_bytes: int,
               latency: dict[str, Any]) -> dict[str, Any]:
    labels = manifest["labels"]
    description = describe(training, labels, manifest["config"]["max_length"], manifest["config"]["num_hashes"])
    return {
        "schema": CARD_SCHEMA,
        "name": description.name,
        "format": manifest["format"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "task": "text classification",
        "labels": labels,
        "description": description.description,
        "training_data": {**data_info(training.get("train_path")), "rows": training.get("train_rows")},
        "evaluation": {**data_info(training.get("eval_path")), "rows": training.get("eval_rows"),
                       "accuracy": training.get("best_eval_accuracy"), "epoch": training.get("best_epoch"),
                       "unseen_label_rows": training.get("eval_unseen_label_rows", 0)},
        "size": {"entry": manifest["entry"], "entry_bytes": entry_bytes, "parameters": parameters,
                 "preset": training.get("preset")},
        "latency": latency,
        "quantization": {"scheme": manifest["export"]["quantize"], "precision": manifest["export"]["precision"],
                         **({"details": manifest["quantization"]} if "quantization" in manifest else {})},
        "parity": {k: manifest["parity"].get(k) for k in ("status", "source", "texts", "max_abs_logit",
                                                          "top1_agreement")},
        "intended_use": INTENDED_USE,
        "limitations": LIMITS,
        "licence": description.license,
        "author": description.author,
        "sdk_version": __version__,
    }


def write_card(bundle_dir: Path, card: dict[str, Any]) -> list[str]:
    atomic_write_text(bundle_dir / CARD_JSON, json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(bundle_dir / CARD_MD, render_markdown(card))
    return [CARD_JSON, CARD_MD]


def render_markdown(card: dict[str, Any]) -> str:
    train, evaluation, size, latency = card["training_data"], card["evaluation"], card["size"], card["latency"]
    accuracy = f"{evaluation['accuracy'] * 100:.2f}%" if evaluation.get("accuracy") is not None else "not recorded"
    if latency.get("measured"):
        speed = (f"{latency['median_ms']:.3f} ms median, {latency['p95_ms']:.3f} ms p95 per one-text call "
                 f"({latency['runs']} runs, {latency['threads']} thread, {latency['machine']})")
    else:
        speed = f"not measured here: {latency.get('reason')}"
    quantization = card["quantization"]
    lines = [
        f"# {card['name']} ({card['format']})", "",
        card["description"], "",
        "| | |", "| --- | --- |",
        f"| Task | {card['task']}; labels: {', '.join(card['labels'])} |",
        f"| Training data | {train['name'] or train['source']} ({train['rows']} rows; {train['source']}) |",
        f"| Evaluation | accuracy {accuracy} on {evaluation['name'] or evaluation['source']} "
        f"({evaluation['rows']} rows, best epoch {evaluation['epoch']}) |",
        f"| Size | {size['entry']}: {size['entry_bytes']:,} bytes; {size['parameters']:,} parameters |",
        f"| Latency | {speed} |",
        f"| Quantization | {quantization['scheme']} ({quantization['precision']}) |",
        f"| Parity with PyTorch | {card['parity'].get('status')} on {card['parity'].get('source')} |",
        f"| Data licence | {train['licence']} |",
        f"| Author | {card['author']} |", "",
        "## Intended use", "", card["intended_use"], "",
        "## Limits", "", card["limitations"], "",
        f"Machine-readable: `{CARD_JSON}` (schema {card['schema']}). Written by NeuroLite SDK {card['sdk_version']} "
        f"on {card['created']}.", ""]
    return "\n".join(lines)
