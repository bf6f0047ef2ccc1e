"""``neurolite reason`` and ``neurolite infer``: the reasoning post-processors without a model.

``reason`` forward-chains a rules file plus facts given on the command line and shows each derived
fact with its proof; ``infer`` prints posteriors of a Bayesian network given hard and soft evidence.
Both print JSON with ``--json``. Bad input (a file, a fact, a rule, a network, evidence) is one line
and exit code 1 (2 for malformed options), never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import click
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from neurolite_sdk.cli.common import console, echo_json, printable, shown, user_errors
from neurolite_sdk.reasoning import BayesianBeliefNetwork, InferenceLimitError, SymbolicRuleEngine
from neurolite_sdk.reasoning.bayes import DEFAULT_SAMPLES
from neurolite_sdk.reasoning.rules import DEFAULT_MAX_DERIVED_FACTS, DEFAULT_MAX_ITERATIONS


def _derivation(entry: dict[str, Any]) -> Tree:
    """One step of the proof DAG: the fact, the rule that derived it, its premises and absent facts.

    Facts are printed in derivation order, so a premise marked "derived" was shown above with its
    own step; read upwards, the steps are the full proof, without repeating shared sub-proofs.
    """
    tree = Tree(Text(printable(entry["fact"]), style="bold").append(
        f"  by rules[{entry['rule']}]: {printable(entry['rule_text'])}", style="dim"))
    for premise in entry["premises"]:
        tree.add(Text(printable(premise["fact"])).append(f"  ({premise['source']})", style="dim"))
    for fact in entry["absent"]:
        tree.add(Text(f"NOT {printable(fact)}", style="italic").append("  (not derivable)", style="dim"))
    return tree


@click.command()
@click.argument("rules_path", metavar="RULES.json", type=click.Path(path_type=Path))
@click.option("--facts", "facts", multiple=True, metavar="FACT",
              help="A transient fact for this run only, e.g. 'intent(u1, GetWeather)'. Repeatable.")
@click.option("--max-iterations", type=click.IntRange(min=1), default=DEFAULT_MAX_ITERATIONS, show_default=True,
              help="Rounds one stratum may take before the run stops (a bound against runaway recursion).")
@click.option("--max-derived-facts", type=click.IntRange(min=1), default=DEFAULT_MAX_DERIVED_FACTS,
              show_default=True, help="Facts the run may derive before it stops.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def reason_command(rules_path: Path, facts: tuple[str, ...], max_iterations: int, max_derived_facts: int,
                   as_json: bool) -> None:
    """Forward-chain RULES.json plus --facts to a fixpoint; print each derived fact with its proof.

    Each derived fact is shown with the rule and premises that derived it, in derivation order. A premise
    whose predicate no fact, rule or model template defines (a typo, usually) gets a warning on stderr.
    """
    with user_errors():
        engine = SymbolicRuleEngine.from_json(rules_path, max_iterations=max_iterations,
                                              max_derived_facts=max_derived_facts)
        for predicate, rules in engine.undefined_premises(facts).items():
            used = ", ".join(f"rules[{rule.index}]" for rule in rules)
            click.echo(f"warning: {printable(str(rules_path))}: predicate {predicate!r} ({used}) is defined by no "
                       f"fact, rule or model template: a premise on it never holds (NOT on it always holds)", err=True)
        try:
            report = engine.query(facts).to_dict()
        except InferenceLimitError as exc:
            raise InferenceLimitError(f"{rules_path}: {exc} (--max-iterations, --max-derived-facts)") from exc
    if as_json:
        echo_json(report)
        return
    for entry in report["derived"]:
        console.print(_derivation(entry))
    console.print(f"{len(report['derived'])} fact(s) derived in {report['iterations']} round(s)")


def _split(option: str, text: str) -> tuple[str, str]:
    variable, sep, value = text.partition("=")
    if not sep or not variable.strip() or not value.strip():
        raise click.BadParameter(f"expected VAR=VALUE, got {text!r}", param_hint=option)
    return variable.strip(), value.strip()


def _soft(text: str) -> tuple[str, dict[str, float]]:
    """``'Intent=GetWeather:0.8,PlayMusic:0.2'`` -> ``('Intent', {'GetWeather': 0.8, 'PlayMusic': 0.2})``."""
    variable, spec = _split("--soft", text)
    likelihood: dict[str, float] = {}
    for item in spec.split(","):
        state, sep, weight = item.rpartition(":")
        try:
            value = float(weight)
        except ValueError:
            value = None
        if not sep or not state.strip() or value is None:
            raise click.BadParameter(f"expected VAR=STATE:LIKELIHOOD,STATE:LIKELIHOOD..., got {text!r}",
                                     param_hint="--soft")
        likelihood[state.strip()] = value
    return variable, likelihood


@click.command()
@click.argument("network_path", metavar="BN.json", type=click.Path(path_type=Path))
@click.option("--evidence", multiple=True, metavar="VAR=STATE", help="Hard evidence. Repeatable.")
@click.option("--soft", multiple=True, metavar="VAR=S1:L1,S2:L2",
              help="Soft (virtual) evidence: a likelihood per state, e.g. a classifier's probabilities. "
                   "Repeatable.")
@click.option("--query", "queries", multiple=True, metavar="VAR",
              help="A variable to report. Repeatable; default: every variable without hard evidence.")
@click.option("--method", type=click.Choice(["exact", "lw"]), default="exact", show_default=True,
              help="Variable elimination, or likelihood weighting.")
@click.option("--samples", type=click.IntRange(min=1), default=DEFAULT_SAMPLES, show_default=True,
              help="Samples for likelihood weighting.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for likelihood weighting.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def infer_command(network_path: Path, evidence: tuple[str, ...], soft: tuple[str, ...],
                  queries: tuple[str, ...], method: Literal["exact", "lw"], samples: int, seed: int,
                  as_json: bool) -> None:
    """Posterior marginals of a Bayesian network (BN.json) given hard and soft evidence."""
    observed: dict[str, str | dict[str, float]] = {}
    for variable, value in [_split("--evidence", e) for e in evidence] + [_soft(s) for s in soft]:
        if variable in observed:
            raise click.BadParameter(f"two pieces of evidence for {variable!r}",
                                     param_hint="--evidence/--soft")
        observed[variable] = value
    with user_errors():
        network = BayesianBeliefNetwork.from_json(network_path)
        result = network.infer(list(queries) or None, observed, method=method, samples=samples, seed=seed)
    if as_json:
        report = {"network": str(network_path), "evidence": observed, **result.to_dict()}
        echo_json(report)
        return
    how = "likelihood weighting" if method == "lw" else "variable elimination"
    table = Table(title=f"{shown(str(network.name or network_path))}: posteriors by {how}")
    for column in ("variable", "state", "probability", ""):
        table.add_column(column, justify="right" if column == "probability" else "left")
    for variable, posterior in result.posteriors.items():
        for i, (state, probability) in enumerate(posterior.items()):
            bar = "█" * round(probability * 30)
            table.add_row(shown(variable) if i == 0 else "", shown(state), f"{probability:.4f}", bar)
    console.print(table)
    if result.effective_sample_size is not None:
        console.print(f"{result.samples} samples, effective sample size {result.effective_sample_size:.0f}")
