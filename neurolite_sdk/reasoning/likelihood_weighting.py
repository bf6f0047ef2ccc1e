"""Approximate posterior marginals by likelihood weighting, vectorized over samples.

All samples advance together through the nodes in topological order: a node's CPT row for every
sample is one fancy-indexing gather, and its state one comparison against the row's cumulative sum.
A node with hard evidence is clamped to its state and the weights multiplied by the probability of
that state; a node with soft (virtual) evidence is sampled from its CPT and the weights multiplied by
the likelihood of the sampled state, which is exactly likelihood weighting on a virtual observed child.
The posterior of a node is the weighted histogram of its states; the effective sample size
``(sum w)^2 / sum w^2`` says how many unweighted samples the estimate is worth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from neurolite_sdk.reasoning.errors import BayesError


def posteriors(queries: Sequence[int], order: Sequence[int], cpts: Sequence[np.ndarray],
               parents: Sequence[tuple[int, ...]], hard: Mapping[int, int], soft: Mapping[int, np.ndarray],
               samples: int, rng: np.random.Generator) -> tuple[dict[int, np.ndarray], float]:
    """(node -> P(node | evidence) estimate for each query, effective sample size).

    ``order`` lists the nodes to sample, parents before children (the queries, the evidence and their
    ancestors suffice). ``hard`` maps node -> observed state index; ``soft`` node -> likelihood vector.
    """
    weights = np.ones(samples)
    states: dict[int, np.ndarray] = {}
    for node in order:
        cpt = cpts[node]
        card = cpt.shape[-1]
        rows = cpt.reshape(-1, card)
        row = np.zeros(samples, dtype=np.intp)
        for parent in parents[node]:  # mixed-radix index of the parents' states, first parent slowest
            row = row * cpts[parent].shape[-1] + states[parent]
        if node in hard:
            weights *= rows[row, hard[node]]
            states[node] = np.full(samples, hard[node], dtype=np.intp)
            continue
        cumulative = np.cumsum(rows, axis=1)[row]  # rows sum to 1; the clip absorbs rounding at the top
        states[node] = np.minimum((rng.random(samples)[:, None] >= cumulative).sum(axis=1), card - 1)
        if node in soft:
            weights *= soft[node][states[node]]
    total = weights.sum()
    if not total > 0:
        raise BayesError(f"every one of the {samples} samples has weight zero: the evidence is impossible, "
                         f"or too unlikely for this many samples")
    estimates = {q: np.bincount(states[q], weights=weights, minlength=cpts[q].shape[-1]) / total
                 for q in queries}
    return estimates, float(total**2 / np.square(weights).sum())
