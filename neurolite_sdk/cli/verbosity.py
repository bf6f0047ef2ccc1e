"""``-v`` / ``-q`` and output that reads well in a log: what the ``neurolite`` group sets before any command.

Without ``-v``, third-party chatter stays out of the output: Python warnings raised outside
``neurolite_sdk`` (deprecations in converters, torch's export notes) and the log records of torch,
coremltools, onnxscript and the LiteRT/TensorFlow C++ logs below ERROR. ``-q`` silences the SDK's own
progress and tables too (errors and ``--json`` output still print). When stdout is not a terminal
(piped into a file or ``tee``), rich would cut tables to 80 columns ("3,8…"); the console then takes a
width no table here reaches, so every cell is printed whole.
"""

from __future__ import annotations

import logging
import os
import warnings

from rich.console import Console

THIRD_PARTY_LOGGERS = ("torch", "coremltools", "onnxscript", "onnx_ir", "onnxruntime", "executorch", "litert_torch",
                       "ai_edge_quantizer", "ai_edge_litert", "absl", "transformers", "datasets", "huggingface_hub",
                       "jax", "tensorflow")
PIPED_WIDTH = 400


def configure_output(console: Console, verbose: int, quiet: bool) -> None:
    if not console.is_terminal:
        console.width = max(console.width, PIPED_WIDTH)
    if quiet:
        console.quiet = True
    if verbose:
        logging.basicConfig(level=logging.INFO if verbose == 1 else logging.DEBUG)
        return
    warnings.filterwarnings("ignore")  # every warning ...
    warnings.filterwarnings("default", module=r"neurolite_sdk(\.|$)")  # ... but the SDK's own (checked first)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # LiteRT / TensorFlow C++ logs: errors only
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
