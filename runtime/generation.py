"""Torch-free text generation over an exported step graph (ONNX, LiteRT, ExecuTorch; Core ML on macOS).

    bundle = load_step_bundle("gen-onnx/")
    text = generate(bundle, "ROMEO:", max_new_tokens=64, temperature=0.8, top_k=40, seed=0)

The host loop: featurize the latest byte (``neurolite_sdk.generation.featurizer``), run one step with
the state the previous step returned, sample the next byte (``neurolite_sdk.generation.sampling``),
repeat. The state has a fixed size, so each byte costs the same however long the text already is.
Only the ExecuTorch session imports torch (its Python bindings take torch tensors).

A step bundle's ``generation.json`` lists the SHA-256 of every file; loading checks them and the
featurizer digest, so a damaged or mismatched bundle fails here with the file named.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.generation.featurizer import ByteFeaturizerConfig, featurize_bytes, step_features
from neurolite_sdk.generation.sampling import DecodingSettings, Sampler, check_prompt

SCHEMA = "neurolite-step-graph/1"
MANIFEST = "generation.json"
FORMATS = ("onnx", "executorch", "tflite", "coreml")
ENTRY_FILES = {"onnx": "model.onnx", "executorch": "model.pte", "tflite": "model.tflite", "coreml": "model.mlpackage"}
INPUTS = ("features", "conv_state", "rec_state")
OUTPUTS = ("logits", "conv_state_out", "rec_state_out")


class StepBundleError(NeuroLiteError):
    """A step bundle that cannot be opened; the message names the file and what is wrong."""


def step_signature(config: Any) -> dict[str, list[dict[str, Any]]]:
    """The step graph's tensors for a generation config (a ``GenerationConfig`` or its dict)."""
    c = config if isinstance(config, dict) else config.to_dict()
    layers, width, dim = c["num_layers"], c["conv_width"], c["hidden_size"]
    conv, rec = [1, layers, width - 1, dim], [1, layers, dim]
    return {"inputs": [{"name": "features", "dtype": "int32", "shape": [1, len(c["ngram_orders"])]},
                       {"name": "conv_state", "dtype": "float32", "shape": conv},
                       {"name": "rec_state", "dtype": "float32", "shape": rec}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": [1, 256]},
                        {"name": "conv_state_out", "dtype": "float32", "shape": conv},
                        {"name": "rec_state_out", "dtype": "float32", "shape": rec}]}


@dataclass
class StepBundle:
    path: Path
    manifest: dict[str, Any]

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def featurizer(self) -> ByteFeaturizerConfig:
        spec = self.manifest["featurizer"]
        return ByteFeaturizerConfig(num_buckets=spec["num_buckets"], orders=tuple(spec["orders"]), seed=spec["seed"],
                                    version=spec["version"])

    @property
    def context_length(self) -> int:
        return int(self.manifest["config"]["context_length"])

    def state_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        inputs = {t["name"]: tuple(t["shape"]) for t in self.manifest["signature"]["inputs"]}
        return inputs["conv_state"], inputs["rec_state"]


def is_step_bundle(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load_step_bundle(path: str | Path) -> StepBundle:
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise StepBundleError(f"{path}: not a step bundle (no {MANIFEST}; export one with "
                              f"`neurolite export-generator`)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise StepBundleError(f"{manifest_path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise StepBundleError(f"{manifest_path}: schema is not {SCHEMA!r}")
    if manifest.get("format") not in FORMATS:
        raise StepBundleError(f"{manifest_path}: format {manifest.get('format')!r} unknown "
                              f"(known: {', '.join(FORMATS)})")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise StepBundleError(f"{manifest_path}: files: missing the file checksums")
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise StepBundleError(f"{file}: listed in {MANIFEST} but missing")
        if hashlib.sha256(file.read_bytes()).hexdigest() != digest:
            raise StepBundleError(f"{file}: SHA-256 does not match {MANIFEST} (the file was changed or damaged)")
    bundle = StepBundle(path=path, manifest=manifest)
    try:
        featurizer = bundle.featurizer
    except (KeyError, TypeError, NeuroLiteError) as exc:
        raise StepBundleError(f"{manifest_path}: featurizer: {exc}") from exc
    if featurizer.digest() != manifest["featurizer"].get("digest"):
        raise StepBundleError(f"{manifest_path}: featurizer digest does not match its parameters")
    return bundle


class StepSession:
    """One exported step graph opened in its runtime: ``step(features, conv, rec) -> (logits, conv', rec')``."""

    def __init__(self, bundle: StepBundle, threads: int | None = None) -> None:
        self.bundle = bundle
        self.threads = threads
        entry = bundle.path / bundle.manifest["entry"]
        fmt = bundle.format
        try:
            if fmt == "onnx":
                import onnxruntime as ort

                options = ort.SessionOptions()
                if threads:
                    options.intra_op_num_threads = threads
                    options.inter_op_num_threads = 1
                self._session = ort.InferenceSession(entry.read_bytes(), options, providers=["CPUExecutionProvider"])
            elif fmt == "tflite":
                from ai_edge_litert.interpreter import Interpreter

                interpreter = Interpreter(model_content=entry.read_bytes(), num_threads=threads)
                self._session = interpreter.get_signature_runner("step")
            elif fmt == "executorch":
                import torch
                from executorch.runtime import Runtime

                self._torch = torch
                # The program reads from the buffer it was given: keep the bytes and the program alive with it.
                self._buffer = entry.read_bytes()
                self._program = Runtime.get().load_program(self._buffer)
                self._session = self._program.load_method("forward")
            else:
                if platform.system() != "Darwin":
                    raise StepBundleError(f"{entry}: running a Core ML model needs macOS (the bundle's structure was "
                                          f"checked at export)")
                import coremltools as ct

                self._session = ct.models.MLModel(str(entry))
        except StepBundleError:
            raise
        except ImportError as exc:
            raise StepBundleError(f"{entry}: the {fmt} runtime is not installed ({exc}); pip install "
                                  f"'neurolite-sdk[{fmt}]'") from exc
        except Exception as exc:  # each runtime raises its own types for unreadable models
            raise StepBundleError(f"{entry}: the {fmt} runtime cannot load it ({str(exc).splitlines()[0][:300]})") \
                from exc

    def initial_state(self) -> tuple[np.ndarray, np.ndarray]:
        conv, rec = self.bundle.state_shapes()
        return np.zeros(conv, dtype=np.float32), np.zeros(rec, dtype=np.float32)

    def step(self, features: np.ndarray, conv: np.ndarray,
             rec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fmt = self.bundle.format
        inputs = {"features": np.ascontiguousarray(features, dtype=np.int32),
                  "conv_state": np.ascontiguousarray(conv, dtype=np.float32),
                  "rec_state": np.ascontiguousarray(rec, dtype=np.float32)}
        if fmt == "onnx":
            logits, conv2, rec2 = self._session.run(list(OUTPUTS), inputs)
        elif fmt == "tflite":
            out = self._session(**inputs)
            logits, conv2, rec2 = out["logits"], out["conv_state_out"], out["rec_state_out"]
        elif fmt == "executorch":
            out = self._session.execute([self._torch.from_numpy(inputs[name]) for name in INPUTS])
            logits, conv2, rec2 = (t.numpy().copy() for t in out)
        else:
            out = self._session.predict(inputs)
            logits, conv2, rec2 = (np.asarray(out[name], dtype=np.float32) for name in OUTPUTS)
        return logits, conv2, rec2


def open_session(bundle: StepBundle | str | Path, threads: int | None = None) -> StepSession:
    return StepSession(bundle if isinstance(bundle, StepBundle) else load_step_bundle(bundle), threads)


def iter_generate(session: StepSession, prompt: str, settings: DecodingSettings) -> Iterator[int]:
    """The new bytes one at a time: the prompt goes through ``step`` byte by byte, then each sampled byte."""
    fconfig = session.bundle.featurizer
    history = bytearray(check_prompt(prompt, session.bundle.context_length))
    sampler = Sampler(settings)
    conv, rec = session.initial_state()
    prompt_features = featurize_bytes(bytes(history), fconfig)
    logits = None
    for row in prompt_features:
        logits, conv, rec = session.step(row[None], conv, rec)
    for i in range(settings.max_new_tokens):
        byte = sampler(logits[0])
        yield byte
        if i == settings.max_new_tokens - 1:
            break
        history.append(byte)
        del history[: max(0, len(history) - fconfig.history)]
        logits, conv, rec = session.step(step_features(bytes(history), fconfig), conv, rec)


def generate_bytes(session: StepSession, prompt: str, settings: DecodingSettings) -> bytes:
    return bytes(iter_generate(session, prompt, settings))


def generate(bundle: StepSession | StepBundle | str | Path, prompt: str, max_new_tokens: int = 64, *,
             temperature: float = 0.8, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
             threads: int | None = None) -> str:
    """Continue ``prompt`` by ``max_new_tokens`` bytes with an exported step graph; the continuation as text
    (invalid or cut UTF-8 sequences become U+FFFD)."""
    settings = DecodingSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                                seed=seed)
    session = bundle if isinstance(bundle, StepSession) else open_session(bundle, threads)
    return generate_bytes(session, prompt, settings).decode("utf-8", "replace")
