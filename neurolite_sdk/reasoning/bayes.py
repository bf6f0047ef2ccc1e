"""BayesianBeliefNetwork: discrete variables with named states, explicit CPTs, exact and sampled inference.

A network is immutable once built, and every check runs at construction: unknown or repeated names, a
cycle (named), a CPT of the wrong shape, with a negative entry or a row that does not sum to 1 (the
variable and the row named). Sources: the JSON layout documented by ``bayes.schema.json``
(``from_json``, ``from_dict``), or the NeuroLite config's structure (``from_structure``,
``from_config``: binary variables ``v0..vN-1`` with uniform CPTs until ``fit`` learns them by counting
with a Dirichlet prior).

``infer`` is a pure function of the network, the evidence and (for sampling) the seed. Evidence is
hard (``{"Smoker": "yes"}``) or soft / virtual (``{"Intent": {"GetWeather": 0.8, "PlayMusic": 0.2}}``,
a likelihood per state, e.g. a classifier's probabilities; states left out get likelihood 0). Both
methods accept both: exact variable elimination (default; refused with a clear error above
``max_factor_size``) and likelihood weighting (``method="lw"``), which also reports the effective
sample size. Only the queries, the evidence and their ancestors are visited: other nodes are barren
and cannot change the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from neurolite_sdk.reasoning import likelihood_weighting, variable_elimination
from neurolite_sdk.reasoning.errors import BayesError
from neurolite_sdk.reasoning.json_io import read_json
from neurolite_sdk.reasoning.model_facts import NetworkEvidence

SUM_TOLERANCE = 1e-4
"""How far a CPT row may sum from 1 (rows within it are renormalized exactly)."""
DEFAULT_SAMPLES = 10_000
METHODS = ("exact", "lw")
NETWORK_KEYS = {"name", "description", "variables", "model"}
VARIABLE_KEYS = {"name", "states", "parents", "cpt", "description"}

Evidence = Mapping[str, str | Mapping[str, float]]
"""Variable -> observed state (hard), or variable -> {state: likelihood} (soft / virtual)."""


class NetworkConfig(Protocol):
    """What ``from_config`` reads: the two fields of ``NeuroLiteConfig`` that describe the network."""

    num_bayesian_variables: int
    bayesian_network_structure: Sequence[Sequence[int]]


@dataclass(frozen=True)
class BeliefResult:
    """Posterior marginals per queried variable; for likelihood weighting, the sample counts too."""

    posteriors: dict[str, dict[str, float]]
    method: Literal["exact", "lw"]
    samples: int | None = None
    effective_sample_size: float | None = None

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"method": self.method, "posteriors": self.posteriors}
        if self.samples is not None:
            entry.update(samples=self.samples, effective_sample_size=self.effective_sample_size)
        return entry


@dataclass(frozen=True, eq=False)
class _Node:
    name: str
    states: tuple[str, ...]
    parents: tuple[str, ...]
    cpt: np.ndarray  # shape (*parent cards, card): one distribution per parent configuration
    description: str | None


class BayesianBeliefNetwork:
    """A discrete Bayesian network; see the module docstring for the contract.

    ``variables`` are entries of the JSON layout: ``{"name", "states", "parents"?, "cpt"?}``, with
    ``cpt`` nested lists shaped ``[parent 1 states]...[parent k states][own states]`` (first parent
    outermost); a missing ``cpt`` is uniform. ``model`` (the file's ``"model"`` section) binds a
    classifier's outputs to variables (``NetworkEvidence``); ``self.model`` is None without one.
    """

    def __init__(self, variables: Sequence[Mapping[str, Any]], *, name: str | None = None,
                 description: str | None = None, model: object = None) -> None:
        if not isinstance(variables, Sequence) or isinstance(variables, str) or not variables:
            raise BayesError("'variables' must be a non-empty list")
        self.name = name
        self.description = description
        specs = [_spec(entry, i) for i, entry in enumerate(variables)]
        self._index: dict[str, int] = {}
        for i, (node_name, _, _, _, _) in enumerate(specs):
            if self._index.setdefault(node_name, i) != i:
                raise BayesError(f"variables[{i}]: variable name {node_name!r} is used twice")
        states_of = {spec[0]: spec[1] for spec in specs}
        for node_name, _, node_parents, _, _ in specs:
            for parent in node_parents:
                if parent not in states_of:
                    raise BayesError(f"variable {node_name!r}: unknown parent {parent!r}")
        self._order = _topological_order({s[0]: s[2] for s in specs})
        self._nodes = tuple(_Node(n, st, pa, _check_cpt(n, st, pa, cpt, states_of), d)
                            for n, st, pa, cpt, d in specs)
        self.model = None if model is None else NetworkEvidence.from_dict(model, states_of)

    @classmethod
    def from_dict(cls, data: object, *, source: str | None = None) -> BayesianBeliefNetwork:
        """Load the JSON layout (already parsed); ``source`` (a file name) prefixes every error."""
        try:
            if not isinstance(data, Mapping):
                raise BayesError(f"expected a JSON object with 'variables', got {type(data).__name__}")
            unknown = sorted(set(data) - NETWORK_KEYS)
            if unknown:
                raise BayesError(f"unknown key(s) {unknown}; expected {sorted(NETWORK_KEYS)}")
            for key in ("name", "description"):
                if not isinstance(data.get(key, ""), str):
                    raise BayesError(f"'{key}' must be a string")
            return cls(data.get("variables", []), name=data.get("name"), description=data.get("description"),
                       model=data.get("model"))
        except BayesError as exc:
            if source is None:
                raise
            raise BayesError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, path: str | Path) -> BayesianBeliefNetwork:
        """Load a network file; malformed JSON is a ``BayesError`` with its line and column."""
        return cls.from_dict(read_json(path, BayesError), source=str(path))

    @classmethod
    def from_structure(cls, num_variables: int, edges: Iterable[Sequence[int]]) -> BayesianBeliefNetwork:
        """Binary variables ``v0..v{n-1}`` (states ``"0"``, ``"1"``), (parent, child) edges, uniform CPTs."""
        if not isinstance(num_variables, int) or num_variables < 1:
            raise BayesError(f"num_bayesian_variables must be a positive integer, got {num_variables!r}")
        parents: list[list[str]] = [[] for _ in range(num_variables)]
        for i, edge in enumerate(edges):
            if (not isinstance(edge, Sequence) or len(edge) != 2
                    or not all(isinstance(v, int) and 0 <= v < num_variables for v in edge)):
                raise BayesError(f"bayesian_network_structure[{i}]: expected a [parent, child] pair of "
                                 f"indices in 0..{num_variables - 1}, got {edge!r}")
            parent, child = edge
            if f"v{parent}" in parents[child] or parent == child:
                raise BayesError(f"bayesian_network_structure[{i}]: edge {list(edge)} is a repeat or a "
                                 f"self-loop")
            parents[child].append(f"v{parent}")
        return cls([{"name": f"v{i}", "states": ["0", "1"], "parents": p} for i, p in enumerate(parents)])

    @classmethod
    def from_config(cls, config: NetworkConfig) -> BayesianBeliefNetwork:
        """A ``NeuroLiteConfig``'s network from its two ``bayesian`` fields."""
        return cls.from_structure(config.num_bayesian_variables, config.bayesian_network_structure)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(node.name for node in self._nodes)

    def states(self, variable: str) -> tuple[str, ...]:
        return self._node(variable).states

    def parents(self, variable: str) -> tuple[str, ...]:
        return self._node(variable).parents

    def cpt(self, variable: str) -> np.ndarray:
        """A copy of the CPT, shaped ``(*parent cards, card)``."""
        return self._node(variable).cpt.copy()

    def fit(self, records: Iterable[Mapping[str, str]], *, alpha: float = 1.0) -> BayesianBeliefNetwork:
        """A network of the same structure whose CPTs are learned from complete ``records``.

        Each record maps every variable to its observed state. A CPT row is ``(count + alpha) /
        (row total + alpha * states)``: the posterior mean under a symmetric Dirichlet(alpha) prior.
        With ``alpha = 0`` (maximum likelihood) a parent configuration never seen gets a uniform row.
        """
        if not isinstance(alpha, int | float) or not alpha >= 0:
            raise BayesError(f"alpha must be a non-negative number, got {alpha!r}")
        data = self._encode(records)
        entries = []
        for node in self._nodes:
            columns = [self._index[p] for p in node.parents] + [self._index[node.name]]
            shape = node.cpt.shape
            flat = np.ravel_multi_index(tuple(data[:, c] for c in columns), shape)
            counts = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape) + alpha
            totals = counts.sum(axis=-1, keepdims=True)
            cpt = np.divide(counts, totals, out=np.full(shape, 1.0 / shape[-1]), where=totals > 0)
            entries.append(self._entry(node, cpt))
        return BayesianBeliefNetwork(entries, name=self.name, description=self.description,
                                     model=None if self.model is None else self.model.to_dict())

    def infer(self, query: str | Iterable[str] | None = None, evidence: Evidence | None = None, *,
              method: Literal["exact", "lw"] = "exact", samples: int = DEFAULT_SAMPLES,
              seed: int | np.random.Generator | None = None,
              max_factor_size: int = variable_elimination.MAX_FACTOR_SIZE) -> BeliefResult:
        """Posterior marginals of ``query`` (default: every variable without hard evidence).

        ``method="exact"`` runs variable elimination; ``"lw"`` draws ``samples`` weighted samples from
        ``numpy.random.default_rng(seed)``. A variable with hard evidence gets a one-hot posterior.
        """
        if method not in METHODS:
            raise BayesError(f"method must be one of {list(METHODS)}, got {method!r}")
        hard, soft = self._evidence(evidence or {})
        queries = self._queries(query, hard)
        observed = set(hard) | set(soft)
        cpts = [node.cpt for node in self._nodes]
        parents = [tuple(self._index[p] for p in node.parents) for node in self._nodes]
        if method == "exact":
            estimates: dict[int, np.ndarray] = {}
            for q in queries:
                if q in hard:
                    estimates[q] = _one_hot(hard[q], len(self._nodes[q].states))
                    continue
                relevant = self._ancestors(observed | {q})
                estimates[q] = variable_elimination.posterior(q, relevant, cpts, parents, hard, soft,
                                                              self.variables, max_factor_size)
            return BeliefResult(self._named(estimates), "exact")
        if not isinstance(samples, int) or samples < 1:
            raise BayesError(f"samples must be a positive integer, got {samples!r}")
        nodes = self._ancestors(observed | set(queries))
        estimates, ess = likelihood_weighting.posteriors(queries, nodes, cpts, parents, hard, soft, samples,
                                                         np.random.default_rng(seed))
        return BeliefResult(self._named(estimates), "lw", samples, ess)

    def to_dict(self) -> dict[str, Any]:
        """The network in the JSON layout (what ``from_dict`` reads back; for bundles and learned CPTs)."""
        data: dict[str, Any] = {}
        if self.name is not None:
            data["name"] = self.name
        if self.description is not None:
            data["description"] = self.description
        data["variables"] = [self._entry(node, node.cpt) for node in self._nodes]
        if self.model is not None:
            data["model"] = self.model.to_dict()
        return data

    # -- internals -------------------------------------------------------------------------------------

    @staticmethod
    def _entry(node: _Node, cpt: np.ndarray) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": node.name, "states": list(node.states),
                                 "parents": list(node.parents), "cpt": cpt.tolist()}
        if node.description is not None:
            entry["description"] = node.description
        return entry

    def _node(self, variable: str) -> _Node:
        if variable not in self._index:
            raise BayesError(f"unknown variable {variable!r}; the network has {list(self._index)}")
        return self._nodes[self._index[variable]]

    def _state(self, variable: str, state: object, what: str) -> int:
        states = self._node(variable).states
        if state not in states:
            raise BayesError(f"{what} {variable}={state!r}: unknown state; {variable} has states "
                             f"{list(states)}")
        return states.index(str(state))

    def _evidence(self, evidence: Evidence) -> tuple[dict[int, int], dict[int, np.ndarray]]:
        if not isinstance(evidence, Mapping):
            raise BayesError(f"evidence must map variables to states or likelihoods, got {evidence!r}")
        hard: dict[int, int] = {}
        soft: dict[int, np.ndarray] = {}
        for variable, value in evidence.items():
            if variable not in self._index:
                raise BayesError(f"evidence for unknown variable {variable!r}; the network has "
                                 f"{list(self._index)}")
            node = self._index[variable]
            if isinstance(value, str):
                hard[node] = self._state(variable, value, "evidence")
                continue
            if not isinstance(value, Mapping) or not value:
                raise BayesError(f"evidence {variable}={value!r}: expected a state name or a non-empty "
                                 f"{{state: likelihood}} mapping")
            likelihood = np.zeros(len(self._nodes[node].states))
            for state, weight in value.items():
                number = isinstance(weight, int | float) and not isinstance(weight, bool)
                if not number or not 0 <= weight < np.inf:
                    raise BayesError(f"soft evidence {variable}={state}: likelihood must be a finite "
                                     f"number >= 0, got {weight!r}")
                likelihood[self._state(variable, state, "soft evidence")] = weight
            if not likelihood.any():
                raise BayesError(f"soft evidence on {variable}: every likelihood is zero")
            soft[node] = likelihood
        return hard, soft

    def _queries(self, query: str | Iterable[str] | None, hard: Mapping[int, int]) -> list[int]:
        if query is None:
            return [i for i in range(len(self._nodes)) if i not in hard]
        names = [query] if isinstance(query, str) else list(query)
        for name in names:
            self._node(name)
        return list(dict.fromkeys(self._index[name] for name in names))

    def _ancestors(self, nodes: set[int]) -> list[int]:
        """``nodes`` and all their ancestors, in topological order."""
        keep = set(nodes)
        frontier = list(nodes)
        while frontier:
            for parent in self._nodes[frontier.pop()].parents:
                if self._index[parent] not in keep:
                    keep.add(self._index[parent])
                    frontier.append(self._index[parent])
        return [self._index[name] for name in self._order if self._index[name] in keep]

    def _encode(self, records: Iterable[Mapping[str, str]]) -> np.ndarray:
        rows = []
        for r, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise BayesError(f"records[{r}]: expected a mapping of variable -> state, got {record!r}")
            unknown = sorted(set(record) - set(self._index))
            if unknown:
                raise BayesError(f"records[{r}]: unknown variable(s) {unknown}")
            missing = [n.name for n in self._nodes if n.name not in record]
            if missing:
                raise BayesError(f"records[{r}]: no value for {missing}; learning needs complete records")
            rows.append([self._state(n.name, record[n.name], f"records[{r}]") for n in self._nodes])
        return np.array(rows, dtype=np.intp).reshape(len(rows), len(self._nodes))

    def _named(self, estimates: Mapping[int, np.ndarray]) -> dict[str, dict[str, float]]:
        return {self._nodes[q].name: dict(zip(self._nodes[q].states, map(float, p), strict=True))
                for q, p in estimates.items()}


def _one_hot(index: int, size: int) -> np.ndarray:
    vector = np.zeros(size)
    vector[index] = 1.0
    return vector


def _spec(entry: object, i: int) -> tuple[str, tuple[str, ...], tuple[str, ...], object, str | None]:
    """Check one variable entry's structure: (name, states, parents, raw cpt or None, description)."""
    if not isinstance(entry, Mapping):
        raise BayesError(f"variables[{i}]: expected an object with 'name' and 'states', got {entry!r}")
    name = entry.get("name")
    where = f"variables[{i}] ({name!r})" if isinstance(name, str) else f"variables[{i}]"
    unknown = sorted(set(entry) - VARIABLE_KEYS)
    if unknown:
        raise BayesError(f"{where}: unknown key(s) {unknown}; a variable has {sorted(VARIABLE_KEYS)}")
    if not isinstance(name, str) or not name:
        raise BayesError(f"{where}: 'name' must be a non-empty string")
    states, parents = entry.get("states"), entry.get("parents", [])
    if (not isinstance(states, list) or len(states) < 2 or not all(isinstance(s, str) for s in states)
            or len(set(states)) != len(states)):
        raise BayesError(f"{where}: 'states' must be a list of at least two distinct strings, got {states!r}")
    if (not isinstance(parents, list) or not all(isinstance(p, str) for p in parents)
            or len(set(parents)) != len(parents) or name in parents):
        raise BayesError(f"{where}: 'parents' must be a list of distinct variable names other than itself, "
                         f"got {parents!r}")
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise BayesError(f"{where}: 'description' must be a string")
    return name, tuple(states), tuple(parents), entry.get("cpt"), description


def _check_cpt(name: str, states: tuple[str, ...], parents: tuple[str, ...], raw: object,
               states_of: Mapping[str, tuple[str, ...]]) -> np.ndarray:
    """The CPT as a float array of the right shape with rows summing to 1; uniform if ``raw`` is None."""
    shape = (*(len(states_of[p]) for p in parents), len(states))
    if raw is None:
        return np.full(shape, 1.0 / len(states))
    try:
        table = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise BayesError(f"variable {name!r}: the CPT must be nested lists of numbers, shaped {list(shape)} "
                         f"(parents {list(parents)}, then the variable's states)") from None
    if table.shape != shape:
        raise BayesError(f"variable {name!r}: the CPT has shape {list(table.shape)}, expected {list(shape)} "
                         f"(parents {list(parents)}, then the variable's states {list(states)})")
    if not np.isfinite(table).all() or (table < 0).any():
        raise BayesError(f"variable {name!r}: CPT entries must be finite and non-negative")
    sums = table.sum(axis=-1)
    bad = np.argwhere(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if len(bad):
        at = tuple(int(i) for i in bad[0])
        given = ", ".join(f"{p}={states_of[p][i]}" for p, i in zip(parents, at, strict=True))
        row = f"CPT row for {given}" if parents else "CPT"
        raise BayesError(f"variable {name!r}: the {row} sums to {sums[at]:.6g}, not 1")
    return table / sums[..., None]


def _topological_order(parents: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm; on a cycle, ``BayesError`` naming it (parent -> child -> ... -> parent)."""
    children: dict[str, list[str]] = {name: [] for name in parents}
    for child, ps in parents.items():
        for parent in ps:
            children[parent].append(child)
    waiting = {name: len(ps) for name, ps in parents.items()}
    ready = [name for name, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) == len(parents):
        return order
    # Every node left has a parent left, so walking up parents must come back to a node: a cycle.
    left = {name for name, count in waiting.items() if count > 0}
    walk = [next(iter(sorted(left)))]
    while walk.count(walk[-1]) < 2:
        walk.append(next(p for p in parents[walk[-1]] if p in left))
    cycle = walk[walk.index(walk[-1]):][::-1]
    raise BayesError(f"the network has a cycle: {' -> '.join(cycle)}")
