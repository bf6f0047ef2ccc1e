"""Hierarchical memory (issue 17): config checks, what each level stores, padding and batch invariance on
real text, the state's shape checks, the defaults that leave old models alone; then the ONNX export's
parity (logits and memory outputs) and the runtime's sessions: the state carried like PyTorch's, its
safetensors round trip, and the refusal of a state of another shape or model or a damaged file. LiteRT,
ExecuTorch and Core ML exports: tests/test_memory_export.py. Last, retrieval of generated facts about names
the retrieval training never saw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neurolite_sdk.config import ConfigError, NeuroLiteConfig
from neurolite_sdk.exporters import ExportResult, ParityTexts, export_bundle
from neurolite_sdk.modeling.memory import STATE
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.public_data import data_path
from neurolite_sdk.runtime import PredictionInputError, load
from neurolite_sdk.runtime.memory import MemoryStateError, Session
from neurolite_sdk.training.checkpoint import Checkpoint
from neurolite_sdk.training.memory_retrieval import evaluate_retrieval, generate_people, torch_step, train_retrieval

MEMORY = dict(num_buckets=1024, embedding_dim=32, hidden_size=48, num_mixer_layers=2, max_length=64,
              token_mixing_dim=16, channel_mixing_dim=64, use_external_memory=True, memory_dim=16,
              memory_short_term_size=3, memory_long_term_size=5, memory_persistent_size=2)


def sst2_texts(n: int) -> list[str]:
    lines = data_path("sst2", "dev.tsv").read_text(encoding="utf-8").splitlines()[1:n + 1]
    return [line.split("\t")[0] for line in lines]


def memory_model(**overrides: object) -> NeuroLiteForClassification:
    torch.manual_seed(0)
    return NeuroLiteForClassification(NeuroLiteConfig(**{**MEMORY, **overrides}), num_labels=3).eval()


def run_session(model: NeuroLiteForClassification, texts: list[str]) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Each text at batch 1, writing, the state carried from call to call."""
    state, outputs = None, []
    with torch.no_grad():
        for text in texts:
            output = model(input_texts=[text], memory=state, update_memory=True)
            state = output["memory"]
            outputs.append(output)
    return state, outputs


@pytest.mark.parametrize(("field", "value", "message"), [
    ("novelty_threshold_ltm", 1.5, "novelty_threshold_ltm: must be in [0, 1], got 1.5"),
    ("novelty_threshold_pm", -0.1, "novelty_threshold_pm: must be in [0, 1], got -0.1"),
    ("memory_long_term_size", 0, "memory_long_term_size: must be a positive integer, got 0"),
    ("memory_beta", 0.0, "memory_beta: must be > 0, got 0.0"),
])
def test_bad_memory_fields(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        NeuroLiteConfig(**{field: value})


def test_defaults_leave_config_json_and_weights_unchanged() -> None:
    config = NeuroLiteConfig.tiny()
    assert not {k for k in json.loads(config.to_json()) if "memory" in k or "novelty" in k}
    assert not [n for n in NeuroLiteForClassification(config).state_dict() if n.startswith("memory.")]
    written = json.loads(NeuroLiteConfig.tiny(use_external_memory=True).to_json())
    assert written["memory_long_term_size"] == 128 and written["novelty_threshold_ltm"] == 0.9
    assert NeuroLiteConfig.from_json(json.dumps(written)) == NeuroLiteConfig.tiny(use_external_memory=True)
    with pytest.raises(ValueError, match="this model has no memory"):
        NeuroLiteForClassification(config)(input_texts=["a"], update_memory=True)


def test_levels_store_what_the_design_says() -> None:
    """Short-term is a ring of every text; long-term takes only novel items (a repeat is not stored again);
    persistent takes a long-term item once reads have used it enough; a text with no token writes nothing."""
    model = memory_model(novelty_threshold_ltm=0.999)
    texts = sst2_texts(4)
    state, _ = run_session(model, texts)
    valid = state["valid"][0]
    assert valid[:3].tolist() == [1.0, 1.0, 1.0] and state["cursor"][0].argmax().item() == 4 % 3
    assert valid[3:8].sum().item() == 4  # four distinct texts, each novel at this threshold
    repeated, _ = run_session(model, texts + [texts[0]])
    assert repeated["valid"][0, 3:8].sum().item() == 4  # the repeat matched its own key (cosine 1)
    assert torch.equal(repeated["keys"][0, 4 % 3], repeated["keys"][0, 3])  # ...but entered the ring
    unchanged, _ = run_session(model, texts + ["", "   "])
    for name in STATE:
        assert torch.equal(unchanged[name], state[name]), name
    # reads add use; the most used long-term item is consolidated into persistent memory once it reaches 1
    queries, _ = run_session(model, texts + [texts[1]] * 6)
    assert queries["valid"][0, 8:].sum().item() >= 1
    promoted = queries["keys"][0, 8]
    assert any(torch.allclose(promoted, queries["keys"][0, j]) for j in range(3, 8))
    # a lower threshold stores fewer items, every pair of them below it in cosine
    strict, _ = run_session(memory_model(novelty_threshold_ltm=0.3), sst2_texts(5))
    stored = strict["keys"][0, 3:8][strict["valid"][0, 3:8] == 1]
    cosine = stored @ stored.T
    assert 1 <= len(stored) < 5 and (cosine - torch.eye(len(stored)) * 9).max().item() < 0.3


def test_ring_overwrites_the_oldest_and_capacity_is_fixed() -> None:
    model = memory_model()
    texts = sst2_texts(7)
    state, _ = run_session(model, texts)
    assert state["keys"].shape == (1, 10, 16)
    last = run_session(model, texts[-1:])[0]["keys"][0, 0]
    assert torch.allclose(state["keys"][0, (7 - 1) % 3], last)  # text 7 went to slot (7 - 1) mod 3


def test_reading_memory_changes_the_output_and_update_false_keeps_the_state() -> None:
    model = memory_model()
    state, _ = run_session(model, sst2_texts(5))
    query = sst2_texts(6)[5:]
    with torch.no_grad():
        empty = model(input_texts=query)
        full = model(input_texts=query, memory=state)
    assert not torch.allclose(empty["logits"], full["logits"], atol=1e-5)
    assert full["memory_attention"][0, state["valid"][0] == 0].abs().max().item() == 0.0
    assert abs(full["memory_attention"].sum().item() - 1.0) < 1e-5
    for name in STATE:
        assert torch.equal(full["memory"][name], state[name]), name


def test_padding_and_batch_invariance_with_memory() -> None:
    """Each row with its own state: batched and padded calls give every row what it gets alone."""
    model = memory_model()
    texts = sst2_texts(12)
    states = [run_session(model, texts[i:i + 3])[0] for i in range(0, 9, 3)]  # three different memories
    queries = texts[9:12]
    with torch.no_grad():
        alone = [model(input_texts=[q], memory=s, update_memory=True) for q, s in zip(queries, states, strict=True)]
        features, mask = model.neurolite.featurize(queries)
        extra = model.config.max_length - mask.shape[1]
        assert extra > 0 and mask.sum(1).min() < mask.shape[1]  # padded tokens within rows, then more
        padded_f = torch.cat([features, torch.zeros(3, extra, features.shape[2], dtype=torch.int32)], dim=1)
        padded_m = torch.cat([mask, torch.zeros(3, extra)], dim=1)
        stacked = {name: torch.cat([s[name] for s in states]) for name in STATE}
        batched = model(padded_f, padded_m, memory=stacked, update_memory=True)
    for i, single in enumerate(alone):
        assert torch.allclose(batched["logits"][i], single["logits"][0], atol=1e-5)
        assert torch.allclose(batched["memory_attention"][i], single["memory_attention"][0], atol=1e-6)
        for name in STATE:
            assert torch.allclose(batched["memory"][name][i], single["memory"][name][0], atol=1e-6), name


def test_wrong_state_shape_names_both_shapes() -> None:
    model = memory_model()
    other = memory_model(memory_long_term_size=9)
    state, _ = run_session(other, sst2_texts(2))
    with pytest.raises(ValueError, match=r"memory\['keys'\]: shape \(1, 14, 16\), this model's memory needs "
                                         r"\(1, 10, 16\)"):
        model(input_texts=["hello"], memory=state)


# ---------------------------------------------------------------------------- export and runtime sessions
@pytest.fixture(scope="module")
def onnx_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, NeuroLiteForClassification, ExportResult]:
    """The memory model exported to ONNX, parity (logits and every memory output) checked on SST-2 dev."""
    pytest.importorskip("onnxruntime")
    model = memory_model(max_length=32)
    checkpoint = Checkpoint(model=model, labels=["a", "b", "c"])
    out = tmp_path_factory.mktemp("memory-onnx") / "bundle"
    result = export_bundle(checkpoint, "onnx", out, texts=ParityTexts(sst2_texts(80), "sst2 dev (80 texts)"))
    return out, model, result


def test_onnx_export_parity_covers_logits_and_memory(onnx_bundle) -> None:
    _, _, result = onnx_bundle
    parity = result.parity
    assert parity["status"] == "passed" and parity["max_abs_logit"] <= 1e-4 and parity["top1_agreement"] == 1.0
    assert all(s["max_abs_memory"] <= 1e-4 for s in parity["signatures"].values())
    manifest = json.loads((onnx_bundle[0] / "manifest.json").read_text(encoding="utf-8"))
    inputs = [t["name"] for t in manifest["signatures"][0]["inputs"]]
    assert inputs[2:] == ["memory_keys", "memory_values", "memory_valid", "memory_usage", "memory_cursor",
                          "memory_write"]
    assert [t["shape"] for t in manifest["signatures"][0]["outputs"]][1:3] == [["batch", 10], ["batch", 10, 16]]


def test_session_carries_the_state_like_pytorch(onnx_bundle) -> None:
    path, model, _ = onnx_bundle
    predictor = load(path)
    texts = sst2_texts(20)[12:20]
    session = predictor.session()
    predictions = session.predict(texts)
    state, outputs = run_session(model, texts)
    for name in STATE:
        np.testing.assert_allclose(session.state[name], state[name].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(session.attention, outputs[-1]["memory_attention"][0].numpy(), atol=1e-5, rtol=0)
    for prediction, output in zip(predictions, outputs, strict=True):
        expected = torch.softmax(output["logits"][0].double(), dim=0).numpy()
        np.testing.assert_allclose(list(prediction.probabilities.values()), expected, atol=1e-5, rtol=0)
    # update_memory=False reads without writing; plain predict is stateless (an empty memory)
    before = {name: value.copy() for name, value in session.state.items()}
    session.predict(texts[:2], update_memory=False)
    assert all(np.array_equal(before[name], session.state[name]) for name in STATE)
    with torch.no_grad():
        empty = torch.softmax(model(input_texts=texts[:1])["logits"][0].double(), dim=0).numpy()
    np.testing.assert_allclose(list(predictor.predict(texts[:1])[0].probabilities.values()), empty, atol=1e-5)


def test_session_state_round_trip(onnx_bundle, tmp_path: Path) -> None:
    predictor = load(onnx_bundle[0])
    session = predictor.session()
    session.predict(sst2_texts(6))
    saved = session.save(tmp_path / "state.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.safetensors"]  # no temporary left behind
    with pytest.raises(MemoryStateError, match="no-such-dir/state.safetensors: cannot write the memory state"):
        session.save(tmp_path / "no-such-dir" / "state.safetensors")
    restored = predictor.session(saved)
    for name in STATE:
        assert np.array_equal(restored.state[name], session.state[name]), name
    text = sst2_texts(7)[6:]
    assert session.predict(text) == restored.predict(text)
    for name in STATE:
        assert np.array_equal(restored.state[name], session.state[name]), name


def test_bad_state_files_are_refused_by_name(onnx_bundle, tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    predictor = load(onnx_bundle[0])
    good = predictor.session()
    good.predict(sst2_texts(2))
    path = good.save(tmp_path / "good.safetensors")
    header = {"format": "neurolite-memory-state", "version": "1", "model": predictor.memory.model_id}
    other = {name: np.zeros((14, 16) if name in ("keys", "values") else (14,), dtype=np.float32) for name in STATE}
    save_file(other, str(tmp_path / "other.safetensors"), metadata=header)
    with pytest.raises(MemoryStateError, match=r"other.safetensors: memory keys has shape \(14, 16\) \(float32\), "
                                               r"this model's memory needs \(10, 16\)"):
        Session.load(tmp_path / "other.safetensors", predictor)
    same_shape = {name: good.state[name][0] for name in STATE}
    save_file(same_shape, str(tmp_path / "foreign.safetensors"), metadata={**header, "model": "0123456789abcdef"})
    with pytest.raises(MemoryStateError, match="foreign.safetensors: a memory state of model '0123456789abcdef'"):
        Session.load(tmp_path / "foreign.safetensors", predictor)
    data = path.read_bytes()
    for name, damaged in (("truncated", data[:len(data) // 2]), ("garbage", b"\x00" * 40), ("empty", b"")):
        (tmp_path / name).write_bytes(damaged)
        with pytest.raises(MemoryStateError, match=f"{name}: not a readable memory state file") as error:
            Session.load(tmp_path / name, predictor)
        assert "\n" not in str(error.value)
    with pytest.raises(PredictionInputError, match="memory_keys"):  # run() with a misshapen state names the input
        batch = predictor.featurize(["x"])
        predictor.run({"features": batch.features, "mask": batch.mask,
                       **predictor.memory.inputs({**predictor.memory.empty(), "keys": np.zeros((1, 3, 16), np.float32)},
                                                 np.ones(1))})



def test_bench_runner_times_a_memory_bundle(onnx_bundle) -> None:
    """neurolite bench's graph call feeds a memory graph an empty memory (it measures the graph, not a session)."""
    from neurolite_sdk.benchmarks.worker import BundleRunner

    case = {"path": str(onnx_bundle[0]), "texts": [" ".join(sst2_texts(3))]}
    runner = BundleRunner(case, 1)
    runner.load(case)
    outputs = runner.graph_call(16, 2)()
    assert outputs["logits"].shape == (2, 3) and outputs["next_memory_valid"].sum() == 0

# ---------------------------------------------------------------------------- retrieval on generated facts
def test_generated_people_are_deterministic_and_exclude_names() -> None:
    test = generate_people(40, seed=1)
    assert test == generate_people(40, seed=1) and len({p.name for p in test}) == 40
    assert not {p.name for p in generate_people(400, seed=2, exclude=test)} & {p.name for p in test}


def test_retrieval_training_finds_facts_about_unseen_names() -> None:
    """The pretrained tiny encoder with memory: before training, the question's most-read slot is about
    chance; after a short contrastive training of the query/key projections on other names, most questions
    read their own fact first (benchmarks/memory_retrieval.py measures the 100-fact target)."""
    from neurolite_sdk.training.pretrain import load_encoder

    torch.manual_seed(0)
    config = NeuroLiteConfig.tiny(use_external_memory=True, memory_short_term_size=4, memory_long_term_size=48,
                                  memory_persistent_size=4)
    model = NeuroLiteForClassification(config, num_labels=2)
    load_encoder(model, Path(__file__).resolve().parents[1] / "neurolite_sdk" / "pretrained" / "tiny")
    model.eval()
    encoder = {k: v.clone() for k, v in model.neurolite.state_dict().items()}
    test = generate_people(40, seed=1)
    before = evaluate_retrieval(torch_step(model), test, short_term_size=4)
    losses = train_retrieval(model, generate_people(400, seed=2, exclude=test), steps=500, episode=40)
    after = evaluate_retrieval(torch_step(model), test, short_term_size=4)
    assert before.top1 <= 0.2 and after.top1 >= 0.6, (before, after)  # measured: 0.025 and 0.70
    assert after.stored_long_term == 40 and losses[-1] < losses[0] / 3
    assert all(torch.equal(v, model.neurolite.state_dict()[k]) for k, v in encoder.items())  # encoder frozen
