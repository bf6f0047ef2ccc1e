"""How one model prediction becomes facts: the ``"model"`` section of ``rules.json``.

A rules file that post-processes a classifier declares, beside its rules, what a prediction turns
into (``rules.schema.json``, ``$defs/model``)::

    "model": {
      "intent": "intent(?u, ?label)",                      # the predicted label
      "uncertain": {"fact": "uncertain(?u)", "below": 0.6},  # when its probability is below 0.6
      "threshold": 0.5,                                     # predicate scores at or above it become facts
      "predicates": [
        {"name": "time", "fact": "slot(?u, timeRange, cue)", "cues": ["tonight", "at # pm", "next week|month"]}
      ]
    }

``?u`` is the utterance (bound to ``UTTERANCE`` in every query) and ``?label`` the predicted label;
templates hold no other variable. ``predicates`` is the fixed vocabulary the model's predicate head
scores, in order (the exported graph's ``predicates`` output has one column per entry). Their
``cues`` are patterns over the featurizer's normalized tokens (``docs/featurizer.md``): tokens
separated by spaces, each a literal token, ``a|b|c`` (any of them), ``#`` (a token of digits) or
``*`` (any one token); a text matches a predicate when any cue matches consecutive tokens. Cues are
the weak labels the head is trained on, and the exact-match baseline it is measured against.

Layer 1 (numpy only), shared by training and the torch-free runtime.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurolite_sdk.featurizer import tokenize
from neurolite_sdk.reasoning.errors import BayesError, RuleError
from neurolite_sdk.reasoning.logic_parser import Atom, Fact, Variable, parse_atom

RULES_FILE, NETWORK_FILE = "rules.json", "network.json"
"""The names the rules file and the network file take in checkpoints and bundles."""
UTTERANCE = "u"
"""The constant ``?u`` is bound to: each prediction is its own query, so one name is enough."""
DEFAULT_THRESHOLD = 0.5
MODEL_KEYS = {"description", "intent", "uncertain", "threshold", "predicates"}
PREDICATE_KEYS = {"name", "fact", "cues", "description"}
_NAME = re.compile(r"[A-Za-z_]\w*")
NUMBER, ANY = "#", "*"


@dataclass(frozen=True)
class Template:
    """An atom whose only variables are ``?u`` (and ``?label`` where allowed), filled per prediction."""

    atom: Atom
    text: str

    def fill(self, label: str | None = None) -> Fact:
        values = {"u": UTTERANCE, "label": label}
        return Fact(self.atom.predicate,
                    tuple(values[t.name] if isinstance(t, Variable) else t for t in self.atom.terms))


@dataclass(frozen=True)
class Cue:
    """One pattern: per position, the set of tokens it accepts (``None``: any; ``{"#"}``: digits)."""

    text: str
    slots: tuple[frozenset[str] | None, ...]

    def matches(self, tokens: Sequence[str]) -> bool:
        width = len(self.slots)
        for start in range(len(tokens) - width + 1):
            for slot, token in zip(self.slots, tokens[start:start + width], strict=True):
                if slot is None or token in slot or (NUMBER in slot and token.isdigit()):
                    continue
                break
            else:
                return True
        return False


@dataclass(frozen=True)
class PredicateSpec:
    """One entry of the vocabulary: its name, the fact it asserts, and its lexical cues."""

    name: str
    fact: Template
    cues: tuple[Cue, ...]
    description: str | None = None

    def matches(self, tokens: Sequence[str]) -> bool:
        return any(cue.matches(tokens) for cue in self.cues)


@dataclass(frozen=True)
class ModelFacts:
    """The parsed ``"model"`` section; ``facts`` turns one prediction into transient facts."""

    intent: Template
    uncertain: Template | None
    uncertain_below: float
    threshold: float
    predicates: tuple[PredicateSpec, ...]
    description: str | None = None

    @property
    def predicate_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.predicates)

    def facts(self, label: str, confidence: float, scores: Sequence[float] | np.ndarray | None = None,
              threshold: float | None = None) -> list[Fact]:
        """The transient facts of one prediction: its label, its uncertainty, each predicate at or
        above ``threshold`` (default: the section's), in vocabulary order."""
        cut = self.threshold if threshold is None else check_threshold(threshold, "threshold")
        facts = [self.intent.fill(label)]
        if self.uncertain is not None and confidence < self.uncertain_below:
            facts.append(self.uncertain.fill())
        if scores is not None:
            if len(scores) != len(self.predicates):
                raise RuleError(f"predicate scores: {len(scores)} values for {len(self.predicates)} predicates "
                                f"{list(self.predicate_names)}")
            facts.extend(p.fact.fill() for p, s in zip(self.predicates, scores, strict=True) if s >= cut)
        return facts

    def cue_labels(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [N, P]: 1 where a predicate's cues match the text's normalized tokens (weak labels)."""
        labels = np.zeros((len(texts), len(self.predicates)), dtype=np.float32)
        for i, text in enumerate(texts):
            tokens = tokenize(text)
            for j, predicate in enumerate(self.predicates):
                labels[i, j] = predicate.matches(tokens)
        return labels

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.description is not None:
            data["description"] = self.description
        data["intent"] = self.intent.text
        if self.uncertain is not None:
            data["uncertain"] = {"fact": self.uncertain.text, "below": self.uncertain_below}
        data["threshold"] = self.threshold
        data["predicates"] = [{"name": p.name, "fact": p.fact.text, "cues": [c.text for c in p.cues],
                               **({"description": p.description} if p.description is not None else {})}
                              for p in self.predicates]
        return data

    @classmethod
    def from_dict(cls, data: object) -> ModelFacts:
        """Parse and check the section; every error is a ``RuleError`` starting with ``model``."""
        if not isinstance(data, Mapping):
            raise RuleError(f"model: expected an object, got {type(data).__name__}")
        unknown = sorted(set(data) - MODEL_KEYS)
        if unknown:
            raise RuleError(f"model: unknown key(s) {unknown}; expected {sorted(MODEL_KEYS)}")
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            raise RuleError("model.description: must be a string")
        if "intent" not in data:
            raise RuleError("model.intent: missing; give the fact a predicted label becomes, e.g. "
                            "'intent(?u, ?label)'")
        intent = _template(data["intent"], "model.intent", {"u", "label"})
        if Variable("label") not in intent.atom.variables():
            raise RuleError(f"model.intent: {intent.text!r} does not use ?label, so it would not say which "
                            f"label was predicted")
        uncertain, below = None, 0.0
        if "uncertain" in data:
            entry = data["uncertain"]
            if not isinstance(entry, Mapping) or set(entry) != {"fact", "below"}:
                raise RuleError("model.uncertain: expected {\"fact\": \"uncertain(?u)\", \"below\": 0.6}")
            uncertain = _template(entry["fact"], "model.uncertain.fact", {"u"})
            below = check_threshold(entry["below"], "model.uncertain.below")
        threshold = check_threshold(data.get("threshold", DEFAULT_THRESHOLD), "model.threshold")
        raw = data.get("predicates", [])
        if not isinstance(raw, list):
            raise RuleError("model.predicates: must be a list")
        predicates = tuple(_predicate(entry, f"model.predicates[{i}]") for i, entry in enumerate(raw))
        seen: set[str] = set()
        for i, predicate in enumerate(predicates):
            if predicate.name in seen:
                raise RuleError(f"model.predicates[{i}]: name {predicate.name!r} is used twice")
            seen.add(predicate.name)
        return cls(intent, uncertain, below, threshold, predicates,
                   description if isinstance(description, str) else None)

    def templates(self) -> list[tuple[str, Atom]]:
        """Every template atom with where it is declared (for the engine's arity check)."""
        located = [("model.intent", self.intent.atom)]
        if self.uncertain is not None:
            located.append(("model.uncertain.fact", self.uncertain.atom))
        located.extend((f"model.predicates[{i}].fact", p.fact.atom) for i, p in enumerate(self.predicates))
        return located

    def check_vocabulary(self, names: Sequence[str], where: str) -> None:
        """``names`` (a model's predicate outputs) must be this vocabulary, in this order."""
        if tuple(names) != self.predicate_names:
            extra = [n for n in self.predicate_names if n not in names]
            missing = [n for n in names if n not in self.predicate_names]
            details = ([f"the model has no output for {extra}"] if extra else []) + (
                [f"the rules file does not declare {missing}"] if missing else [])
            raise RuleError(f"{where}: the model scores {list(names)} but the rules file declares "
                            f"{list(self.predicate_names)}: {'; '.join(details) or 'the order differs'}")


def check_threshold(value: object, where: str) -> float:
    """A probability cut: a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise RuleError(f"{where}: must be a number in [0, 1], got {value!r}")
    return float(value)


def _template(text: object, where: str, allowed: set[str]) -> Template:
    if not isinstance(text, str):
        raise RuleError(f"{where}: expected an atom as a string, got {text!r}")
    try:
        atom = parse_atom(text)
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None
    extra = sorted(v.name for v in atom.variables() if v.name not in allowed)
    if extra:
        raise RuleError(f"{where}: {text!r} uses ?{', ?'.join(extra)}; only "
                        f"{', '.join('?' + a for a in sorted(allowed))} can be filled from a prediction")
    return Template(atom, text)


def _predicate(entry: object, where: str) -> PredicateSpec:
    if not isinstance(entry, Mapping):
        raise RuleError(f"{where}: expected an object with name, fact and cues")
    unknown = sorted(set(entry) - PREDICATE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {unknown}; expected {sorted(PREDICATE_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RuleError(f"{where}.name: expected an identifier (letter or _ first), got {name!r}")
    fact = _template(entry.get("fact"), f"{where}.fact", {"u"})
    cues = entry.get("cues", [])
    if not isinstance(cues, list) or not cues:
        raise RuleError(f"{where}.cues: a non-empty list of token patterns is needed to label training data")
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise RuleError(f"{where}.description: must be a string")
    return PredicateSpec(name, fact, tuple(_cue(c, f"{where}.cues[{i}]") for i, c in enumerate(cues)),
                         description)


def _cue(text: object, where: str) -> Cue:
    if not isinstance(text, str) or not text.split():
        raise RuleError(f"{where}: expected a non-empty pattern string, got {text!r}")
    slots: list[frozenset[str] | None] = []
    for part in text.split():
        if part == ANY:
            slots.append(None)
            continue
        options = set()
        for option in part.split("|"):
            if option == NUMBER:
                options.add(NUMBER)
                continue
            tokens = tokenize(option)
            if len(tokens) != 1:
                raise RuleError(f"{where}: {option!r} in {text!r} is {len(tokens)} tokens after normalization "
                                f"({tokens}); write one pattern element per token")
            options.add(tokens[0])
        slots.append(frozenset(options))
    return Cue(text, tuple(slots))


NETWORK_MODEL_KEYS = {"description", "labels", "predicates", "query"}
PREDICATE_STATES = ("true", "false")


@dataclass(frozen=True)
class NetworkEvidence:
    """The ``"model"`` section of a network file: which variables a prediction is evidence for.

    ``labels`` names a variable whose states are the classifier's labels: its probabilities enter as
    soft evidence. ``predicates`` maps predicate names to binary variables with states ``"true"`` and
    ``"false"``: a score s enters as the likelihood {true: s, false: 1 - s}. ``query`` lists the
    variables whose posteriors a prediction reports (default: every variable without evidence).
    """

    labels: str | None
    predicates: dict[str, str]
    query: tuple[str, ...] | None
    description: str | None = None

    @classmethod
    def from_dict(cls, data: object, variables: Mapping[str, Sequence[str]]) -> NetworkEvidence:
        """Parse and check against the network's ``variables`` (name -> states); errors start with ``model``."""
        if not isinstance(data, Mapping):
            raise BayesError(f"model: expected an object, got {type(data).__name__}")
        unknown = sorted(set(data) - NETWORK_MODEL_KEYS)
        if unknown:
            raise BayesError(f"model: unknown key(s) {unknown}; expected {sorted(NETWORK_MODEL_KEYS)}")

        def known(name: object, where: str) -> str:
            if not isinstance(name, str) or name not in variables:
                raise BayesError(f"{where}: {name!r} is not a variable of the network (it has {list(variables)})")
            return name

        labels = known(data["labels"], "model.labels") if data.get("labels") is not None else None
        raw = data.get("predicates", {})
        if not isinstance(raw, Mapping):
            raise BayesError("model.predicates: expected an object mapping predicate names to variables")
        predicates = {}
        for name, variable in raw.items():
            where = f"model.predicates.{name}"
            known(variable, where)
            if sorted(variables[variable]) != sorted(PREDICATE_STATES):
                raise BayesError(f"{where}: variable {variable!r} has states {list(variables[variable])}; a "
                                 f"predicate's variable needs exactly the states {list(PREDICATE_STATES)}")
            predicates[str(name)] = variable
        query = data.get("query")
        if query is not None:
            if not isinstance(query, list) or not query:
                raise BayesError("model.query: expected a non-empty list of variable names")
            query = tuple(known(q, f"model.query[{i}]") for i, q in enumerate(query))
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            raise BayesError("model.description: must be a string")
        return cls(labels, predicates, query, description)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.description is not None:
            data["description"] = self.description
        if self.labels is not None:
            data["labels"] = self.labels
        if self.predicates:
            data["predicates"] = dict(self.predicates)
        if self.query is not None:
            data["query"] = list(self.query)
        return data

    def evidence(self, probabilities: Mapping[str, float],
                 scores: Mapping[str, float] | None = None) -> dict[str, dict[str, float]]:
        """Soft evidence from one prediction: label probabilities and predicate scores as likelihoods."""
        evidence: dict[str, dict[str, float]] = {}
        if self.labels is not None:
            evidence[self.labels] = dict(probabilities)
        for name, variable in self.predicates.items():
            if scores is not None and name in scores:
                score = float(scores[name])
                evidence[variable] = {"true": score, "false": 1.0 - score}
        return evidence


def predicate_metrics(scores: np.ndarray, labels: np.ndarray, names: Sequence[str],
                      threshold: float = DEFAULT_THRESHOLD) -> dict[str, dict[str, float]]:
    """Per predicate (and ``micro`` over all): precision, recall, F1 of ``scores >= threshold``
    against binary ``labels`` [N, P], with each predicate's support (positive labels)."""
    predicted = np.asarray(scores) >= threshold
    truth = np.asarray(labels) >= 0.5
    report = {}
    columns = [(name, predicted[:, j], truth[:, j]) for j, name in enumerate(names)]
    for name, guess, gold in [*columns, ("micro", predicted.ravel(), truth.ravel())]:
        hits = float(np.sum(guess & gold))
        precision = hits / max(float(guess.sum()), 1.0)
        recall = hits / max(float(gold.sum()), 1.0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(gold.sum())}
    return report
