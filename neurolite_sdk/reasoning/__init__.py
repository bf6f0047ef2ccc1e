"""Host-side reasoning post-processors, numpy only: a rule engine and a Bayesian network.

``SymbolicRuleEngine`` forward-chains Datalog rules with stratified negation over the facts a model
extracted (``rules.json``, documented by ``rules.schema.json``) and explains each conclusion.
``BayesianBeliefNetwork`` computes posteriors given hard or soft evidence, exactly or by likelihood
weighting (network JSON documented by ``bayes.schema.json``). Bad input raises ``RuleError`` or
``BayesError``, both ``ValueError``s with messages that say what and where.
"""

from neurolite_sdk.reasoning.bayes import BayesianBeliefNetwork, BeliefResult, Evidence
from neurolite_sdk.reasoning.errors import BayesError, InferenceLimitError, RuleError
from neurolite_sdk.reasoning.logic_parser import Fact, parse_fact
from neurolite_sdk.reasoning.program import Rule
from neurolite_sdk.reasoning.rules import InferenceResult, Proof, SymbolicRuleEngine

__all__ = [
    "BayesError",
    "BayesianBeliefNetwork",
    "BeliefResult",
    "Evidence",
    "Fact",
    "InferenceLimitError",
    "InferenceResult",
    "Proof",
    "Rule",
    "RuleError",
    "SymbolicRuleEngine",
    "parse_fact",
]
