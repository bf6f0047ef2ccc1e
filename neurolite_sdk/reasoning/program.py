"""A validated rule set: parsed rules, consistent arities, safety, and the strata to evaluate in order.

Everything that can be wrong with a rule set is found here, at load, so that evaluation never meets a
rule it cannot run: a premise or conclusion that does not parse, a predicate used with two arities, an
unsafe rule (a variable of the conclusion or of a negated premise that no positive premise binds), and
negation through recursion (the rule set has no stratification; the cycle is named).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from neurolite_sdk.reasoning.errors import RuleError
from neurolite_sdk.reasoning.logic_parser import Atom, Fact, Literal, Variable, parse_atom, parse_literal

RULE_KEYS = {"premises", "conclusion", "description"}


@dataclass(frozen=True)
class Rule:
    """``premises -> conclusion``; ``index`` is the rule's position in its rule set (errors, proofs)."""

    index: int
    premises: tuple[Literal, ...]
    conclusion: Atom
    description: str | None = None

    @property
    def positive(self) -> tuple[Atom, ...]:
        return tuple(p.atom for p in self.premises if not p.negated)

    @property
    def negative(self) -> tuple[Atom, ...]:
        return tuple(p.atom for p in self.premises if p.negated)

    def __str__(self) -> str:
        return f"{', '.join(map(str, self.premises))} -> {self.conclusion}"

    def to_dict(self) -> dict[str, Any]:
        """The rule in the ``rules.json`` layout."""
        entry: dict[str, Any] = {"premises": [str(p) for p in self.premises],
                                 "conclusion": str(self.conclusion)}
        if self.description is not None:
            entry["description"] = self.description
        return entry


@dataclass(frozen=True)
class Stratum:
    """Predicates defined together (one strongly connected component) and the rules that define them.

    Every predicate a stratum's rules read that it does not define is complete before it runs, which
    is what makes negation as failure well defined.
    """

    predicates: frozenset[str]
    rules: tuple[Rule, ...]


def parse_rule(entry: object, index: int) -> Rule:
    """Parse one ``{"premises": [...], "conclusion": "..."}`` entry; errors name ``rules[index]``."""
    where = f"rules[{index}]"
    if not isinstance(entry, Mapping):
        raise RuleError(f"{where}: a rule is an object with 'premises' and 'conclusion', got {entry!r}")
    unknown = sorted(set(entry) - RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {unknown}; a rule has {sorted(RULE_KEYS)}")
    premises, conclusion = entry.get("premises"), entry.get("conclusion")
    description = entry.get("description")
    text = f"{premises!r} -> {conclusion!r}"
    if not isinstance(premises, list) or not premises:
        raise RuleError(f"{where} ({text}): 'premises' must be a non-empty list of strings")
    if not isinstance(conclusion, str):
        raise RuleError(f"{where} ({text}): 'conclusion' must be a string")
    if description is not None and not isinstance(description, str):
        raise RuleError(f"{where} ({text}): 'description' must be a string")
    try:
        rule = Rule(index, tuple(parse_literal(p) for p in premises), parse_atom(conclusion), description)
    except RuleError as exc:
        raise RuleError(f"{where} ({text}): {exc}") from None
    _check_safe(rule)
    return rule


def _check_safe(rule: Rule) -> None:
    bound: set[Variable] = set().union(*(a.variables() for a in rule.positive))
    for role, atom in [("the conclusion", rule.conclusion)] + [("negated premise", a) for a in rule.negative]:
        free = atom.variables() - bound
        if free:
            names = ", ".join(sorted(map(str, free)))
            raise RuleError(f"rules[{rule.index}] ({rule}): unsafe: variable(s) {names} of {role} {atom} "
                            f"not bound by any positive premise")


def check_arities(atoms: Iterable[tuple[str, Atom | Fact]], arities: Mapping[str, tuple[int, str]]
                  ) -> dict[str, tuple[int, str]]:
    """Extend ``arities`` (predicate -> (arity, where first seen)) with ``atoms``; two arities is an error."""
    seen = dict(arities)
    for where, atom in atoms:
        arity = len(atom[1])
        first = seen.setdefault(atom[0], (arity, f"{where} {atom}"))
        if first[0] != arity:
            raise RuleError(f"predicate '{atom[0]}' is used with {first[0]} argument(s) in {first[1]} "
                            f"and with {arity} in {where} {atom}")
    return seen


def rule_atoms(rules: Iterable[Rule]) -> Iterable[tuple[str, Atom]]:
    """Every atom of every rule, with where it sits, for ``check_arities``."""
    for rule in rules:
        for atom in (*(p.atom for p in rule.premises), rule.conclusion):
            yield f"rules[{rule.index}]", atom


def stratify(rules: Iterable[Rule]) -> tuple[Stratum, ...]:
    """Group the rules into strata, dependencies first; raise ``RuleError`` naming a cycle through NOT.

    The predicate dependency graph has an edge premise -> conclusion for each premise of each rule.
    Its strongly connected components, in topological order, are the strata; a negated premise whose
    predicate lies in its conclusion's component is recursion through negation, which has no
    stratified meaning, so the rule set is refused.
    """
    rules = tuple(rules)
    edges: dict[str, dict[str, Rule]] = {}
    for rule in rules:
        edges.setdefault(rule.conclusion.predicate, {})
        for premise in rule.premises:
            edges.setdefault(premise.atom.predicate, {}).setdefault(rule.conclusion.predicate, rule)
    component = _components(edges)
    for rule in rules:
        head = rule.conclusion.predicate
        for atom in rule.negative:
            if component[atom.predicate] == component[head]:
                raise RuleError(f"rule set cannot be stratified: negation inside recursion: "
                                f"{_describe_cycle(rule, atom.predicate, edges, component)}")
    by_component: dict[int, list[Rule]] = {}
    for rule in rules:
        by_component.setdefault(component[rule.conclusion.predicate], []).append(rule)
    # _components numbers components in reverse topological order (Tarjan), so dependencies come last.
    return tuple(Stratum(frozenset(p for p, c in component.items() if c == key), tuple(group))
                 for key, group in sorted(by_component.items(), reverse=True))


def _describe_cycle(rule: Rule, negated: str, edges: Mapping[str, Mapping[str, Rule]],
                    component: Mapping[str, int]) -> str:
    """``h depends on NOT p (rules[i]), p depends on h (rules[j])``: the path from ``h`` back to ``p``."""
    head = rule.conclusion.predicate
    steps = [f"{head} depends on NOT {negated} (rules[{rule.index}])"]
    if negated == head:
        return steps[0]
    parent: dict[str, tuple[str, Rule]] = {}
    frontier = [head]
    while negated not in parent:  # breadth-first within the component: the shortest way back
        following = []
        for node in frontier:
            for succ, via in edges[node].items():
                if component[succ] == component[head] and succ not in parent and succ != head:
                    parent[succ] = (node, via)
                    following.append(succ)
        frontier = following
    path: list[str] = []
    node = negated
    while node != head:
        previous, via = parent[node]
        path.append(f"{node} depends on {previous} (rules[{via.index}])")
        node = previous
    return ", ".join(steps + path)


def _components(edges: Mapping[str, Mapping[str, Rule]]) -> dict[str, int]:
    """Tarjan's strongly connected components, iteratively (no recursion limit on long rule chains).

    Returns node -> component number; components are numbered in reverse topological order.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    component: dict[str, int] = {}
    found = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(edges[succ])))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = found
                    if member == node:
                        break
                found += 1
    return component
