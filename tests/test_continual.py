"""The continual-learning adapter (issue 17): reservoir sampling is uniform, Page-Hinkley finds a known
change point and stays quiet without one, and `neurolite train --continue` on SNIPS changes only the
adapter and the head, learns the new intents and keeps the replay buffer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy import stats

from neurolite_sdk.cli import main as cli_main
from neurolite_sdk.training.checkpoint import load_checkpoint
from neurolite_sdk.training.continual import (
    ContinualError,
    PageHinkley,
    ReservoirBuffer,
    continue_training,
    load_replay,
)
from neurolite_sdk.training.data import load_dataset
from neurolite_sdk.training.pipeline import TrainJob, run_training

SMALL = dict(num_buckets=1024, embedding_dim=32, hidden_size=32, num_mixer_layers=1, max_length=24,
             token_mixing_dim=16, channel_mixing_dim=64, use_continual_adapter=True, continual_adapter_dim=16,
             continual_adapter_buffer_size=120, continual_adapter_rate=0.003)
OLD, NEW = ("GetWeather", "PlayMusic"), ("RateBook",)


def test_reservoir_is_uniform() -> None:
    """Every position of a 200-item stream ends in a 20-slot reservoir with probability 1/10: over 3,000
    seeded runs the inclusion counts pass a chi-square test of uniformity, and the mean is 300."""
    counts = np.zeros(200)
    rng = np.random.default_rng(7)
    for _ in range(3000):
        buffer = ReservoirBuffer(20, seed=int(rng.integers(2**31)))
        buffer.extend(range(200))
        assert len(buffer) == 20 and len(set(buffer.items)) == 20
        counts[buffer.items] += 1
    assert counts.sum() == 3000 * 20
    assert stats.chisquare(counts).pvalue > 0.01
    # the first and the last items are not favoured (the failure of "keep the first k" or "keep the last k")
    assert abs(counts[:20].mean() - 300) < 30 and abs(counts[-20:].mean() - 300) < 30
    short = ReservoirBuffer(50)
    short.extend(range(10))
    assert short.items == list(range(10)) and short.seen == 10


def test_reservoir_round_trip_and_bad_files() -> None:
    buffer = ReservoirBuffer(3, seed=1)
    buffer.extend([("a b", "x"), ("c", "y"), ("d", "x"), ("e", "y")])
    again = ReservoirBuffer.from_json(buffer.to_json(), "replay.json")
    assert again.items == buffer.items and again.seen == 4 and again.capacity == 3
    with pytest.raises(ContinualError, match="replay.json: not valid JSON|replay.json: .*JSON"):
        ReservoirBuffer.from_json("{not json", "replay.json")
    with pytest.raises(ContinualError, match="replay.json: not a replay buffer"):
        ReservoirBuffer.from_json('{"capacity": 3}', "replay.json")
    with pytest.raises(ContinualError, match="holds 2 items for capacity 1"):
        ReservoirBuffer.from_json('{"capacity": 1, "seen": 2, "items": [{"text": "a", "label": "x"}, '
                                  '{"text": "b", "label": "x"}]}', "replay.json")


def test_page_hinkley_finds_the_change_point() -> None:
    rng = np.random.default_rng(3)
    delays = []
    for trial in range(20):
        detector = PageHinkley(delta=0.5, threshold=25.0)
        stream = np.concatenate([rng.normal(0.0, 1.0, 400), rng.normal(2.0, 1.0, 400)])
        flagged = next((i for i, x in enumerate(stream) if detector.update(float(x))), None)
        assert flagged is not None and flagged >= 400, f"trial {trial}: flagged at {flagged}"
        delays.append(flagged - 400)
    assert max(delays) < 40  # a 2-sigma rise is caught within a few dozen values
    quiet = PageHinkley(delta=0.5, threshold=25.0)
    assert not any(quiet.update(float(x)) for x in rng.normal(0.0, 1.0, 20_000))
    falling = PageHinkley(delta=0.5, threshold=25.0)  # the test is one-sided: a drop is not an increase
    assert not any(falling.update(float(x)) for x in np.concatenate([rng.normal(0, 1, 300), rng.normal(-3, 1, 300)]))


def _snips_tsv(folder: Path, split: str, keep: tuple[str, ...], rows: int, snips_dir: Path) -> Path:
    data = load_dataset(snips_dir / split)
    picked = [(t, lab) for t, lab in zip(data.texts, data.labels, strict=True) if lab in keep]
    rng = np.random.default_rng(0)
    picked = [picked[i] for i in rng.permutation(len(picked))[:rows]]
    path = folder / f"{split}-{'-'.join(keep)}.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{t.strip()}\t{lab}\n" for t, lab in picked), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def phase_one(tmp_path_factory: pytest.TempPathFactory, snips_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("continual")
    out = folder / "ckpt"
    run_training(TrainJob(train_path=_snips_tsv(folder, "train", OLD, 600, snips_dir),
                          eval_path=_snips_tsv(folder, "valid", OLD, 200, snips_dir), out_dir=out, epochs=2,
                          distill=False, init="scratch", overrides=SMALL))
    return out


def test_continue_on_snips(phase_one: Path, tmp_path: Path, snips_dir: Path) -> None:
    buffer = load_replay(phase_one)
    assert len(buffer) == 120 and buffer.seen == 600 and {lab for _, lab in buffer.items} == set(OLD)
    new_train = _snips_tsv(tmp_path, "train", NEW, 300, snips_dir)
    mixed_eval = _snips_tsv(tmp_path, "test", OLD + NEW, 300, snips_dir)
    out = tmp_path / "continued"
    result = CliRunner().invoke(cli_main, ["train", "--continue", str(phase_one), "--train", str(new_train),
                                           "--eval", str(mixed_eval), "--out", str(out), "--epochs", "2",
                                           "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    before, after = load_checkpoint(phase_one), load_checkpoint(out)
    assert after.labels == [*before.labels, "RateBook"]
    # only the adapter, the head and the encoder's norms moved; the head grew by one label
    old_state, new_state = before.model.state_dict(), after.model.state_dict()
    moved = sorted(name for name in new_state if name not in old_state or old_state[name].shape != new_state[name].shape
                   or not torch.equal(old_state[name], new_state[name]))
    norms = ("norm.weight", "norm.bias")  # the encoder's ChannelNorm scales and shifts also adapt
    assert moved and all(name.startswith(("adapter.", "head.")) or name.endswith(norms) for name in moved), moved
    assert "neurolite.projection.table" not in moved and not [n for n in moved if "mixing" in n]
    assert any(name.startswith("adapter.") for name in moved)
    assert set(report["continual_eval_accuracy_by_label"]) == {*OLD, *NEW}
    # the new rows entered the buffer (each of the 900 rows seen is in it with probability 120/900)
    replay = load_replay(out)
    assert replay.seen == 900 and len(replay) == 120 and "RateBook" in {lab for _, lab in replay.items}


def test_replay_keeps_the_old_intents(phase_one: Path, tmp_path: Path, snips_dir: Path) -> None:
    """The same continuation with and without replay: replay keeps the old intents >= 15 points better
    (SNIPS test rows; measured 84% vs 0%), and the new intent is learnt (86%; 100% without replay)."""
    new_data = load_dataset(_snips_tsv(tmp_path, "train", NEW, 300, snips_dir))
    test = load_dataset(_snips_tsv(tmp_path, "test", OLD + NEW, 400, snips_dir))
    scores = {}
    for replay in (True, False):
        checkpoint = load_checkpoint(phase_one)
        labels, _ = continue_training(checkpoint.model, checkpoint.labels, load_replay(phase_one), new_data.texts,
                                      new_data.labels, epochs=2, replay=replay)
        with torch.no_grad():
            predicted = checkpoint.model(input_texts=test.texts)["logits"].argmax(-1).tolist()
        right = np.array([labels[p] == gold for p, gold in zip(predicted, test.labels, strict=True)])
        old = np.array([gold in OLD for gold in test.labels])
        scores[replay] = (right[old].mean(), right[~old].mean())
    assert scores[True][0] >= scores[False][0] + 0.15 and scores[True][1] >= 0.8, scores


def test_the_frozen_encoder_runs_without_dropout_in_every_step(phase_one: Path, tmp_path: Path,
                                                              snips_dir: Path) -> None:
    """Before: the drift check on the first batch restored the model with ``model.train()``, which switched
    the frozen encoder's dropout back on for the rest of the continuation; the adapter and head still
    train with theirs."""
    new_data = load_dataset(_snips_tsv(tmp_path, "train", NEW, 100, snips_dir))
    checkpoint = load_checkpoint(phase_one)
    model = checkpoint.model
    seen: list[tuple[bool, bool]] = []
    dropout = next(m for m in model.neurolite.modules() if isinstance(m, torch.nn.Dropout))
    dropout.register_forward_pre_hook(lambda module, args: seen.append((module.training, model.training)))
    continue_training(model, checkpoint.labels, load_replay(phase_one), new_data.texts, new_data.labels, epochs=2)
    steps = [encoder for encoder, whole in seen if whole]  # the training steps' forward passes
    assert len(steps) >= 2 * 4 and not any(steps), f"{sum(steps)} of {len(steps)} steps ran the encoder in train mode"


def test_continue_needs_an_adapter_and_a_replay_buffer(tmp_path: Path, phase_one: Path, snips_dir: Path) -> None:
    new_train = _snips_tsv(tmp_path, "train", NEW, 50, snips_dir)
    plain = tmp_path / "plain"
    run_training(TrainJob(train_path=_snips_tsv(tmp_path, "train", OLD, 100, snips_dir), eval_path=new_train,
                          out_dir=plain, epochs=1, distill=False, init="scratch",
                          overrides={k: v for k, v in SMALL.items() if "continual" not in k}))
    runner = CliRunner()
    args = ["--train", str(new_train), "--eval", str(new_train), "--out", str(tmp_path / "o")]
    result = runner.invoke(cli_main, ["train", "--continue", str(plain), *args])
    assert result.exit_code != 0 and "use_continual_adapter is false" in result.output
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in phase_one.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    (broken / "replay.json").write_text('{"capacity": "many"', encoding="utf-8")
    result = runner.invoke(cli_main, ["train", "--continue", str(broken), *args])
    assert result.exit_code != 0 and "replay.json" in result.output
    assert not (tmp_path / "o").exists()
