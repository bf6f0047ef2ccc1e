"""SymbolicRuleEngine: Datalog with stratified negation, forward-chained to a fixpoint, with proofs.

The engine holds a validated rule set and persistent facts (the NeuroLite ``rules.json`` layout; see
``rules.schema.json``). ``query`` is a pure function of those and of the transient facts it is given
(the facts a model extracted from one input): it evaluates from scratch on a fresh store, so nothing
of one query leaks into the next, and returns an ``InferenceResult`` that can explain every fact it
derived. Persistent facts change only through ``assert_fact`` and ``retract_fact``.

Recomputing per query rather than maintaining a materialization keeps negation correct (a new fact
can retract a conclusion drawn from its absence) and the engine free of hidden state; rule sets that
post-process one model output are small, so a query costs microseconds to milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from neurolite_sdk.reasoning.errors import RuleError
from neurolite_sdk.reasoning.evaluation import (
    STRATEGIES,
    Fixpoint,
    Match,
    Plan,
    Relation,
    Strategy,
    compile_plan,
    store_of,
)
from neurolite_sdk.reasoning.json_io import read_json
from neurolite_sdk.reasoning.logic_parser import Atom, Fact, Variable, as_fact, parse_atom
from neurolite_sdk.reasoning.model_facts import ModelFacts
from neurolite_sdk.reasoning.program import Rule, Stratum, check_arities, parse_rule, rule_atoms, stratify

DEFAULT_MAX_ITERATIONS = 10_000
DEFAULT_MAX_DERIVED_FACTS = 1_000_000
TOP_LEVEL_KEYS = {"facts", "rules", "description", "model"}

FactLike = str | Fact | tuple[str, tuple[str, ...]]
"""A fact as text (``'p(a, b)'``) or as a ``(predicate, (args, ...))`` tuple."""
Source = Literal["given", "transient", "derived"]


@dataclass(frozen=True)
class Proof:
    """Why a fact holds: it was given (persistent or transient), or a rule derived it from ``premises``.

    ``premises`` are the proofs of the rule's positive premises, instantiated; ``absent`` are its
    negated premises, instantiated: facts that were not derivable (negation as failure).
    """

    fact: Fact
    source: Source
    rule: Rule | None = None
    premises: tuple[Proof, ...] = ()
    absent: tuple[Fact, ...] = ()


def _instantiate(plan: Plan, match: Match) -> tuple[Rule, tuple[Fact, ...], tuple[Fact, ...]]:
    """The rule of a derivation with its positive and negated premises, instantiated by its match."""
    bindings = plan.bindings(match)

    def ground(atom: Atom) -> Fact:
        return Fact(atom.predicate, tuple(bindings[t] if isinstance(t, Variable) else t for t in atom.terms))
    return plan.rule, tuple(map(ground, plan.rule.positive)), tuple(map(ground, plan.rule.negative))


class InferenceResult:
    """The fixpoint of one query: every fact that holds, which were derived, and their proofs.

    ``iterations`` counts evaluation rounds summed over strata (for semi-naive evaluation, each
    stratum's recursion depth + 1).
    """

    def __init__(self, given: tuple[Fact, ...], transient: frozenset[Fact], fixpoint: Fixpoint) -> None:
        self._given = given
        self._transient = transient
        self._store = fixpoint.store
        self._derivations = fixpoint.derivations
        self._batches = fixpoint.batches
        self.iterations = fixpoint.iterations

    @cached_property
    def derived(self) -> tuple[Fact, ...]:
        """The facts the rules added, in the order they were derived."""
        return tuple(Fact(predicate, row) for predicate, rows in self._batches for row in rows)

    @property
    def facts(self) -> tuple[Fact, ...]:
        """Every fact that holds: the given ones (persistent, then transient), then the derived ones."""
        return self._given + self.derived

    def holds(self, fact: FactLike) -> bool:
        predicate, args = as_fact(fact)
        return args in self._store.get(predicate, Relation()).rows

    def find(self, pattern: str) -> list[dict[str, str]]:
        """Bindings of the variables in ``pattern`` (e.g. ``'ask(?u, ?slot)'``) for each matching fact.

        Keys are variable names without the ``?``; a pattern without variables gives ``[{}]`` if the
        fact holds and ``[]`` otherwise.
        """
        atom = parse_atom(pattern)
        matches: list[dict[str, str]] = []
        rows = self._store.get(atom.predicate, Relation()).rows
        for row in rows:
            if len(row) != len(atom.terms):  # one arity per predicate: no row can match
                return matches
            bindings: dict[str, str] = {}
            for term, value in zip(atom.terms, row, strict=True):
                if not isinstance(term, Variable):
                    if term != value:
                        break
                elif bindings.setdefault(term.name, value) != value:
                    break
            else:
                matches.append(bindings)
        return matches

    def explain(self, fact: FactLike) -> Proof:
        """The proof tree of ``fact``; a ``RuleError`` if it does not hold.

        Built iteratively (no recursion limit on long derivation chains) and shared: a fact's proof is
        one object wherever it appears in the tree.
        """
        target = as_fact(fact)
        if not self.holds(target):
            raise RuleError(f"{target} does not hold, so it has no proof")
        proofs: dict[Fact, Proof] = {}
        pending = [target]
        while pending:
            current = pending[-1]
            if current in proofs:
                pending.pop()
                continue
            derivation = self._derivations.get(current.predicate, {}).get(current.args)
            if derivation is None:
                proofs[current] = Proof(current, self._source(current))
                pending.pop()
                continue
            rule, supports, absent = _instantiate(*derivation)
            missing = [s for s in supports if s not in proofs]
            if missing:
                pending.extend(missing)
                continue
            proofs[current] = Proof(current, "derived", rule, tuple(proofs[s] for s in supports), absent)
            pending.pop()
        return proofs[target]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, flat: each derived fact with the rule and the premise facts that derived it.

        A premise that is itself derived has its own entry earlier in the list, so the entries are the
        proof DAG in derivation order: linear in size and depth-free, unlike nested proof trees.
        """
        entries = []
        for predicate, rows in self._batches:
            for row, derivation in rows.items():
                rule, supports, absent = _instantiate(*derivation)
                entries.append({"fact": str(Fact(predicate, row)), "rule": rule.index, "rule_text": str(rule),
                                "premises": [{"fact": str(s), "source": self._source(s)} for s in supports],
                                "absent": [str(f) for f in absent]})
        return {"derived": entries, "iterations": self.iterations}

    def _source(self, fact: Fact) -> Source:
        if fact.args in self._derivations.get(fact.predicate, {}):
            return "derived"
        return "transient" if fact in self._transient else "given"


class SymbolicRuleEngine:
    """Forward chaining over a stratified, safe rule set; see the module docstring for the contract.

    ``rules`` are entries of the ``rules.json`` layout (``{"premises": [...], "conclusion": "..."}``),
    ``facts`` are persistent facts. Any problem with them is a ``RuleError`` raised here, at load.
    ``strategy`` picks semi-naive (default) or naive evaluation; both give the same facts. A query
    that needs more than ``max_iterations`` rounds in one stratum, or derives more than
    ``max_derived_facts`` facts, stops with an ``InferenceLimitError``. ``model`` (the ``"model"``
    section, see ``model_facts.py``) says which facts a model prediction becomes; its templates must
    keep the arities the rules use.
    """

    def __init__(self, rules: Iterable[Mapping[str, Any]] = (), facts: Iterable[FactLike] = (), *,
                 model: ModelFacts | None = None, strategy: Strategy = "semi-naive",
                 max_iterations: int = DEFAULT_MAX_ITERATIONS,
                 max_derived_facts: int = DEFAULT_MAX_DERIVED_FACTS) -> None:
        if strategy not in STRATEGIES:
            raise RuleError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
        for name, bound in (("max_iterations", max_iterations), ("max_derived_facts", max_derived_facts)):
            if not isinstance(bound, int) or bound < 1:
                raise RuleError(f"{name} must be a positive integer, got {bound!r}")
        self.strategy = strategy
        self.max_iterations = max_iterations
        self.max_derived_facts = max_derived_facts
        self._rules = tuple(parse_rule(entry, i) for i, entry in enumerate(rules))
        persistent = [_located(fact, f"facts[{i}]") for i, fact in enumerate(facts)]
        templates = model.templates() if model is not None else []
        self._arities = check_arities(chain(rule_atoms(self._rules), _numbered("facts", persistent), templates), {})
        self.model_facts = model
        self._facts: dict[Fact, None] = dict.fromkeys(persistent)
        self._strata = tuple(_plans(stratum) for stratum in stratify(self._rules))

    @classmethod
    def from_dict(cls, data: object, *, source: str | None = None, **options: Any) -> SymbolicRuleEngine:
        """Load the ``rules.json`` layout (already parsed); ``source`` (a file name) prefixes errors."""
        try:
            if not isinstance(data, Mapping):
                raise RuleError(f"expected a JSON object with 'facts' and 'rules', got {type(data).__name__}")
            unknown = sorted(set(data) - TOP_LEVEL_KEYS)
            if unknown:
                raise RuleError(f"unknown key(s) {unknown}; expected {sorted(TOP_LEVEL_KEYS)}")
            for key in ("facts", "rules"):
                if not isinstance(data.get(key, []), list):
                    raise RuleError(f"'{key}' must be a list")
            if not isinstance(data.get("description", ""), str):
                raise RuleError("'description' must be a string")
            model = ModelFacts.from_dict(data["model"]) if "model" in data else None
            return cls(data.get("rules", []), data.get("facts", []), model=model, **options)
        except RuleError as exc:
            if source is None:
                raise
            raise type(exc)(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, path: str | Path, **options: Any) -> SymbolicRuleEngine:
        """Load a ``rules.json`` file; malformed JSON is a ``RuleError`` with its line and column."""
        return cls.from_dict(read_json(path, RuleError), source=str(path), **options)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    @property
    def facts(self) -> tuple[Fact, ...]:
        """The persistent facts, in the order they were given or asserted."""
        return tuple(self._facts)

    def assert_fact(self, fact: FactLike) -> bool:
        """Add a persistent fact; False if it was already there. Its predicate must keep its arity."""
        parsed = _located(fact, "asserted fact")
        self._arities = check_arities([("asserted fact", parsed)], self._arities)
        if parsed in self._facts:
            return False
        self._facts[parsed] = None
        return True

    def retract_fact(self, fact: FactLike) -> bool:
        """Remove a persistent fact; False if it was not one (derived facts cannot be retracted)."""
        key = as_fact(fact)
        if key not in self._facts:
            return False
        del self._facts[key]
        return True

    def query(self, transient_facts: Iterable[FactLike] = ()) -> InferenceResult:
        """Forward-chain from the persistent facts plus ``transient_facts`` (this query only) to fixpoint."""
        parsed = [_located(fact, f"transient_facts[{i}]") for i, fact in enumerate(transient_facts)]
        check_arities(_numbered("transient_facts", parsed), self._arities)
        transient = dict.fromkeys(fact for fact in parsed if fact not in self._facts)
        given = tuple(self._facts) + tuple(transient)
        fixpoint = Fixpoint(store_of(given), max_iterations=self.max_iterations,
                            max_derived_facts=self.max_derived_facts)
        fixpoint.run(self._strata, self.strategy)
        return InferenceResult(given, frozenset(transient), fixpoint)

    def undefined_premises(self, transient_facts: Iterable[FactLike] = ()) -> dict[str, list[Rule]]:
        """Premise predicates nothing can make true, with the rules that use them: no rule concludes them, no
        persistent or ``transient_facts`` fact has them, no ``model`` template produces them. Such a premise
        never holds (negated, it always holds): usually a misspelt predicate. Facts are parsed as ``query``
        parses them."""
        defined = {rule.conclusion.predicate for rule in self._rules} | {fact.predicate for fact in self._facts}
        defined.update(_located(fact, f"transient_facts[{i}]").predicate for i, fact in enumerate(transient_facts))
        if self.model_facts is not None:
            defined.update(atom.predicate for _, atom in self.model_facts.templates())
        undefined: dict[str, list[Rule]] = {}
        for rule in self._rules:
            for premise in rule.premises:
                if premise.atom.predicate not in defined and rule not in undefined.get(premise.atom.predicate, []):
                    undefined.setdefault(premise.atom.predicate, []).append(rule)
        return undefined

    def to_dict(self) -> dict[str, Any]:
        """The engine's rules, persistent facts and model section in the ``rules.json`` layout (for bundles)."""
        data = {"facts": [str(f) for f in self._facts], "rules": [r.to_dict() for r in self._rules]}
        if self.model_facts is not None:
            data["model"] = self.model_facts.to_dict()
        return data


def _numbered(where: str, facts: Iterable[Fact]) -> Iterator[tuple[str, Fact]]:
    return ((f"{where}[{i}]", fact) for i, fact in enumerate(facts))


def _located(raw: FactLike, where: str) -> Fact:
    try:
        return as_fact(raw)
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None


def _plans(stratum: Stratum) -> tuple[Stratum, tuple[Plan, ...], tuple[Plan, ...]]:
    """A stratum with its full-evaluation plans and, per recursive premise, its delta plans."""
    full = tuple(compile_plan(rule, None) for rule in stratum.rules)
    deltas = tuple(compile_plan(rule, i) for rule in stratum.rules
                   for i, atom in enumerate(rule.positive) if atom.predicate in stratum.predicates)
    return stratum, full, deltas
