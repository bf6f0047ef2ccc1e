"""A linear teacher for distillation: TF-IDF (word 1-2 grams, char 2-5 grams) + logistic regression.

On SST-2 this linear model is the floor a neural model must clear (DESIGN.md); trained in seconds, its
soft probabilities carry n-gram evidence that a 1M-parameter hashed model learns slowly from hard
labels alone. Its training-set probabilities come from k-fold cross-fitting, so the student is
taught what the teacher believes about text it has *not* memorised.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold


@dataclass
class LinearTeacher:
    word: TfidfVectorizer
    char: TfidfVectorizer
    classifier: LogisticRegression
    train_probabilities: np.ndarray  # out-of-fold probabilities for each training row
    seconds: float
    description: str = "tfidf(word 1-2, char 2-5) + logistic regression"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.classifier.predict_proba(hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr())


def _vectorizers() -> tuple[TfidfVectorizer, TfidfVectorizer]:
    word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True, max_features=300_000)
    return word, char


def fit_linear_model(texts: Sequence[str], labels: np.ndarray, seed: int, c: float):
    word, char = _vectorizers()
    matrix = hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr()
    classifier = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    classifier.fit(matrix, labels)
    return word, char, classifier


def fit_teacher(texts: Sequence[str], labels: np.ndarray, num_labels: int, seed: int = 0, folds: int = 4,
                c: float = 4.0) -> LinearTeacher:
    started = time.perf_counter()
    texts = list(texts)
    out_of_fold = np.zeros((len(texts), num_labels), dtype=np.float32)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_rows in splitter.split(np.zeros(len(labels)), labels):
        word, char, classifier = fit_linear_model([texts[i] for i in fit_rows], labels[fit_rows], seed, c)
        held = [texts[i] for i in held_rows]
        probs = classifier.predict_proba(hstack([word.transform(held), char.transform(held)]).tocsr())
        out_of_fold[np.ix_(held_rows, classifier.classes_)] = probs
    word, char, classifier = fit_linear_model(texts, labels, seed, c)
    return LinearTeacher(word, char, classifier, out_of_fold, time.perf_counter() - started)
