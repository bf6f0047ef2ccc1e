"""Bottom-up evaluation of a stratified rule set: hash joins, and a semi-naive (or naive) fixpoint.

Facts live in ``Relation``s, one per predicate, each a set of argument tuples with hash indexes built
on demand for the argument positions a join looks up, and kept up to date as rows arrive. A rule is
compiled into ``Plan``s: an order of its premises in which each step looks up the rows matching the
variables bound so far (a hash join, never a nested scan), and negated premises are tested as soon as
their variables are bound. A partial match is a tuple of values, one per variable in binding order.

Semi-naive evaluation runs, within a stratum, each rule once per recursive premise with that premise
reading only the facts new in the previous round, so that a round costs what is new rather than what
is known. Naive evaluation re-runs every rule on everything each round; it is kept as the reference
the benchmark and the tests compare against. Both stop at the same fixpoint.

Each derived fact keeps the first (plan, match) that produced it. Its supports were known before it,
so following these justifications always ends at given facts: a proof, built on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any
from typing import Literal as TypingLiteral

from neurolite_sdk.reasoning.errors import InferenceLimitError
from neurolite_sdk.reasoning.logic_parser import Atom, Fact, Term, Variable
from neurolite_sdk.reasoning.program import Rule, Stratum

Row = tuple[str, ...]
Match = tuple[str, ...]
Strategy = TypingLiteral["semi-naive", "naive"]
STRATEGIES: tuple[Strategy, ...] = ("semi-naive", "naive")


class Relation:
    """The rows of one predicate, with a hash index per looked-up tuple of argument positions.

    Index keys follow ``operator.itemgetter``: the bare value for one position, a tuple for several.
    """

    __slots__ = ("rows", "_indexes")

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        self.rows: dict[Row, None] = dict.fromkeys(rows)  # a set that keeps insertion order (determinism)
        self._indexes: dict[tuple[int, ...], tuple[Callable[[Row], Hashable], dict[Hashable, list[Row]]]] = {}

    def extend(self, rows: Iterable[Row]) -> None:
        """Insert ``rows``, which the caller knows are new (and distinct), keeping every index current."""
        rows = list(rows)
        self.rows.update(dict.fromkeys(rows))
        for key, index in self._indexes.values():
            for row in rows:
                index.setdefault(key(row), []).append(row)

    def index(self, positions: tuple[int, ...]) -> dict[Hashable, list[Row]]:
        """The rows grouped by their values at ``positions``, built on first use."""
        entry = self._indexes.get(positions)
        if entry is None:
            key = itemgetter(*positions)
            index: dict[Hashable, list[Row]] = {}
            for row in self.rows:
                index.setdefault(key(row), []).append(row)
            entry = self._indexes[positions] = (key, index)
        return entry[1]


Store = dict[str, Relation]
_EMPTY = Relation()


def store_of(facts: Iterable[Fact]) -> Store:
    """Facts grouped into one ``Relation`` per predicate."""
    grouped: dict[str, list[Row]] = {}
    for predicate, args in facts:
        grouped.setdefault(predicate, []).append(args)
    return {predicate: Relation(rows) for predicate, rows in grouped.items()}


def _builder(terms: Iterable[Term], slots: Mapping[Variable, int], scalar: bool) -> Callable[[Match], Any]:
    """A function from a match to the values of ``terms`` (variables read from their slots).

    With ``scalar`` a single term gives its bare value (the ``Relation.index`` key convention);
    otherwise the result is always a tuple (a row).
    """
    parts = [(slots[t], None) if isinstance(t, Variable) else (None, t) for t in terms]
    if all(slot is not None for slot, _ in parts) and (len(parts) > 1 or (scalar and parts)):
        return itemgetter(*(slot for slot, _ in parts))
    if all(slot is None for slot, _ in parts):
        constant = tuple(value for _, value in parts)
        value: Hashable = constant[0] if scalar and len(constant) == 1 else constant
        return lambda match: value
    return lambda match: tuple(match[slot] if slot is not None else constant for slot, constant in parts)


StepRun = Callable[[list[Match], Relation], list[Match]]


def _positive_step(atom: Atom, slots: dict[Variable, int]) -> StepRun:
    """Extend each match with the rows of ``atom`` that agree with it; binds ``atom``'s new variables."""
    bound = tuple(i for i, t in enumerate(atom.terms) if not isinstance(t, Variable) or t in slots)
    fresh: list[int] = []
    same: list[tuple[int, int]] = []  # a variable repeated among the new ones: p(?x, ?x)
    first: dict[Variable, int] = {}
    for i, term in enumerate(atom.terms):
        if i in bound or not isinstance(term, Variable):
            continue
        if term in first:
            same.append((first[term], i))
        else:
            first[term] = i
            fresh.append(i)
    key = _builder([atom.terms[i] for i in bound], slots, scalar=bool(fresh))
    for variable in first:
        slots[variable] = len(slots)
    if not fresh:
        def exists(matches: list[Match], relation: Relation) -> list[Match]:
            rows = relation.rows
            return [m for m in matches if key(m) in rows]
        return exists
    # The new values as a tuple, in C: a slice when the positions are contiguous (always for one).
    contiguous = fresh == list(range(fresh[0], fresh[-1] + 1))
    grab = itemgetter(slice(fresh[0], fresh[-1] + 1)) if contiguous else itemgetter(*fresh)

    def agree(rows: Iterable[Row]) -> Iterable[Row]:
        return [r for r in rows if all(r[a] == r[b] for a, b in same)] if same else rows

    def join(matches: list[Match], relation: Relation) -> list[Match]:
        if not bound:
            rows = list(map(grab, agree(relation.rows)))
            return [match + values for match in matches for values in rows]
        out: list[Match] = []
        append = out.append
        lookup = relation.index(bound).get
        for match in matches:
            rows = lookup(key(match))
            if rows:
                for row in agree(rows):
                    append(match + grab(row))
        return out
    return join


def _negative_step(atom: Atom, slots: Mapping[Variable, int]) -> StepRun:
    """Keep the matches for which ``atom`` (fully bound, by safety) is not a known fact."""
    row = _builder(atom.terms, slots, scalar=False)

    def absent(matches: list[Match], relation: Relation) -> list[Match]:
        rows = relation.rows
        return [m for m in matches if row(m) not in rows]
    return absent


@dataclass(frozen=True)
class Plan:
    """One evaluation order of a rule. ``delta``, if set, is the predicate of the one premise that
    reads the previous round's new facts; every other premise reads the whole store."""

    rule: Rule
    delta: str | None
    steps: tuple[tuple[str, bool, StepRun], ...]  # (predicate, reads the delta, run)
    variables: tuple[Variable, ...]  # the variable held at each position of a match
    head: Callable[[Match], Row]

    def bindings(self, match: Match) -> dict[Variable, str]:
        return dict(zip(self.variables, match, strict=True))


def compile_plan(rule: Rule, delta: int | None) -> Plan:
    """Order the premises greedily: the delta premise first, then the most constrained premise next.

    "Most constrained" counts argument positions already bound (constants and bound variables), so
    each step is an index lookup on as many positions as possible; a negated premise is placed right
    after the step that binds its last variable, pruning matches early.
    """
    positives = list(enumerate(rule.positive))
    negatives = list(rule.negative)
    slots: dict[Variable, int] = {}
    steps: list[tuple[str, bool, StepRun]] = []

    def place_negatives() -> None:
        for atom in [a for a in negatives if a.variables() <= slots.keys()]:
            negatives.remove(atom)
            steps.append((atom.predicate, False, _negative_step(atom, slots)))

    def constrained(premise: tuple[int, Atom]) -> tuple[bool, int, int]:
        bound = sum(not isinstance(t, Variable) or t in slots for t in premise[1].terms)
        return bound == len(premise[1].terms), bound, -premise[0]

    place_negatives()
    while positives:
        choice = next((p for p in positives if p[0] == delta), None) or max(positives, key=constrained)
        positives.remove(choice)
        steps.append((choice[1].predicate, choice[0] == delta, _positive_step(choice[1], slots)))
        place_negatives()
    variables = tuple(sorted(slots, key=slots.__getitem__))
    reads = None if delta is None else rule.positive[delta].predicate
    return Plan(rule, reads, tuple(steps), variables, _builder(rule.conclusion.terms, slots, scalar=False))


def run_plan(plan: Plan, store: Store, delta: Store) -> list[Match]:
    """Every match of ``plan``'s premises: the delta premise over ``delta``, the others over ``store``."""
    matches: list[Match] = [()]
    for predicate, reads_delta, run in plan.steps:
        matches = run(matches, (delta if reads_delta else store).get(predicate, _EMPTY))
        if not matches:
            break
    return matches


Derivation = tuple[Plan, Match]


class Fixpoint:
    """One forward-chaining run over a store it owns, recording how each new fact was derived.

    ``derivations`` maps predicate -> row -> (plan, match); ``batches`` holds the same rows as they
    were committed, round by round, which is the order facts were derived in.
    """

    def __init__(self, store: Store, *, max_iterations: int, max_derived_facts: int) -> None:
        self.store = store
        self.derivations: dict[str, dict[Row, Derivation]] = {}
        self.batches: list[tuple[str, dict[Row, Derivation]]] = []
        self.derived_count = 0
        self.iterations = 0
        self.max_iterations = max_iterations
        self.max_derived_facts = max_derived_facts

    def run(self, strata: Iterable[tuple[Stratum, tuple[Plan, ...], tuple[Plan, ...]]],
            strategy: Strategy) -> None:
        """Evaluate each (stratum, full plans, delta plans) to its fixpoint, strata in order."""
        for stratum, full, deltas in strata:
            rounds = 1
            new = self._evaluate(full, {})
            while new:
                if rounds >= self.max_iterations:
                    raise InferenceLimitError(
                        f"no fixpoint after max_iterations={self.max_iterations} rounds in the stratum "
                        f"defining {', '.join(sorted(stratum.predicates))}; raise the bound if the rule set "
                        f"is meant to run this long")
                delta = self._commit(new)
                if strategy == "naive":
                    new = self._evaluate(full, {})
                else:
                    new = self._evaluate([p for p in deltas if p.delta in delta], delta)
                rounds += 1
            self.iterations += rounds

    def _evaluate(self, plans: Iterable[Plan], delta: Store) -> dict[str, dict[Row, Derivation]]:
        new: dict[str, dict[Row, Derivation]] = {}
        count = self.derived_count
        for plan in plans:
            matches = run_plan(plan, self.store, delta)
            if not matches:
                continue
            predicate = plan.rule.conclusion.predicate
            known = self.store.get(predicate, _EMPTY).rows
            fresh = new.setdefault(predicate, {})
            before = len(fresh)
            for row, match in zip(map(plan.head, matches), matches, strict=True):
                if row not in known and row not in fresh:
                    fresh[row] = (plan, match)
            count += len(fresh) - before
            if count > self.max_derived_facts:
                raise InferenceLimitError(
                    f"more than max_derived_facts={self.max_derived_facts} facts derived (rule "
                    f"rules[{plan.rule.index}]: {plan.rule}); raise the bound if the rule set is meant to "
                    f"derive this many")
        return {p: rows for p, rows in new.items() if rows}

    def _commit(self, new: Mapping[str, Mapping[Row, Derivation]]) -> Store:
        """Add this round's facts to the store; they are the next round's delta."""
        for predicate, rows in new.items():
            self.store.setdefault(predicate, Relation()).extend(rows)
            self.derivations.setdefault(predicate, {}).update(rows)
            self.batches.append((predicate, rows))
            self.derived_count += len(rows)
        return {predicate: Relation(rows) for predicate, rows in new.items()}
