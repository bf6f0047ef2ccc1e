"""The runtime's backend registry and the null backend (issue 15, item 2).

No training and no export here: bundles are written directly (manifest, checksums, featurizer spec), and
either run on the ``null`` backend, which answers from the declared signatures, or on a third-party backend
installed as a real distribution (dist-info with entry_points.txt on sys.path), the way
tests/test_exporter_plugins.py installs an exporter. So the runtime around the backend (verification,
featurizer, planner, post-processing) is tested alone: group "no backend" of STYLE.md's tinygrad note.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from neurolite_sdk.featurizer import BloomFeaturizer, FeaturizerConfig
from neurolite_sdk.runtime import BundleError, load
from neurolite_sdk.runtime.backends import (
    _BACKENDS,
    ENTRY_POINT_GROUP,
    backend_class,
    backend_formats,
    backend_names,
    runnable_formats,
)
from neurolite_sdk.runtime.backends.null import NullBackend
from neurolite_sdk.runtime.bundle import BATCH, LENGTH, MANIFEST_NAME, DimRange, Signature, TensorSpec, bundle_files
from neurolite_sdk.runtime.errors import BackendUnavailableError

LABELS = ["negative", "positive"]
FEATURIZER = FeaturizerConfig(num_buckets=64, num_hashes=4, word_hashes=2, max_length=16)
TEXTS = ["a gorgeous , witty , seductive movie .", "the plot is nothing but boilerplate clichés",
         "", "one", "a " * 40, "an ok film that runs long", "great", "terrible acting, terrible script",
         "neither here nor there", "I laughed, I cried", "the end"]
RULES = {"model": {"intent": "intent(?u, ?label)", "uncertain": {"fact": "uncertain(?u)", "below": 0.6}},
         "facts": ["reaction(positive, recommend)", "reaction(negative, warn)"],
         "rules": [{"premises": ["intent(?u, ?l)", "reaction(?l, ?a)"], "conclusion": "act(?u, ?a)"}]}


def signature(name: str, batch: DimRange, length: DimRange) -> Signature:
    return Signature(name=name, inputs=(TensorSpec("features", "int32", (BATCH, LENGTH, FEATURIZER.num_hashes)),
                                        TensorSpec("mask", "float32", (BATCH, LENGTH))),
                     outputs=(TensorSpec("logits", "float32", (BATCH, len(LABELS))),), batch=batch, length=length)


# static shapes, as ExecuTorch and LiteRT bundles hold them: the planner pads and splits
STATIC = (signature("b1_l4", DimRange(1, 1), DimRange(4, 4)), signature("b4_l4", DimRange(4, 4), DimRange(4, 4)),
          signature("b1_l16", DimRange(1, 1), DimRange(16, 16)), signature("b4_l16", DimRange(4, 4), DimRange(16, 16)))


def write_bundle(root: Path, fmt: str, entry: str, model: bytes, signatures: tuple[Signature, ...] = STATIC,
                 rules: dict | None = None) -> Path:
    """A bundle as the exporters lay it out: the model file, the manifest listing every file's SHA-256."""
    root.mkdir(parents=True)
    (root / entry).write_bytes(model)
    manifest = {"schema_version": 1, "format": fmt, "entry": entry, "labels": LABELS,
                "signatures": [s.to_dict() for s in signatures],
                "featurizer": {"spec": FEATURIZER.to_dict(), "digest": FEATURIZER.digest(),
                               "version": FEATURIZER.version}, "config": {}}
    if rules is not None:
        (root / "rules.json").write_text(json.dumps(rules), encoding="utf-8")
        manifest["reasoning"] = {"rules": "rules.json"}
    manifest["files"] = bundle_files(root)
    (root / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    return root


# --------------------------------------------------------------------------------------------------- null
def test_null_backend_runs_any_format_by_name_and_only_by_name(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", "onnx", "model.onnx", b"not a model: the null backend never reads it")
    predictor = load(bundle, backend="null")
    assert isinstance(predictor.backend, NullBackend) and predictor.bundle.format == "onnx"
    with pytest.raises(BundleError, match="backend 'tflite' cannot run .* format is 'onnx'"):
        load(bundle, backend="tflite")
    assert "null" in backend_names() and "null" not in backend_formats()


def test_null_outputs_have_the_declared_shapes_and_dtypes(tmp_path: Path) -> None:
    predictor = load(write_bundle(tmp_path / "b", "onnx", "model.onnx", b"x"), backend="null")
    for spec in STATIC:
        batch, length = spec.batch.min, spec.length.min
        outputs = predictor.backend.run(spec.name, {"features": np.ones((batch, length, 4), np.int32),
                                                    "mask": np.ones((batch, length), np.float32)})
        assert set(outputs) == {"logits"}
        assert outputs["logits"].dtype == np.float32 and outputs["logits"].shape == (batch, len(LABELS))


def test_null_outputs_follow_the_length_axis_and_an_unsized_axis_is_refused(tmp_path: Path) -> None:
    """Per-token outputs ([batch, length, hidden], as a hidden-state graph declares them) take the call's
    length; an output axis that no input declares is refused when the bundle is read."""
    inputs = (TensorSpec("features", "int32", (BATCH, LENGTH, FEATURIZER.num_hashes)),
              TensorSpec("mask", "float32", (BATCH, LENGTH)))
    tokens = Signature("tokens", inputs, (TensorSpec("logits", "float32", (BATCH, len(LABELS))),
                                          TensorSpec("hidden", "float32", (BATCH, LENGTH, 3))),
                       DimRange(1, None), DimRange(1, 16))
    odd = Signature("odd", inputs, (TensorSpec("logits", "float32", (BATCH, "experts")),),
                    DimRange(1, None), DimRange(1, 16))
    feed = {"features": np.ones((2, 5, 4), np.int32), "mask": np.ones((2, 5), np.float32)}
    predictor = load(write_bundle(tmp_path / "a", "onnx", "model.onnx", b"x", signatures=(tokens,)), backend="null")
    assert predictor.backend.run("tokens", feed)["hidden"].shape == (2, 5, 3)
    # an axis no input sizes never reaches the backend: reading the bundle refuses it, naming the output
    with pytest.raises(BundleError, match=r"'odd'\): output 'logits' must be float32 \['batch', C\]"):
        load(write_bundle(tmp_path / "b", "onnx", "model.onnx", b"x", signatures=(odd,)), backend="null")


def test_planner_pads_and_splits_to_the_same_answers_as_one_text_at_a_time(tmp_path: Path) -> None:
    """11 texts of mixed lengths through four static signatures: chunks of 4, a padded remainder, the short
    signature when every text fits; each row must equal that text alone (the null outputs depend on the
    row's real tokens only, so a row mixed up with another, or padding that leaks, changes it)."""
    predictor = load(write_bundle(tmp_path / "b", "tflite", "model.tflite", b"x"), backend="null")
    together = predictor.logits(TEXTS)
    alone = np.concatenate([predictor.logits([text]) for text in TEXTS])
    np.testing.assert_array_equal(together, alone)
    assert len({row.tobytes() for row in together}) >= len(TEXTS) - 1  # the texts get different answers
    batch = BloomFeaturizer(FEATURIZER)(TEXTS)
    assert batch.truncated.tolist() == [len(t.split()) > FEATURIZER.max_length for t in TEXTS]
    short = [t for t in TEXTS if 0 < len(t.split()) <= 4]
    np.testing.assert_array_equal(predictor.logits(short),
                                  np.concatenate([predictor.logits([t]) for t in short]))


def test_post_processing_runs_on_the_null_backend(tmp_path: Path) -> None:
    predictor = load(write_bundle(tmp_path / "b", "onnx", "model.onnx", b"x", rules=RULES), backend="null")
    for prediction in predictor.predict(TEXTS):
        assert f"intent(u, {prediction.label})" in prediction.facts
        assert ("uncertain(u)" in prediction.facts) == (prediction.score < 0.6)
        action = {"positive": "recommend", "negative": "warn"}[prediction.label]
        assert [d["fact"] for d in prediction.derived] == [f"act(u, {action})"]
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------ plugins
PLUGIN = '''
import io

import numpy as np

from neurolite_sdk.runtime.backends import DIGEST_KEY, LABELS_KEY, Backend, ModelTensor


class BucketSumBackend(Backend):
    """A real, tiny format: the model file is an .npy table [buckets, labels]; logits sum the table rows of
    the text's buckets over its real tokens. Metadata lives in the .npz beside the table."""

    package = "numpy"
    distribution = "numpy"
    extra = "bucketsum"
    shared_instance = True

    def __init__(self, bundle, threads=None, instances=None):
        super().__init__(bundle, threads, instances)
        self._start_pool()

    def _open(self):
        return dict(np.load(io.BytesIO(self.bundle.read(self.bundle.entry_name))))

    def _metadata(self, instance):
        return {LABELS_KEY: str(instance["labels"]), DIGEST_KEY: str(instance["digest"])}

    def _tensors(self, instance, signature):
        return {t.name: ModelTensor(None, t.dtype) for t in (*signature.inputs, *signature.outputs)}

    def _run(self, instance, signature, inputs):
        rows = instance["table"][inputs["features"]].sum(axis=2)
        return {"logits": (rows * inputs["mask"][..., None]).sum(axis=1).astype(np.float32)}
'''


def _distribution(root: Path, name: str, entry: str) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry}\n", encoding="utf-8")


def _bucketsum_model(table: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, table=table, labels=np.array(json.dumps(LABELS)), digest=np.array(FEATURIZER.digest()))
    return buffer.getvalue()


def test_a_plugin_backend_runs_its_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "site").mkdir()
    _distribution(tmp_path / "site", "nl_bucketsum_plugin", "bucketsum = nl_bucketsum_plugin:BucketSumBackend")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    table = np.random.default_rng(0).normal(size=(FEATURIZER.num_buckets, len(LABELS))).astype(np.float32)
    bundle = write_bundle(tmp_path / "b", "bucketsum", "model.npz", _bucketsum_model(table))
    try:
        assert "bucketsum" in backend_names() and "bucketsum" in backend_formats()
        predictor = load(bundle)  # the manifest's format names the plugin: found through its entry point
        assert type(predictor.backend).__name__ == "BucketSumBackend" and predictor.backend.name == "bucketsum"
        batch = BloomFeaturizer(FEATURIZER)(TEXTS)
        expected = (table[batch.features].sum(axis=2) * batch.mask[..., None]).sum(axis=1)
        np.testing.assert_allclose(predictor.logits(TEXTS), expected, rtol=1e-5, atol=1e-5)
        assert "bucketsum" in runnable_formats()
    finally:
        _BACKENDS.pop("bucketsum", None)
        sys.modules.pop("nl_bucketsum_plugin", None)


def test_a_broken_plugin_backend_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "site").mkdir()
    _distribution(tmp_path / "site", "nl_broken_backend", "brokenfmt = nl_broken_backend:NoSuchClass")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    try:
        assert "brokenfmt" in backend_formats()  # listed without being loaded: the CLI still starts
        with pytest.raises(BackendUnavailableError, match=r"^runtime backend plugin 'brokenfmt' "
                                                          r"\(nl_broken_backend:NoSuchClass\): cannot be loaded"):
            backend_class("brokenfmt")
    finally:
        sys.modules.pop("nl_broken_backend", None)


def test_a_backend_registered_in_code_is_found(tmp_path: Path) -> None:
    """register_backend from outside the package (no entry point): the registry takes it."""
    from neurolite_sdk.runtime import register_backend

    try:
        register_backend("mirror")(type("MirrorBackend", (NullBackend,), {"any_format": False}))
        assert "mirror" in backend_names() and "mirror" in backend_formats()
        predictor = load(write_bundle(tmp_path / "b", "mirror", "model.bin", b"x"))
        assert predictor.backend.name == "mirror" and len(predictor.predict(TEXTS)) == len(TEXTS)
    finally:
        _BACKENDS.pop("mirror", None)


def test_formats_come_from_the_registry() -> None:
    formats = backend_formats()
    assert {"onnx", "executorch", "coreml", "tflite"} <= set(formats)
    assert ("coreml" in runnable_formats()) == (sys.platform == "darwin")
