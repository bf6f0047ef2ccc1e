"""Transformer baselines: BERT-base, DistilBERT and MobileBERT built from their ``transformers`` configs.

The configs are constructed in code with the published sizes (the library's defaults are those of
bert-base-uncased, distilbert-base-uncased and google/mobilebert-uncased) and the weights are random:
nothing is downloaded, and latency, size and memory do not depend on the weight values. They are
exported through the same toolchain calls as NeuroLite's own exporters (``torch.onnx.export`` with
``dynamo=True``, NeuroLite's opset (20), one file; ``torch.export`` then ``to_edge_transform_and_lower`` with the
XNNPACK partitioner) so a ratio compares models, not tool paths.

A baseline reads ``input_ids`` and ``attention_mask`` (int64, what the ``transformers`` embedding takes)
and returns the logits of a two-label sequence classifier. It has no featurizer here (a WordPiece
tokenizer needs a vocabulary download), so its figures are graph-only; NeuroLite's end-to-end figure
includes its featurizer. Position embeddings stop at ``max_position_embeddings`` = 512: lengths above
that are skipped, never extrapolated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurolite_sdk.atomic import BASELINE_MODEL, atomic_directory
from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.exporters.onnx import OPSET

ONNX_OPSET = OPSET  # NeuroLite's own ONNX opset (20: fused Gelu): the same for both sides of a ratio
INPUT_NAMES = ("input_ids", "attention_mask")
NUM_LABELS = 2


class BaselineError(NeuroLiteError):
    """A baseline that cannot be built or exported here; the message names it and the cause."""


@dataclass(frozen=True)
class BaselineSpec:
    """One transformer architecture: ``name`` as reports show it, the ``transformers`` config class."""

    name: str
    config_class: str
    model_class: str
    checkpoint_sizes: str  # the published checkpoint whose sizes the default config has

    def config(self) -> Any:
        import transformers

        config = getattr(transformers, self.config_class)(num_labels=NUM_LABELS)
        config._attn_implementation = "sdpa"
        return config

    @property
    def max_length(self) -> int:
        return int(self.config().max_position_embeddings)


BASELINES: dict[str, BaselineSpec] = {
    "bert-base": BaselineSpec("bert-base", "BertConfig", "BertForSequenceClassification", "bert-base-uncased"),
    "distilbert": BaselineSpec("distilbert", "DistilBertConfig", "DistilBertForSequenceClassification",
                               "distilbert-base-uncased"),
    "mobilebert": BaselineSpec("mobilebert", "MobileBertConfig", "MobileBertForSequenceClassification",
                               "google/mobilebert-uncased"),
}


class LogitsOnly(nn.Module):
    """The classifier as a plain tensor function (input_ids, attention_mask) -> logits, for tracing."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def build_baseline(name: str, seed: int = 0, **overrides: Any) -> LogitsOnly:
    """The randomly initialised classifier ``name`` in eval mode; ``overrides`` change config fields
    (the tests shrink ``num_hidden_layers``)."""
    import transformers

    if name not in BASELINES:
        raise BaselineError(f"baseline {name!r}: unknown (known: {', '.join(BASELINES)})")
    spec = BASELINES[name]
    config = spec.config()
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise BaselineError(f"baseline {name}: config has no field {key!r}")
        setattr(config, key, value)
    torch.manual_seed(seed)
    model = getattr(transformers, spec.model_class)(config)
    return LogitsOnly(model).eval()


def example_inputs(batch: int, length: int, vocab_size: int = 30522) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab_size, (batch, length), generator=generator, dtype=torch.int64)
    return ids, torch.ones(batch, length, dtype=torch.int64)


def export_baseline_onnx(model: LogitsOnly, out_dir: Path, max_length: int) -> Path:
    """``model.onnx`` with dynamic batch and length (up to ``max_length``), weights inside the file."""
    batch, length = torch.export.Dim("batch", min=1), torch.export.Dim("length", min=2, max=max_length)
    dynamic = {name: {0: batch, 1: length} for name in INPUT_NAMES}
    with atomic_directory(out_dir, BASELINE_MODEL, overwrite=True) as staging, torch.no_grad():
        program = torch.onnx.export(model, example_inputs(2, min(16, max_length)), dynamo=True,
                                    input_names=list(INPUT_NAMES), output_names=["logits"],
                                    dynamic_shapes=dynamic, opset_version=ONNX_OPSET, external_data=False,
                                    verbose=False)
        program.save(str(staging / "model.onnx"), external_data=False)
    return out_dir / "model.onnx"


def export_baseline_executorch(model: LogitsOnly, out_dir: Path, length: int) -> Path:
    """``model.pte`` lowered to XNNPACK at the static shape [1, length] (like NeuroLite's .pte methods)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with atomic_directory(out_dir, BASELINE_MODEL, overwrite=True) as staging, torch.no_grad():
        program = torch.export.export(model, example_inputs(1, length), strict=False)
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        (staging / "model.pte").write_bytes(edge.to_executorch().buffer)
    return out_dir / "model.pte"


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
