"""A linear teacher for distillation: TF-IDF (word 1-2 grams, char 2-5 grams) + logistic regression.

On SST-2 this linear model is the floor a neural model must clear (docs/design.md); trained in seconds, its
soft probabilities carry n-gram evidence that a 1M-parameter hashed model learns slowly from hard
labels alone. Its training-set probabilities come from k-fold cross-fitting, so the student is
taught what the teacher believes about text it has *not* memorised.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from neurolite_sdk.errors import NeuroLiteError


class TeacherError(NeuroLiteError):
    """A teacher that cannot be built or used; the message says what to do (and the run may go on without)."""


@dataclass
class LinearModel:
    """TF-IDF vectorizers (word and/or char) and the logistic regression over their features."""

    vectorizers: list[TfidfVectorizer]
    classifier: LogisticRegression

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities over ``classifier.classes_`` (the classes present when it was fitted)."""
        return self.classifier.predict_proba(_transform(self.vectorizers, list(texts)))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.classifier.predict(_transform(self.vectorizers, list(texts)))


@dataclass
class LinearTeacher:
    model: LinearModel
    train_probabilities: np.ndarray  # out-of-fold probabilities for each training row (in-sample when noted)
    seconds: float
    notes: list[str] = field(default_factory=list)  # fallbacks taken on small or skewed data, for the user
    description: str = "tfidf(word 1-2, char 2-5) + logistic regression"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities over all ``num_labels`` classes, float32 [N, num_labels]."""
        texts = list(texts)
        probs = np.zeros((len(texts), self.train_probabilities.shape[1]), dtype=np.float32)
        probs[:, self.model.classifier.classes_] = self.model.predict_proba(texts)
        return probs


def _vectorizers(min_df: tuple[int, int] = (2, 3)) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    word = TfidfVectorizer(ngram_range=(1, 2), min_df=min_df[0], sublinear_tf=True, lowercase=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=min_df[1], sublinear_tf=True,
                           max_features=300_000)
    return word, char


def _transform(vectorizers: Sequence[TfidfVectorizer], texts: Sequence[str]):
    return hstack([v.transform(texts) for v in vectorizers]).tocsr()


def _fit_vectorizers(texts: Sequence[str], notes: list[str] | None = None) -> tuple[list[TfidfVectorizer], object]:
    """Word and char TF-IDF; on a few rows the frequency cut-offs fall to 1, and a side with no terms left
    (texts of one-letter words or punctuation) is dropped rather than raising scikit-learn's error."""
    fitted, blocks = [], []
    for strict, loose in zip(_vectorizers(), _vectorizers((1, 1)), strict=True):
        for vectorizer in (strict, loose):
            try:
                blocks.append(vectorizer.fit_transform(texts))
            except ValueError:  # "empty vocabulary" / "After pruning, no terms remain"
                continue
            fitted.append(vectorizer)
            if vectorizer is loose and notes is not None:
                notes.append(f"{'word' if vectorizer.analyzer == 'word' else 'char'} n-grams kept at min_df=1 "
                             "(too few rows for the usual frequency cut-off)")
            break
    if not fitted:
        raise TeacherError("the training texts yield no word or character n-grams for the TF-IDF teacher")
    return fitted, hstack(blocks).tocsr()


def fit_linear_model(texts: Sequence[str], labels: np.ndarray, seed: int, c: float,
                     notes: list[str] | None = None) -> LinearModel:
    """The TF-IDF + LR model fitted on all of ``texts`` (what ``benchmarks/linear_baseline.py`` measures)."""
    vectorizers, matrix = _fit_vectorizers(texts, notes)
    return LinearModel(vectorizers, LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(matrix, labels))


def fit_teacher(texts: Sequence[str], labels: np.ndarray, num_labels: int, seed: int = 0, folds: int = 4,
                c: float = 4.0, label_names: Sequence[str] | None = None) -> LinearTeacher:
    """Fit the teacher; its training-set probabilities are cross-fitted over ``folds`` stratified folds.

    Small or skewed data never crash it: with a class of fewer than ``folds`` rows the folds drop to
    that count, and with a class of a single row (or fewer than 4 rows in all) the probabilities are
    the full model's in-sample ones; each such fallback is named in ``notes``.
    """
    started = time.perf_counter()
    texts, labels = list(texts), np.asarray(labels)
    notes: list[str] = []
    present = np.bincount(labels, minlength=num_labels)
    present = present[present > 0]
    if len(present) < 2:
        raise TeacherError(f"the teacher needs at least two classes in training, found {len(present)}")
    rarest = int(present.min())
    splits = min(folds, rarest)
    out_of_fold = np.zeros((len(texts), num_labels), dtype=np.float32)
    if splits >= 2:
        if splits < folds:
            notes.append(f"cross-fitted over {splits} folds instead of {folds}: the rarest class has {rarest} rows")
        splitter = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
        for fit_rows, held_rows in splitter.split(np.zeros(len(labels)), labels):
            fold = fit_linear_model([texts[i] for i in fit_rows], labels[fit_rows], seed, c)
            held = fold.predict_proba([texts[i] for i in held_rows])
            out_of_fold[np.ix_(held_rows, fold.classifier.classes_)] = held
    model = fit_linear_model(texts, labels, seed, c, notes)
    if splits < 2:
        names = label_names or [str(i) for i in range(num_labels)]
        single = [names[i] for i in np.flatnonzero(np.bincount(labels, minlength=num_labels) == 1)]
        notes.append(f"no cross-fitting: class(es) {', '.join(map(repr, single[:5]))} have a single training row, "
                     "so the teacher's training-set probabilities are in-sample (more confident than it is)")
        out_of_fold[:, model.classifier.classes_] = model.predict_proba(texts)
    return LinearTeacher(model, out_of_fold, time.perf_counter() - started, notes)
