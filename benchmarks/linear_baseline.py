"""The floor a neural model must clear: TF-IDF (word 1-2, char 2-5 grams) + logistic regression.

    python benchmarks/linear_baseline.py

Prints accuracy on SST-2 dev and SNIPS test and the fit time, using the same linear model that
``neurolite train --distill`` fits as its teacher.
"""

from __future__ import annotations

import platform
import time

import numpy as np
import sklearn
from scipy.sparse import hstack

from neurolite_sdk.public_data import data_dir
from neurolite_sdk.training.data import encode_labels, load_dataset
from neurolite_sdk.training.teacher import fit_linear_model

DATA = data_dir()
TASKS = {"SST-2 dev": (DATA / "sst2" / "train.tsv", DATA / "sst2" / "dev.tsv"),
         "SNIPS test": (DATA / "snips" / "train", DATA / "snips" / "test")}


def main() -> None:
    machine = platform.processor() or platform.machine()
    print(f"python {platform.python_version()}, scikit-learn {sklearn.__version__}, {machine}")
    for task, (train_path, eval_path) in TASKS.items():
        train, held = load_dataset(train_path), load_dataset(eval_path)
        names = sorted(set(train.labels))
        y, y_held = np.asarray(encode_labels(train, names)), np.asarray(encode_labels(held, names))
        started = time.perf_counter()
        word, char, classifier = fit_linear_model(train.texts, y, seed=0, c=4.0)
        seconds = time.perf_counter() - started
        predicted = classifier.predict(hstack([word.transform(held.texts), char.transform(held.texts)]).tocsr())
        accuracy = np.mean(predicted == y_held) * 100
        print(f"{task}: accuracy {accuracy:.2f}% (fit {seconds:.1f} s on {len(train):,} rows)")


if __name__ == "__main__":
    main()
