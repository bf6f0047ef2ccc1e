"""The floor a neural model must clear: TF-IDF (word 1-2, char 2-5 grams) + logistic regression.

    python benchmarks/linear_baseline.py [--max-rows 2000] [--task sst2]

Prints accuracy on SST-2 dev and SNIPS test and the fit time, using the same linear model that
``neurolite train --distill`` fits as its teacher. ``--max-rows N`` fits on the first N training rows
only (as ``neurolite train --max-rows N`` trains on them), for the small-data comparison.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import sklearn

from neurolite_sdk.public_data import data_dir
from neurolite_sdk.training.data import encode_eval_labels, encode_labels, load_dataset
from neurolite_sdk.training.teacher import fit_linear_model

DATA = data_dir()
TASKS = {"sst2": ("SST-2 dev", DATA / "sst2" / "train.tsv", DATA / "sst2" / "dev.tsv"),
         "snips": ("SNIPS test", DATA / "snips" / "train", DATA / "snips" / "test")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rows", type=int, default=None, help="fit on the first N training rows only")
    parser.add_argument("--task", choices=sorted(TASKS), action="append", help="default: every task")
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"python {platform.python_version()}, scikit-learn {sklearn.__version__}, {machine}")
    for name in args.task or TASKS:
        task, train_path, eval_path = TASKS[name]
        train, held = load_dataset(train_path), load_dataset(eval_path)
        if args.max_rows is not None:
            train.texts, train.labels = train.texts[: args.max_rows], train.labels[: args.max_rows]
        names = sorted(set(train.labels))
        y, y_held = np.asarray(encode_labels(train, names)), np.asarray(encode_eval_labels(held, names)[0])
        started = time.perf_counter()
        model = fit_linear_model(train.texts, y, seed=0, c=4.0)
        seconds = time.perf_counter() - started
        predicted = model.predict(held.texts)
        accuracy = np.mean(predicted == y_held) * 100
        print(f"{task}: accuracy {accuracy:.2f}% (fit {seconds:.1f} s on {len(train):,} rows"
              f"{'' if args.max_rows is None else ', the first ones'})")


if __name__ == "__main__":
    main()
