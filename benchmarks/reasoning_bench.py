"""Benchmark the reasoning post-processors against the issue's targets.

(a) Rule engine: a 10,000-fact, 50-rule program (ten families of transitive closure over chains of 40
    edges, each with negation: roots are nodes without a parent) run to its fixpoint, semi-naive and
    naive. Targets: semi-naive under 1 s, and at least 5x faster than naive.
(b) Likelihood weighting: 10,000 samples on a 15-variable network with mixed cardinalities, hard and
    soft evidence (target: median under 50 ms), and max |posterior - exact| on the Asia and Sprinkler
    networks with 10,000 samples (target: <= 0.02).

Run: ``.venv/bin/python benchmarks/reasoning_bench.py`` (``--quick`` for fewer repeats). It prints
medians, p90 where repeats allow, versions, the thread setting and the ratio of each figure to its
target (a ratio <= 1 meets a "less than" target; >= 1 meets an "at least" target).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk import __version__
from neurolite_sdk.reasoning import BayesianBeliefNetwork, SymbolicRuleEngine

ROOT = Path(__file__).resolve().parents[1]
FAMILIES, CHAIN_LENGTH = 10, 40


def closure_program() -> tuple[list[dict[str, Any]], list[str]]:
    """10 families x 25 chains x 40 edges = 10,000 facts; 10 families x 5 rules = 50 rules."""
    rules: list[dict[str, Any]] = []
    facts: list[str] = []
    for k in range(FAMILIES):
        rules += [
            {"premises": [f"e{k}(?x, ?y)"], "conclusion": f"tc{k}(?x, ?y)"},
            {"premises": [f"e{k}(?x, ?y)", f"tc{k}(?y, ?z)"], "conclusion": f"tc{k}(?x, ?z)"},
            {"premises": [f"e{k}(?x, ?y)"], "conclusion": f"has_parent{k}(?y)"},
            {"premises": [f"e{k}(?x, ?y)", f"NOT has_parent{k}(?x)"], "conclusion": f"root{k}(?x)"},
            {"premises": [f"root{k}(?r)", f"tc{k}(?r, ?y)"], "conclusion": f"from_root{k}(?r, ?y)"},
        ]
        for chain in range(1000 // CHAIN_LENGTH):
            facts += [f"e{k}(c{chain}n{i}, c{chain}n{i + 1})" for i in range(CHAIN_LENGTH)]
    return rules, facts


def random_network(size: int = 15, seed: int = 0) -> BayesianBeliefNetwork:
    """A random DAG over ``size`` variables with 2-4 states and up to 3 parents, Dirichlet(1) CPTs."""
    rng = np.random.default_rng(seed)
    cards = rng.integers(2, 5, size=size)
    variables = []
    for i in range(size):
        count = min(i, int(rng.integers(0, 4)))
        parents = sorted(rng.choice(i, size=count, replace=False).tolist()) if i else []
        variables.append({"name": f"x{i}", "states": [f"s{j}" for j in range(cards[i])],
                          "parents": [f"x{p}" for p in parents],
                          "cpt": rng.dirichlet(np.ones(cards[i]), size=[cards[p] for p in parents]).tolist()})
    return BayesianBeliefNetwork(variables)


def timed(run: Callable[[], Any], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float], unit: float = 1.0, suffix: str = "s") -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f"median {statistics.median(times) / unit:.4g} {suffix}, p90 {p90 / unit:.4g} {suffix} "
            f"({len(times)} runs)")


def max_error(net: BayesianBeliefNetwork, evidence: dict[str, Any], samples: int, seed: int) -> float:
    exact = net.infer(evidence=evidence).posteriors
    sampled = net.infer(evidence=evidence, method="lw", samples=samples, seed=seed).posteriors
    return max(abs(sampled[v][s] - p) for v in exact for s, p in exact[v].items())


def bench_rules(repeats: int) -> None:
    rules, facts = closure_program()
    semi = SymbolicRuleEngine(rules, facts)
    naive = SymbolicRuleEngine(rules, facts, strategy="naive")
    result = semi.query()
    assert set(result.derived) == set(naive.query().derived), "semi-naive and naive disagree"
    print(f"(a) rule engine: {len(facts)} facts, {len(rules)} rules, {len(result.derived)} derived facts, "
          f"{result.iterations} rounds")
    semi_times = timed(semi.query, repeats)
    naive_times = timed(naive.query, max(1, repeats // 2))
    semi_median, naive_median = statistics.median(semi_times), statistics.median(naive_times)
    print(f"    semi-naive fixpoint: {summary(semi_times)}  -> {semi_median / 1.0:.2f} of the 1 s target")
    print(f"    naive fixpoint:      {summary(naive_times)}")
    speedup = naive_median / semi_median
    print(f"    naive / semi-naive:  {speedup:.1f}x  -> {speedup / 5:.2f} of the 5x target")


def bench_lw(repeats: int) -> None:
    net = random_network()
    evidence: dict[str, Any] = {"x14": "s0", "x11": "s1", "x9": {"s0": 0.8, "s1": 0.2}}
    net.infer(evidence=evidence, method="lw", samples=10_000, seed=0)  # warm-up
    times = timed(lambda: net.infer(evidence=evidence, method="lw", samples=10_000, seed=0), repeats)
    exact_times = timed(lambda: net.infer(evidence=evidence), max(1, repeats // 4))
    median = statistics.median(times)
    print("(b) likelihood weighting, 10,000 samples, 15 variables (2-4 states), 2 hard + 1 soft evidence:")
    print(f"    {summary(times, 1e-3, 'ms')}  -> {median / 0.050:.2f} of the 50 ms target")
    print(f"    exact (variable elimination) on the same query: {summary(exact_times, 1e-3, 'ms')}")
    ess = net.infer(evidence=evidence, method="lw", samples=10_000, seed=0).effective_sample_size
    print(f"    max |lw - exact| on it: {max_error(net, evidence, 10_000, 0):.4f} "
          f"(effective sample size {ess:.0f} of 10,000; the error scales as 1/sqrt(ESS))")
    cases = {"asia": [{"xray": "yes", "dysp": "yes"}, {"dysp": "yes", "smoke": {"yes": 0.9, "no": 0.3}},
                      {"asia": "yes", "smoke": "no"}],
             "sprinkler": [{"WetGrass": "true"}, {"WetGrass": {"true": 0.8, "false": 0.2}},
                           {"WetGrass": "true", "Sprinkler": "false"}]}
    worst = 0.0
    for name, evidences in cases.items():
        network = BayesianBeliefNetwork.from_json(ROOT / "examples" / "networks" / f"{name}.json")
        for evidence in evidences:
            error = max_error(network, evidence, 10_000, 0)
            worst = max(worst, error)
            print(f"    {name} {evidence}: max |lw - exact| = {error:.4f}")
    print(f"    worst over the test networks: {worst:.4f}  -> {worst / 0.02:.2f} of the 0.02 target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    print(f"neurolite-sdk {__version__}, Python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, {len(os.sched_getaffinity(0))} usable cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    bench_rules(3 if args.quick else 7)
    bench_lw(11 if args.quick else 41)


if __name__ == "__main__":
    main()
