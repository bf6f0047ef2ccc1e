"""Host post-processors (docs/design.md, the one pipeline): a prediction -> facts -> rules; -> evidence -> network.

A bundle may carry ``rules.json`` and ``network.json`` (manifest field ``reasoning``, checksummed with
every other file; ``docs/bundle.md``). For each text the runtime then:

1. turns the prediction into transient facts, as the rules file's ``model`` section says: the
   predicted label (``intent(u, GetWeather)``), ``uncertain(u)`` below its confidence bar, and one
   fact per predicate whose score from the graph's ``predicates`` output is at or above the threshold;
2. forward-chains the rules over them (``SymbolicRuleEngine.query``: nothing leaks between texts) and
   keeps every derived fact with the rule and premises that derived it (its proof);
3. gives the network the classifier's probabilities (and the predicate scores it binds) as soft
   evidence and keeps the exact posteriors of its query variables.

Everything here reads numpy arrays the backend returned, so the result is the same whichever format
ran the graph. Torch-free, like the rest of the runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurolite_sdk.reasoning import BayesError, BayesianBeliefNetwork, RuleError, SymbolicRuleEngine
from neurolite_sdk.reasoning.model_facts import ModelFacts, check_threshold
from neurolite_sdk.runtime.bundle import Bundle
from neurolite_sdk.runtime.errors import BundleError, PredictionInputError


@dataclass(frozen=True)
class Reasoning:
    """What the post-processors made of one prediction.

    ``facts``: the transient facts the prediction became. ``derived``: each fact the rules derived,
    in derivation order, as ``{"fact", "rule", "rule_text", "premises": [{"fact", "source"}], "absent"}``
    (``InferenceResult.to_dict``): a premise marked "derived" has its own entry earlier, so the list is
    the proof of every fact. ``posteriors``: ``BeliefResult.to_dict()`` of the network, or None.
    """

    facts: list[str]
    derived: list[dict[str, Any]] | None
    posteriors: dict[str, Any] | None


class PostProcessor:
    """The rule engine and/or network of one bundle, checked against its labels and predicate outputs."""

    def __init__(self, labels: Sequence[str], predicates: Sequence[str] = (),
                 engine: SymbolicRuleEngine | None = None, network: BayesianBeliefNetwork | None = None) -> None:
        self.labels = tuple(labels)
        self.predicates = tuple(predicates)
        self.engine = engine
        self.network = network
        self.model_facts: ModelFacts | None = None
        if engine is not None:
            self.model_facts = _check_rules(engine, self.predicates)
        if network is not None:
            _check_network(network, self.labels, self.predicates)

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> PostProcessor | None:
        """The bundle's post-processors, or None when it carries no rules and no network.

        A file that does not load, or does not fit the graph's labels and predicate outputs, is a
        ``BundleError`` naming the file.
        """
        if not bundle.reasoning:
            return None
        predicates = tuple(bundle.manifest.get("config", {}).get("symbolic_predicates", []))
        engine = network = None
        for key, name in bundle.reasoning.items():
            path = bundle.path / name
            try:
                document = _json_document(bundle.read(name), path)  # the verified bytes, not the file again
                if key == "rules":
                    engine = SymbolicRuleEngine.from_dict(document, source=str(path))
                    _check_rules(engine, predicates)
                else:
                    network = BayesianBeliefNetwork.from_dict(document, source=str(path))
                    _check_network(network, bundle.labels, predicates)
            except (RuleError, BayesError) as exc:
                message = str(exc)
                raise BundleError(message if message.startswith(str(path)) else f"{path}: {message}") from exc
        return cls(bundle.labels, predicates, engine, network)

    def threshold(self, value: float | None) -> float | None:
        """``value`` checked (a number in [0, 1]), or the rules file's own threshold when None."""
        if value is None:
            return self.model_facts.threshold if self.model_facts is not None else None
        try:
            return check_threshold(value, "threshold")
        except RuleError as exc:
            raise PredictionInputError(str(exc)) from None

    def __call__(self, label: str, probabilities: Mapping[str, float], scores: np.ndarray | None,
                 threshold: float | None = None) -> Reasoning:
        """Reason about one prediction: ``label``, its ``probabilities`` and predicate ``scores`` [P]."""
        cut = self.threshold(threshold)
        facts: list[str] = []
        derived = posteriors = None
        if self.model_facts is not None:
            transient = self.model_facts.facts(label, probabilities[label], scores, cut)
            facts = [str(f) for f in transient]
            derived = self.engine.query(transient).to_dict()["derived"]
        if self.network is not None:
            binding = self.network.model
            named = None if scores is None else dict(zip(self.predicates, map(float, scores), strict=True))
            evidence = binding.evidence(probabilities, named) if binding is not None else {}
            query = binding.query if binding is not None else None
            posteriors = self.network.infer(query, evidence).to_dict()
        return Reasoning(facts, derived, posteriors)


def _json_document(data: bytes, path: object) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BundleError(f"{path}: not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise BundleError(f"{path}: JSON nested too deeply") from None


def _check_rules(engine: SymbolicRuleEngine, predicates: Sequence[str]) -> ModelFacts:
    """The rules' model section, which must exist and declare exactly the graph's predicate outputs."""
    if engine.model_facts is None:
        raise RuleError("the rules file has no 'model' section, so no prediction can become a fact")
    engine.model_facts.check_vocabulary(predicates, "model.predicates")
    return engine.model_facts


def _check_network(network: BayesianBeliefNetwork, labels: Sequence[str], predicates: Sequence[str]) -> None:
    """A network's model binding must name the classifier's labels and predicates the graph scores."""
    binding = network.model
    if binding is None:
        return
    if binding.labels is not None and set(network.states(binding.labels)) != set(labels):
        raise BayesError(f"model.labels: variable {binding.labels!r} has states "
                         f"{list(network.states(binding.labels))}, the classifier's labels are {list(labels)}")
    unknown = sorted(set(binding.predicates) - set(predicates))
    if unknown:
        raise BayesError(f"model.predicates: {unknown} are not predicates the model scores "
                         f"({list(predicates) or 'it scores none'})")
