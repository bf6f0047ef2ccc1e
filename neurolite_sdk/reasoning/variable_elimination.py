"""Exact posterior marginals of a discrete Bayesian network by variable elimination.

A factor is a table with one axis per variable. Each CPT is a factor over its parents and its node;
hard evidence slices the observed axis away, soft (virtual) evidence multiplies the node's axis by its
likelihood vector. Eliminating a variable multiplies the factors that mention it and sums it out (one
``numpy.einsum``). The order is greedy min-fill (fewest new edges in the interaction graph, then the
smallest factor created), chosen before any arithmetic so that a network too dense for exact
inference is refused with the factor it would need, rather than running out of memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from neurolite_sdk.reasoning.errors import BayesError

MAX_FACTOR_SIZE = 1 << 22
"""Default bound on the entries of any factor built during elimination (4M float64 = 32 MiB)."""

Factor = tuple[tuple[int, ...], np.ndarray]


def _initial_factors(nodes: Sequence[int], cpts: Sequence[np.ndarray], parents: Sequence[tuple[int, ...]],
                     hard: Mapping[int, int], soft: Mapping[int, np.ndarray]) -> list[Factor]:
    factors: list[Factor] = []
    for node in nodes:
        scope, table = (*parents[node], node), cpts[node]
        if node in soft:
            table = table * soft[node]  # broadcasts over the last axis: the node's own
        if any(v in hard for v in scope):
            table = table[tuple(hard[v] if v in hard else slice(None) for v in scope)]
            scope = tuple(v for v in scope if v not in hard)
        factors.append((scope, table))
    return factors


def elimination_order(scopes: Sequence[tuple[int, ...]], keep: int, cards: Sequence[int],
                      max_factor_size: int, names: Sequence[str]) -> list[int]:
    """Greedy min-fill order over every variable in ``scopes`` except ``keep``.

    Raises ``BayesError`` naming the scope if the variable the heuristic picks next would build a
    factor of more than ``max_factor_size`` entries (ties in fill-in go to the smaller factor).
    """
    neighbours: dict[int, set[int]] = {}
    for scope in scopes:
        for v in scope:
            neighbours.setdefault(v, set()).update(scope)
    for v, adjacent in neighbours.items():
        adjacent.discard(v)
    order: list[int] = []
    remaining = set(neighbours) - {keep}
    while remaining:
        def cost(v: int) -> tuple[int, int, int]:
            adjacent = neighbours[v]
            fill = sum(1 for a in adjacent for b in adjacent if a < b and b not in neighbours[a])
            return fill, int(np.prod([cards[u] for u in adjacent | {v}], dtype=np.float64)), v
        best = min(remaining, key=cost)
        size = cost(best)[1]
        if size > max_factor_size:
            scope = ", ".join(names[u] for u in sorted(neighbours[best] | {best}))
            raise BayesError(f"exact inference needs a factor of {size} entries (over {scope}), above "
                             f"max_factor_size={max_factor_size}; use likelihood weighting (method='lw')")
        adjacent = neighbours.pop(best)
        for a in adjacent:
            neighbours[a].discard(best)
            neighbours[a].update(adjacent - {a})
        remaining.discard(best)
        order.append(best)
    return order


def _multiply_out(factors: Sequence[Factor], eliminate: int | None) -> Factor:
    """The product of ``factors``, with ``eliminate`` (if any) summed out, rescaled to max 1."""
    variables = sorted({v for scope, _ in factors for v in scope})
    label = {v: i for i, v in enumerate(variables)}  # einsum's sublist labels must be small integers
    kept = tuple(v for v in variables if v != eliminate)
    operands: list[object] = []
    for scope, table in factors:
        operands += [table, [label[v] for v in scope]]
    result = np.einsum(*operands, [label[v] for v in kept])
    peak = result.max(initial=0.0)
    return kept, (result / peak if peak > 0 else result)  # scale is irrelevant: we normalize at the end


def posterior(query: int, nodes: Sequence[int], cpts: Sequence[np.ndarray],
              parents: Sequence[tuple[int, ...]], hard: Mapping[int, int], soft: Mapping[int, np.ndarray],
              names: Sequence[str], max_factor_size: int = MAX_FACTOR_SIZE) -> np.ndarray:
    """P(query | evidence) over ``nodes`` (the query, the evidence and their ancestors suffice).

    ``hard`` maps node -> observed state index; ``soft`` maps node -> likelihood per state.
    """
    cards = [cpt.shape[-1] for cpt in cpts]
    factors = _initial_factors(nodes, cpts, parents, hard, soft)
    for variable in elimination_order([s for s, _ in factors], query, cards, max_factor_size, names):
        touching = [f for f in factors if variable in f[0]]
        factors = [f for f in factors if variable not in f[0]] + [_multiply_out(touching, variable)]
    _, table = _multiply_out(factors, None)  # every factor left is over the query alone, or a scalar
    total = table.sum()
    if not total > 0:
        raise BayesError("the evidence has probability zero under this network, so no posterior exists")
    return table / total
