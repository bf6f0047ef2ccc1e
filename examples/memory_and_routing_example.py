"""Memory and routing on real data: a SNIPS intent model that also remembers what the user said.

1. Train ``tiny`` on SNIPS (seven intents) with mixture-of-experts routing (4 experts, top-2, in every
   block) and the hierarchical memory on; report each block's expert utilization on SNIPS test.
2. Teach the memory to find facts by name (``training/memory_retrieval.py``: the query and key
   projections only, on generated "NAME lives in CITY" facts; the encoder and the intent head are frozen).
3. Export to ONNX (parity: logits and every memory output against PyTorch), load the bundle with the
   torch-free runtime and hold a conversation in a ``predictor.session()``: tell it facts, ask about a
   person, see which remembered text it read most; save the session's memory, restore it, ask again.
4. Score SNIPS test through the bundle (stateless ``predict``) and 100 generated facts through a session.

    .venv/bin/python examples/memory_and_routing_example.py [--out runs/memory-routing] [--rows 3000]

About 4 minutes on two busy cores. Data: SNIPS from ``neurolite_sdk.public_data``. Retrieval needs an encoder
that keeps names apart: this routed one, trained from scratch on intents, finds 11% of 100 generated facts
(the pretrained `tiny` encoder, without routing: 94%; benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from neurolite_sdk.exporters import ParityTexts, export_bundle
from neurolite_sdk.modeling.routing import expert_utilization
from neurolite_sdk.public_data import data_path
from neurolite_sdk.runtime import Predictor, load
from neurolite_sdk.runtime.memory import Session
from neurolite_sdk.training.checkpoint import load_checkpoint, save_checkpoint
from neurolite_sdk.training.data import load_dataset
from neurolite_sdk.training.memory_retrieval import (
    Step,
    evaluate_retrieval,
    generate_people,
    torch_step,
    train_retrieval,
)
from neurolite_sdk.training.pipeline import TrainJob, run_training

SETTINGS = {"use_dynamic_routing": True, "num_experts": 4, "routing_top_k": 2, "use_external_memory": True}
CONVERSATION = ["Alice is an engineer living in Paris", "Bob plays the cello in an orchestra in Vienna",
                "Carmen lives in Lisbon and loves jazz"]
QUESTIONS = ["Where does Alice live?", "play some jazz for Carmen", "what does Bob play"]


def main() -> None:
    parser = argparse.ArgumentParser(description="SNIPS with routing and memory, exported and run with a session.")
    parser.add_argument("--out", type=Path, default=Path("runs/memory-routing"))
    parser.add_argument("--rows", type=int, default=3000, help="SNIPS training rows (the first N)")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    trained, remembering, bundle = args.out / "snips", args.out / "snips-memory", args.out / "onnx"

    started = time.perf_counter()
    run_training(TrainJob(train_path=data_path("snips", "train"), eval_path=data_path("snips", "valid"),
                          out_dir=trained, epochs=args.epochs, distill=False, init="scratch", max_rows=args.rows,
                          overwrite=True, overrides=SETTINGS))
    checkpoint = load_checkpoint(trained)
    model = checkpoint.model.eval()
    test = load_dataset(data_path("snips", "test"))
    print(f"1. trained on {args.rows} SNIPS rows in {time.perf_counter() - started:.0f} s")
    batches = [model.neurolite.featurize(test.texts[i:i + 128]) for i in range(0, len(test), 128)]
    for layer, shares in enumerate(expert_utilization(model, batches)):
        print(f"   block {layer}: experts get " + ", ".join(f"{share:.1%}" for share in shares) + " of routing slots")

    people = generate_people(100, seed=1)
    before = evaluate_retrieval(torch_step(model), people, model.config.memory_short_term_size).top1
    losses = train_retrieval(model, generate_people(2000, seed=2, exclude=people), steps=1000)
    after = evaluate_retrieval(torch_step(model), people, model.config.memory_short_term_size).top1
    print(f"2. retrieval training: loss {losses[0]:.2f} -> {np.mean(losses[-50:]):.2f}; 100 stored facts, question "
          f"reads its own fact first: {before:.0%} before, {after:.0%} after")
    save_checkpoint(remembering, model, checkpoint.labels, checkpoint.training, overwrite=True)

    texts = ParityTexts(test.texts[:128], "SNIPS test (first 128 texts)")
    result = export_bundle(load_checkpoint(remembering), "onnx", bundle, texts=texts, overwrite=True)
    worst_memory = max(s["max_abs_memory"] for s in result.parity["signatures"].values())
    print(f"3. ONNX bundle: parity {result.parity['status']}, max |dlogit| {result.parity['max_abs_logit']:.1e}, "
          f"max |dmemory| {worst_memory:.1e}")
    predictor = load(bundle)
    session = predictor.session()
    told: list[str] = []
    for text in CONVERSATION:
        session.predict([text])
        told.append(text)
    for question in QUESTIONS:
        prediction = session.predict([question], update_memory=False)[0]
        print(f"   {question!r}: intent {prediction.label} ({prediction.score:.2f}); read most: "
              f"{_most_read(session, told)!r}")
    saved = session.save(args.out / "memory.safetensors")
    restored = predictor.session(saved)
    answer = restored.predict([QUESTIONS[0]], update_memory=False)[0]
    print(f"   restored from {saved.name}: {QUESTIONS[0]!r} still reads {_most_read(restored, told)!r} "
          f"(intent {answer.label})")

    predictions = predictor.predict(test.texts)
    accuracy = np.mean([p.label == gold for p, gold in zip(predictions, test.labels, strict=True)])
    retrieval = evaluate_retrieval(_session_step(predictor), people, model.config.memory_short_term_size)
    print(f"4. SNIPS test accuracy through the bundle: {accuracy:.2%} ({len(test)} texts); 100 generated facts "
          f"through a runtime session: {retrieval.top1:.0%} read their own fact first")


def _most_read(session: Session, told: list[str]) -> str:
    """The told text whose key sits in the slot the last question read most (keys are compared, not stored)."""
    slot = int(np.argmax(session.attention))
    keys = session.state["keys"][0]
    for text in told:  # each told text's key: run it alone against an empty memory
        probe = session.predictor.session()
        probe.predict([text])
        if np.allclose(probe.state["keys"][0, 0], keys[slot], atol=1e-5):
            return text
    return "(nothing told)"


def _session_step(predictor: Predictor) -> Step:
    session = predictor.session()

    def step(text: str, write: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        session.predict([text], update_memory=write)
        return session.attention, {name: value[0] for name, value in session.state.items()}

    return step


if __name__ == "__main__":
    main()
