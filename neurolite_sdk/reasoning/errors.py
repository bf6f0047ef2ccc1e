"""The reasoning package's error types: bad rules, facts, networks or evidence.

Both are ``NeuroLiteError`` (a ``ValueError``), so the CLI reports them as one line. Messages name
what is wrong and where: the file, line and column of malformed JSON, the rule's index and text, the
variable whose CPT is bad, the cycle that makes a rule set unstratifiable or a network cyclic.
"""

from __future__ import annotations

from neurolite_sdk.errors import NeuroLiteError


class RuleError(NeuroLiteError):
    """A fact, rule or rule set the ``SymbolicRuleEngine`` cannot accept."""


class InferenceLimitError(RuleError):
    """Forward chaining hit ``max_iterations`` or ``max_derived_facts`` before its fixpoint."""


class BayesError(NeuroLiteError):
    """A network, CPT, data set or evidence the ``BayesianBeliefNetwork`` cannot accept."""
