"""BayesianBeliefNetwork: exact inference against pgmpy, likelihood weighting against exact, soft
evidence against a virtual child, CPT learning, and every kind of bad input."""

from __future__ import annotations

import copy
import functools
import json
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from test_rules import schema_errors

from neurolite_sdk.reasoning import BayesError, BayesianBeliefNetwork

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = ROOT / "examples" / "networks"
SCHEMA = json.loads((ROOT / "neurolite_sdk" / "reasoning" / "bayes.schema.json").read_text(encoding="utf-8"))


def load(name: str) -> dict[str, Any]:
    return json.loads((NETWORKS / f"{name}.json").read_text(encoding="utf-8"))


def multi_valued() -> BayesianBeliefNetwork:
    """Three- and four-state variables, a v-structure and random CPTs (seeded)."""
    rng = np.random.default_rng(7)
    spec = [("Season", ["winter", "spring", "summer", "autumn"], []),
            ("Weather", ["sunny", "cloudy", "rainy"], ["Season"]),
            ("Intent", ["GetWeather", "PlayMusic", "BookRestaurant"], []),
            ("Mood", ["happy", "neutral", "sad"], ["Weather", "Intent"]),
            ("Umbrella", ["yes", "no"], ["Weather"]),
            ("Reply", ["short", "long"], ["Mood", "Intent"])]
    cards = {name: len(states) for name, states, _ in spec}
    return BayesianBeliefNetwork([
        {"name": name, "states": states, "parents": parents,
         "cpt": rng.dirichlet(np.ones(len(states)), size=[cards[p] for p in parents]).tolist()}
        for name, states, parents in spec])


NETS = {"asia": lambda: BayesianBeliefNetwork.from_dict(load("asia")),
        "sprinkler": lambda: BayesianBeliefNetwork.from_dict(load("sprinkler")),
        "multi": multi_valued}
CASES = [("asia", {}), ("asia", {"xray": "yes", "dysp": "yes"}), ("asia", {"asia": "yes", "smoke": "no"}),
         ("asia", {"either": "yes", "bronc": "no"}),
         ("asia", {"dysp": "yes", "smoke": {"yes": 0.9, "no": 0.3}}),
         ("sprinkler", {}), ("sprinkler", {"WetGrass": "true"}),
         ("sprinkler", {"WetGrass": "true", "Sprinkler": "false"}),
         ("multi", {"Reply": "long"}),
         ("multi", {"Umbrella": "yes", "Intent": {"GetWeather": 0.7, "PlayMusic": 0.2}})]


def with_virtual_children(net: BayesianBeliefNetwork,
                          evidence: dict[str, Any]) -> tuple[BayesianBeliefNetwork, dict[str, str]]:
    """Soft evidence on X as a new binary child of X observed 'seen', P(seen | X=s) = likelihood(s) / max."""
    data, hard = net.to_dict(), {}
    for variable, value in evidence.items():
        if isinstance(value, str):
            hard[variable] = value
            continue
        top = max(value.values())
        likelihood = [value.get(s, 0.0) / top for s in net.states(variable)]
        data["variables"].append({"name": f"seen_{variable}", "states": ["seen", "unseen"],
                                  "parents": [variable], "cpt": [[p, 1 - p] for p in likelihood]})
        hard[f"seen_{variable}"] = "seen"
    return BayesianBeliefNetwork.from_dict(data), hard


@functools.cache
def pgmpy() -> SimpleNamespace:
    """pgmpy is a test-only dependency, imported on first use (it takes seconds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pgmpy 1.1 warns about its own modules on import
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.inference import VariableElimination
        from pgmpy.models import DiscreteBayesianNetwork
    return SimpleNamespace(TabularCPD=TabularCPD, VariableElimination=VariableElimination,
                           DiscreteBayesianNetwork=DiscreteBayesianNetwork)


def to_pgmpy(net: BayesianBeliefNetwork) -> Any:
    model = pgmpy().DiscreteBayesianNetwork()
    model.add_nodes_from(net.variables)
    model.add_edges_from([(p, v) for v in net.variables for p in net.parents(v)])
    for v in net.variables:
        cpt, parents = net.cpt(v), list(net.parents(v))
        model.add_cpds(pgmpy().TabularCPD(v, cpt.shape[-1], cpt.reshape(-1, cpt.shape[-1]).T,
                                  evidence=parents or None,
                                  evidence_card=[len(net.states(p)) for p in parents] or None,
                                  state_names={u: list(net.states(u)) for u in [v, *parents]}))
    model.check_model()
    return model


@pytest.mark.parametrize("name, evidence", CASES)
def test_exact_inference_matches_pgmpy(name: str, evidence: dict[str, Any]) -> None:
    net = NETS[name]()
    ours = net.infer(evidence=evidence).posteriors
    virtual, hard = with_virtual_children(net, evidence)
    engine = pgmpy().VariableElimination(to_pgmpy(virtual))
    for variable, posterior in ours.items():
        theirs = engine.query([variable], evidence=hard, show_progress=False)
        expected = dict(zip(theirs.state_names[variable], theirs.values, strict=True))
        assert posterior == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("name, evidence", CASES)
def test_likelihood_weighting_is_within_0_02_of_exact(name: str, evidence: dict[str, Any]) -> None:
    net = NETS[name]()
    exact = net.infer(evidence=evidence)
    sampled = net.infer(evidence=evidence, method="lw", samples=20_000, seed=0)
    assert sampled.posteriors.keys() == exact.posteriors.keys()
    for variable, posterior in exact.posteriors.items():
        for state, p in posterior.items():
            assert abs(sampled.posteriors[variable][state] - p) <= 0.02, (variable, state)
    assert 0 < sampled.effective_sample_size <= 20_000 and sampled.samples == 20_000


def test_soft_evidence_equals_a_virtual_child_in_both_methods() -> None:
    net = NETS["sprinkler"]()
    soft = {"WetGrass": {"true": 0.8, "false": 0.2}, "Cloudy": {"true": 0.4, "false": 0.1}}
    virtual, hard = with_virtual_children(net, soft)
    expected = virtual.infer(["Rain", "Sprinkler"], hard).posteriors
    exact = net.infer(["Rain", "Sprinkler"], soft).posteriors
    sampled = net.infer(["Rain", "Sprinkler"], soft, method="lw", samples=20_000, seed=1).posteriors
    rescaled = {"WetGrass": {"true": 8, "false": 2}, "Cloudy": {"true": 0.04, "false": 0.01}}
    scaled = net.infer(["Rain", "Sprinkler"], rescaled)
    for variable in expected:
        assert exact[variable] == pytest.approx(expected[variable], abs=1e-12)
        assert sampled[variable] == pytest.approx(expected[variable], abs=0.02)
        # Only ratios matter: a classifier's probabilities can be passed as they are.
        assert scaled.posteriors[variable] == pytest.approx(expected[variable], abs=1e-12)
    # A state left out has likelihood 0: the soft evidence then rules it out.
    assert net.infer("Cloudy", {"Cloudy": {"true": 0.3}}).posteriors["Cloudy"] == {"true": 1.0, "false": 0.0}


def test_sampling_is_seeded_and_reports_the_effective_sample_size() -> None:
    net = NETS["asia"]()
    first = net.infer(evidence={"xray": "yes"}, method="lw", samples=5000, seed=3)
    assert first == net.infer(evidence={"xray": "yes"}, method="lw", samples=5000, seed=3)
    assert first != net.infer(evidence={"xray": "yes"}, method="lw", samples=5000, seed=4)
    assert net.infer(method="lw", samples=500, seed=0).effective_sample_size == pytest.approx(500)
    assert first.to_dict()["effective_sample_size"] < 5000
    assert net.infer("xray", {"xray": "yes"}).posteriors == {"xray": {"yes": 1.0, "no": 0.0}}
    assert "asia" not in net.infer(evidence={"asia": "no"}).posteriors


def test_structure_from_the_config_fields() -> None:
    config = SimpleNamespace(num_bayesian_variables=15,
                             bayesian_network_structure=[[0, 1], [0, 2], [1, 3], [2, 3], [3, 4]])
    net = BayesianBeliefNetwork.from_config(config)
    assert net.variables == tuple(f"v{i}" for i in range(15)) and net.parents("v3") == ("v1", "v2")
    assert net.cpt("v3").shape == (2, 2, 2)
    assert net.infer("v3", {"v4": "1"}).posteriors == {"v3": {"0": 0.5, "1": 0.5}}


def test_cpts_are_learned_by_counting_with_a_dirichlet_prior() -> None:
    net = BayesianBeliefNetwork.from_structure(2, [(0, 1)])
    records = [{"v0": "0", "v1": "0"}] * 3 + [{"v0": "0", "v1": "1"}] + [{"v0": "1", "v1": "1"}] * 2
    learned = net.fit(records, alpha=1.0)
    np.testing.assert_allclose(learned.cpt("v0"), [5 / 8, 3 / 8])
    np.testing.assert_allclose(learned.cpt("v1"), [[4 / 6, 2 / 6], [1 / 4, 3 / 4]])
    assert net.cpt("v1").tolist() == [[0.5, 0.5], [0.5, 0.5]]  # fit returns a new network
    mle = net.fit(records[:4], alpha=0)
    np.testing.assert_allclose(mle.cpt("v1"), [[3 / 4, 1 / 4], [0.5, 0.5]])  # unseen parent state: uniform


def test_learning_recovers_the_cpts_that_generated_the_data() -> None:
    truth = NETS["sprinkler"]()
    rng = np.random.default_rng(0)
    drawn: dict[str, np.ndarray] = {}
    for v in truth.variables:  # binary variables, parents listed first: ancestral sampling in file order
        p_first = truth.cpt(v)[tuple(drawn[p] for p in truth.parents(v))][..., 0]
        drawn[v] = (rng.random(20_000) >= p_first).astype(int)
    records = [{v: truth.states(v)[drawn[v][i]] for v in truth.variables} for i in range(20_000)]
    blank = BayesianBeliefNetwork([{k: v for k, v in entry.items() if k != "cpt"}
                                   for entry in truth.to_dict()["variables"]])
    learned = blank.fit(records, alpha=1.0)
    for v in truth.variables:
        np.testing.assert_allclose(learned.cpt(v), truth.cpt(v), atol=0.02)
    again = BayesianBeliefNetwork.from_dict(json.loads(json.dumps(learned.to_dict())))
    assert again.infer(evidence={"WetGrass": "true"}) == learned.infer(evidence={"WetGrass": "true"})


def test_exact_inference_refuses_a_factor_above_the_bound() -> None:
    parents = [f"p{i}" for i in range(14)]
    net = BayesianBeliefNetwork([{"name": p, "states": ["0", "1"]} for p in parents]
                                + [{"name": "child", "states": ["0", "1"], "parents": parents}])
    with pytest.raises(BayesError, match=r"factor of 16384 entries .* max_factor_size=10000.*method='lw'"):
        net.infer("p0", {"child": "1"}, max_factor_size=10_000)
    assert net.infer("p0", {"child": "1"}, method="lw", samples=1000, seed=0).posteriors["p0"]["0"] > 0.4


# -- bad input -----------------------------------------------------------------------------------------

def edited(network: str, variable: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(load(network))
    for entry in data["variables"]:
        if entry["name"] == variable:
            entry.update(changes)
    return data


@pytest.mark.parametrize("data, message", [
    (edited("sprinkler", "Cloudy", parents=["WetGrass"], cpt=[[0.5, 0.5], [0.5, 0.5]]),
     "the network has a cycle: Cloudy -> Sprinkler -> WetGrass -> Cloudy"),
    (edited("sprinkler", "Sprinkler", cpt=[[0.1, 0.8], [0.5, 0.5]]),
     "variable 'Sprinkler': the CPT row for Cloudy=true sums to 0.9, not 1"),
    (edited("sprinkler", "Cloudy", cpt=[0.4, 0.4]), "variable 'Cloudy': the CPT sums to 0.8, not 1"),
    (edited("sprinkler", "Rain", cpt=[0.5, 0.5]),
     r"variable 'Rain': the CPT has shape \[2\], expected \[2, 2\]"),
    (edited("sprinkler", "Rain", cpt=[[1.2, -0.2], [0.5, 0.5]]),
     "variable 'Rain': CPT entries must be finite"),
    (edited("sprinkler", "Rain", cpt=[["a", "b"], [0.5, 0.5]]),
     "variable 'Rain': the CPT must be nested lists"),
    (edited("sprinkler", "Rain", parents=["Sun"]), "variable 'Rain': unknown parent 'Sun'"),
    (edited("sprinkler", "Sprinkler", **{"name": "Rain"}),
     r"variables\[2\]: variable name 'Rain' is used twice"),
    (edited("sprinkler", "Rain", states=["true"]),
     r"variables\[2\] \('Rain'\): 'states' must be a list of at"),
    (edited("sprinkler", "Rain", states=["a", "a"]), "at least two distinct strings"),
    (edited("sprinkler", "Rain", prior=1), r"variables\[2\] \('Rain'\): unknown key\(s\) \['prior'\]"),
    ({"variables": []}, "'variables' must be a non-empty list"),
    ({"nodes": []}, r"unknown key\(s\) \['nodes'\]"),
    ([1], "expected a JSON object"),
])
def test_bad_networks_are_refused_naming_the_variable(data: Any, message: str) -> None:
    with pytest.raises(BayesError, match=message):
        BayesianBeliefNetwork.from_dict(data)


def test_bad_files_and_structures(tmp_path: Path) -> None:
    path = tmp_path / "bn.json"
    path.write_text('{"variables": [\n  {"name": "a", "states": ["x", "y"]},,\n]}', encoding="utf-8")
    with pytest.raises(BayesError, match=r"bn\.json: malformed JSON at line 2, column 39"):
        BayesianBeliefNetwork.from_json(path)
    with pytest.raises(BayesError, match="cannot read"):
        BayesianBeliefNetwork.from_json(tmp_path / "missing.json")
    with pytest.raises(BayesError, match="the network has a cycle: v0 -> v1 -> v0"):
        BayesianBeliefNetwork.from_structure(3, [(0, 1), (1, 0)])
    with pytest.raises(BayesError, match=r"structure\[1\]: expected a \[parent, child\] pair"):
        BayesianBeliefNetwork.from_structure(3, [(0, 1), (1, 3)])
    with pytest.raises(BayesError, match="self-loop"):
        BayesianBeliefNetwork.from_structure(3, [(2, 2)])
    with pytest.raises(BayesError, match="positive integer"):
        BayesianBeliefNetwork.from_structure(0, [])


@pytest.mark.parametrize("query, evidence, message", [
    (None, {"Smoker": "yes"}, "evidence for unknown variable 'Smoker'"),
    (None, {"Rain": "maybe"}, r"evidence Rain='maybe': unknown state; Rain has states \['true', 'false'\]"),
    (None, {"Rain": {"drizzle": 0.5}}, "soft evidence Rain='drizzle': unknown state"),
    (None, {"Rain": {"true": 0.0, "false": 0}}, "soft evidence on Rain: every likelihood is zero"),
    (None, {"Rain": {"true": -0.1}}, "likelihood must be a finite number >= 0"),
    (None, {"Rain": {"true": "high"}}, "likelihood must be a finite number >= 0"),
    (None, {"Rain": 1}, "expected a state name or a non-empty"),
    ("Snow", {}, "unknown variable 'Snow'"),
    (None, {"Sprinkler": "false", "Rain": "false", "WetGrass": "true"}, "the evidence has probability zero"),
])
def test_bad_evidence_is_refused(query: str | None, evidence: Any, message: str) -> None:
    with pytest.raises(BayesError, match=message):
        NETS["sprinkler"]().infer(query, evidence)


def test_impossible_evidence_and_bad_options_when_sampling() -> None:
    net = NETS["sprinkler"]()
    with pytest.raises(BayesError, match="every one of the 100 samples has weight zero"):
        net.infer(evidence={"Sprinkler": "false", "Rain": "false", "WetGrass": "true"}, method="lw",
                  samples=100)
    with pytest.raises(BayesError, match="samples must be a positive integer"):
        net.infer(method="lw", samples=0)
    with pytest.raises(BayesError, match="method must be one of"):
        net.infer(method="gibbs")  # type: ignore[arg-type]
    with pytest.raises(BayesError, match=r"records\[1\]: no value for \['WetGrass'\]"):
        net.fit([{"Cloudy": "true", "Sprinkler": "true", "Rain": "true", "WetGrass": "true"},
                 {"Cloudy": "true", "Sprinkler": "true", "Rain": "true"}])
    with pytest.raises(BayesError, match="alpha must be a non-negative number"):
        net.fit([], alpha=-1)


def test_the_network_schema_agrees_with_the_examples_and_the_loader() -> None:
    for document in (load("asia"), load("sprinkler"), multi_valued().to_dict(),
                     BayesianBeliefNetwork.from_structure(3, [(0, 1)]).to_dict()):
        assert schema_errors(document, SCHEMA) == []
        BayesianBeliefNetwork.from_dict(document)
    for bad in ({"variables": []}, {"variables": [{"name": "a", "states": ["x"]}]}, {"nodes": []},
                {"variables": [{"name": "a", "states": ["x", "y"], "cpt": [0.5, -0.5]}]},
                {"variables": [{"name": "a", "states": ["x", "y"], "parents": "b"}]}):
        assert schema_errors(bad, SCHEMA)
        with pytest.raises(BayesError):
            BayesianBeliefNetwork.from_dict(bad)
