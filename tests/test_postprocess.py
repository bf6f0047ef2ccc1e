"""Bundles with rules and a network: the runtime's facts, proofs and posteriors, alike in every format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from neurolite_sdk.cli import main
from neurolite_sdk.exporters import ExportResult, export_bundle, exporter_formats, parity_texts
from neurolite_sdk.reasoning import BayesianBeliefNetwork, SymbolicRuleEngine
from neurolite_sdk.runtime import BundleError, PredictionInputError, load
from neurolite_sdk.runtime.backends import runnable_formats
from neurolite_sdk.runtime.bundle import MANIFEST_NAME, file_record
from neurolite_sdk.runtime.predictor import Prediction
from neurolite_sdk.training.checkpoint import load_checkpoint
from neurolite_sdk.training.pipeline import TrainJob, run_training

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "rules" / "snips_followups.json"
NETWORK = ROOT / "examples" / "networks" / "snips_dialogue.json"
SMALL = dict(num_buckets=512, embedding_dim=32, hidden_size=32, num_mixer_layers=1, max_length=16,
             token_mixing_dim=16, channel_mixing_dim=64)
# every format with an exporter and a backend that predicts on this platform (Core ML: macOS only)
RUNNABLE = [fmt for fmt in exporter_formats() if fmt in runnable_formats()]


@pytest.fixture(scope="module")
def symbolic_bundles(tmp_path_factory: pytest.TempPathFactory, snips_dir: Path) -> dict[str, ExportResult]:
    """A small SNIPS model with the predicate head, its rules and network, exported to every runnable format."""
    root = tmp_path_factory.mktemp("symbolic")
    run_training(TrainJob(train_path=snips_dir / "train", eval_path=snips_dir / "valid", out_dir=root / "ckpt",
                          epochs=1, distill=False,
                          overrides={**SMALL, "use_symbolic_module": True, "symbolic_rules_file": str(RULES),
                                     "use_bayesian_module": True, "num_bayesian_variables": 1,
                                     "bayesian_network_file": str(NETWORK)}))
    checkpoint = load_checkpoint(root / "ckpt")
    texts = parity_texts(checkpoint)
    return {fmt: export_bundle(checkpoint, fmt, root / fmt, texts=texts) for fmt in RUNNABLE}


@pytest.fixture(scope="module")
def test_texts(snips_dir: Path) -> list[str]:
    return [line.strip() for line in (snips_dir / "test" / "seq.in").read_text(encoding="utf-8").splitlines()][:60]


def test_every_format_reasons_alike(symbolic_bundles: dict[str, ExportResult], test_texts: list[str]) -> None:
    results = {fmt: load(symbolic_bundles[fmt].bundle).predict(test_texts) for fmt in RUNNABLE}
    reference = results["onnx"]
    for fmt, predictions in results.items():
        for row, ref in zip(predictions, reference, strict=True):
            assert row.label == ref.label, fmt
            assert row.facts == ref.facts and row.derived == ref.derived, fmt
            assert row.predicates == pytest.approx(ref.predicates, abs=1e-5)
            for variable, posterior in row.posteriors["posteriors"].items():
                assert posterior == pytest.approx(ref.posteriors["posteriors"][variable], abs=1e-5), fmt
    # the head's facts, not only the label's, reach the rules: some texts assert slot cues
    assert sum(any(f.startswith("slot(") for f in p.facts) for p in reference) >= 10
    assert all(p.posteriors["method"] == "exact" and set(p.posteriors["posteriors"]) == {"AskLocation", "Intent"}
               for p in reference)


def test_runtime_result_is_the_engine_and_network_on_the_prediction(symbolic_bundles: dict[str, ExportResult],
                                                                    test_texts: list[str]) -> None:
    """The runtime's derived facts and posteriors are what the engine and the network give, by hand."""
    engine = SymbolicRuleEngine.from_json(RULES)
    network = BayesianBeliefNetwork.from_json(NETWORK)
    facts = engine.model_facts
    for prediction in load(symbolic_bundles["onnx"].bundle).predict(test_texts[:20]):
        scores = [prediction.predicates[name] for name in facts.predicate_names]
        transient = facts.facts(prediction.label, prediction.score, scores)
        assert prediction.facts == [str(f) for f in transient]
        assert ("uncertain(u)" in prediction.facts) == (prediction.score < 0.6)
        assert prediction.derived == engine.query(transient).to_dict()["derived"]
        evidence = {"Intent": prediction.probabilities,
                    "Located": {"true": scores[2], "false": 1 - scores[2]},
                    "Timed": {"true": scores[0], "false": 1 - scores[0]}}
        assert prediction.posteriors == network.infer(["AskLocation", "Intent"], evidence).to_dict()


def test_manifest_lists_the_files_and_tampering_is_caught(symbolic_bundles: dict[str, ExportResult],
                                                          tmp_path: Path) -> None:
    bundle = symbolic_bundles["onnx"].bundle
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    assert manifest["reasoning"] == {"rules": "rules.json", "network": "network.json"}
    for name in ("rules.json", "network.json"):
        assert manifest["files"][name] == file_record(bundle / name)
    assert json.loads((bundle / "rules.json").read_text()) == json.loads(RULES.read_text())
    copy = tmp_path / "tampered"
    shutil.copytree(bundle, copy)
    text = (copy / "rules.json").read_text()
    (copy / "rules.json").write_text(text.replace("ask(?u, location)", "ask(?u, locality)"))  # same size
    with pytest.raises(BundleError, match=r"tampered/rules\.json: SHA-256 does not match manifest\.json"):
        load(copy)
    (copy / "rules.json").write_text(text[:-10])
    with pytest.raises(BundleError, match=r"tampered/rules\.json: truncated"):
        load(copy)


def test_rules_naming_predicates_the_graph_lacks_are_refused(symbolic_bundles: dict[str, ExportResult],
                                                               tmp_path: Path) -> None:
    copy = tmp_path / "renamed"
    shutil.copytree(symbolic_bundles["onnx"].bundle, copy)
    doc = json.loads((copy / "rules.json").read_text())
    doc["model"]["predicates"][0]["name"] = "weekday"
    (copy / "rules.json").write_text(json.dumps(doc))
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    manifest["files"]["rules.json"] = file_record(copy / "rules.json")  # re-signed: the content is the problem
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"renamed/rules\.json: model\.predicates: the model scores \['time', .*"
                                          r"declares \[.weekday., .*the model has no output for \[.weekday.\]; "
                                          r"the rules file does not declare \[.time.\]"):
        load(copy)


def test_threshold_override(symbolic_bundles: dict[str, ExportResult], test_texts: list[str]) -> None:
    predictor = load(symbolic_bundles["tflite"].bundle)
    strict = predictor.predict(test_texts[:10], threshold=1.0)
    assert all(not any(f.startswith("slot(") for f in p.facts) for p in strict)
    loose = predictor.predict(test_texts[:2], threshold=0.0)
    assert all(sum(f.startswith("slot(") for f in p.facts) == 11 for p in loose)
    for bad in (1.5, -0.1, "high"):
        with pytest.raises(PredictionInputError, match=r"^threshold: must be a number in \[0, 1\]"):
            predictor.predict(test_texts[:1], threshold=bad)


def test_run_json_shows_the_reasoning(symbolic_bundles: dict[str, ExportResult]) -> None:
    result = CliRunner().invoke(main, ["run", str(symbolic_bundles["onnx"].bundle),
                                       "will it rain in texas tomorrow", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert {"label", "score", "probabilities", "truncated", "predicates", "facts", "derived",
            "posteriors"} <= set(row)
    assert row["facts"][0] == f"intent(u, {row['label']})"
    assert all({"fact", "rule", "rule_text", "premises", "absent"} == set(entry) for entry in row["derived"])


def test_prediction_without_reasoning_keeps_its_fields() -> None:
    plain = Prediction(label="a", score=0.9, probabilities={"a": 0.9, "b": 0.1}, truncated=False)
    assert plain.to_dict() == {"label": "a", "score": 0.9, "probabilities": {"a": 0.9, "b": 0.1}, "truncated": False,
                               "empty": False}
